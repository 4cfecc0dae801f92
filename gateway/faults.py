"""Named crash points for the restart tests: with ``SETTLE_GATEWAY_CRASH=NAME`` (or ``NAME@N`` for the N-th time
the point is reached) the process kills itself with SIGKILL right there — no cleanup, no flush, no ``finally``,
exactly what a power cut or the OOM killer does. Unset (always, outside tests) a crash point costs one dict
lookup.

Points (in flow order): ``listener.applied``, ``keeper.enqueued``, ``chaintx.signed``, ``chaintx.broadcast``,
``chaintx.mined``, ``chaintx.completed``, ``payments.recorded``, ``payments.file_written``,
``payments.files_committed``, ``bank.uploaded``, ``statements.imported``, ``statements.committed``.
"""

from __future__ import annotations

import os
import signal

ENV = "SETTLE_GATEWAY_CRASH"
POINTS = (
    "listener.applied",
    "keeper.enqueued",
    "chaintx.signed",
    "chaintx.broadcast",
    "chaintx.mined",
    "chaintx.completed",
    "payments.recorded",
    "payments.file_written",
    "payments.files_committed",
    "bank.uploaded",
    "statements.imported",
    "statements.committed",
)
_hits: dict[str, int] = {}


def crashpoint(name: str) -> None:
    """SIGKILL this process if ``SETTLE_GATEWAY_CRASH`` names this point (and its hit count is reached)."""
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    target, _, count = wanted.partition("@")
    if target != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)

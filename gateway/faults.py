"""The gateway's named crash points for the restart tests (``settle.faults``): with ``SETTLE_GATEWAY_CRASH=NAME``
(or ``NAME@N`` for the N-th time the point is reached) the process kills itself with SIGKILL right there.

Points (in flow order): ``listener.applied``, ``keeper.enqueued``, ``chaintx.signed``, ``chaintx.broadcast``,
``chaintx.mined``, ``chaintx.completed``, ``invoicing.numbered``, ``invoicing.files_written``,
``invoicing.committed``, ``payments.recorded``, ``payments.file_written``,
``payments.files_committed``, ``bank.uploaded``, ``statements.lines_stored``, ``reconcile.allocated``,
``statements.imported``, ``statements.committed``, ``notices.sent`` (an e-mail accepted by the SMTP server, its
notice not yet marked sent).
"""

from __future__ import annotations

from settle.faults import CrashPoints

ENV = "SETTLE_GATEWAY_CRASH"
POINTS = (
    "listener.applied",
    "keeper.enqueued",
    "chaintx.signed",
    "chaintx.broadcast",
    "chaintx.mined",
    "chaintx.completed",
    "invoicing.numbered",
    "invoicing.files_written",
    "invoicing.committed",
    "payments.recorded",
    "payments.file_written",
    "payments.files_committed",
    "bank.uploaded",
    "statements.lines_stored",
    "reconcile.allocated",
    "statements.imported",
    "statements.committed",
    "notices.sent",
)
crashpoint = CrashPoints(ENV, POINTS).hit

"""Named crash points for the crash tests of the long-running parts (gateway, oracle).

A part lists its points once (``CrashPoints("SETTLE_GATEWAY_CRASH", (...))``) and calls :meth:`CrashPoints.hit`
at each. With the variable set to ``NAME`` (or ``NAME@N``: the N-th time the point is reached) the process kills
itself with SIGKILL right there: no cleanup, no flush, no ``finally``, exactly what a power cut or the OOM killer
does. Unset (always, outside tests) a hit costs one lookup. The variable is read at every hit, not through the
settings loader: a test's forked child arms a point after everything is imported.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence


class CrashPoints:
    """The crash points of one part, armed by the environment variable ``env``."""

    def __init__(self, env: str, points: Sequence[str]):
        self.env = env
        self.points = tuple(points)
        self._hits: dict[str, int] = {}

    def hit(self, name: str) -> None:
        """SIGKILL this process if ``env`` names this point and its hit count is reached."""
        wanted = os.environ.get(self.env)
        if not wanted:
            return
        if name not in self.points:
            raise ValueError(f"crash point {name!r} is not one of {', '.join(self.points)}")
        target, _, count = wanted.partition("@")
        if target != name:
            return
        self._hits[name] = self._hits.get(name, 0) + 1
        if self._hits[name] >= int(count or 1):
            os.kill(os.getpid(), signal.SIGKILL)

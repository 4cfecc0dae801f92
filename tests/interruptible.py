"""Child processes that Ctrl-C (SIGINT) can interrupt, whatever the test run inherited.

A process started in the background by a non-interactive shell (a CI script, ``cmd &``) ignores SIGINT, and its
children inherit that: Python then installs no KeyboardInterrupt handler, and a test that sends SIGINT to check
clean shutdown would see a child that never noticed. Tests that send SIGINT start their children with this.
"""

from __future__ import annotations

import signal
from typing import Any


def _default_sigint() -> None:  # runs in the child between fork and exec
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interruptible() -> dict[str, Any]:
    """``subprocess.Popen`` keyword arguments: SIGINT has its default meaning in the child."""
    return {"preexec_fn": _default_sigint}

"""The submitter in a child process for the crash tests, armed at a named crash point (``oracle/faults.py``)."""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from pathlib import Path

from oracle.faults import ENV


def fork_submitter(env: dict[str, str], log: Path, *, crash: str | None = None) -> int:
    """``settle oracle submit --once`` in a forked child (the imports are done already, so a kill cycle takes a
    blink), killed at ``crash`` (``point@n``) if given; its stdout and stderr (a traceback, say) go to ``log``."""
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        # pytest's capture replaced the Python streams: point them at the log too
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - lives as long as the child
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        os.environ.update(env)
        if crash:
            os.environ[ENV] = crash
        else:
            os.environ.pop(ENV, None)
        from oracle.cli import app

        app(["submit", "--once"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - the child must never return into pytest
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def outcome(pid: int, timeout: float = 120.0) -> str:
    """``killed`` (SIGKILL: only a crash point sends it), ``ok``, ``failed`` or ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
                return "killed"
            return "ok" if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 else "failed"
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return "timeout"


def tail(log: Path, lines: int = 40) -> str:
    """The end of a child's output, for a failure message."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"

"""The one logging setup of the long-running processes (``settle oracle run``, ``settle gateway run``, the API
worker processes): JSON lines on stderr by default, one object per record with time, level, logger, message and
any ``extra`` fields; plain text lines on request. Chatty libraries log warnings and above only."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Libraries whose info lines would drown the services' own (one line per HTTP request, per migration step, per
#: connection to the demo's loopback SMTP server: aiosmtpd's "mail.log").
QUIET = ("httpx", "httpcore", "uvicorn.access", "web3", "urllib3", "alembic", "mail.log")

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class StderrHandler(logging.StreamHandler):
    """A stream handler that writes to ``sys.stderr`` as it is when a record comes, not as it was when logging was
    configured: whoever replaces ``sys.stderr`` after (pytest's capture around an in-process command, which closes
    its file after the test) leaves no handler writing to a closed file, where a later record from another thread
    (the loopback SMTP server's) printed a "Logging error" traceback instead of itself."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass  # StreamHandler.__init__ and setStream assign it: always sys.stderr


def configure_logging(*, json_lines: bool = True, level: int = logging.INFO) -> None:
    """Send every log record to stderr, as JSON lines or as text lines; replaces handlers set before."""
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in QUIET:
        logging.getLogger(noisy).setLevel(logging.WARNING)

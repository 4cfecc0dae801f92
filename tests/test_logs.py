"""The one log setup (settle.logs) of the long-running processes: JSON lines with time, level, logger, message, the
record's extra fields and the exception; no other module defines a formatter or installs handlers of its own."""

from __future__ import annotations

import ast
import json
import logging
from pathlib import Path

import pytest

from settle.logs import QUIET, JsonFormatter, configure_logging

ROOT = Path(__file__).resolve().parents[1]


def test_a_record_is_one_json_object_with_its_extra_fields_and_exception() -> None:
    record = logging.LogRecord("settle.oracle", logging.WARNING, __file__, 1, "report %s late", ("r-1",), None)
    record.created = 1_767_225_600.25  # 2026-01-01T00:00:00.250Z
    record.alert = {"kind": "late"}
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert json.loads(line) == {
        "ts": "2026-01-01T00:00:00.250Z",
        "level": "warning",
        "logger": "settle.oracle",
        "msg": "report r-1 late",
        "alert": {"kind": "late"},
    }
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert "ValueError: boom" in json.loads(JsonFormatter().format(failed))["exc"]


@pytest.mark.parametrize("json_lines", [True, False])
def test_configure_logging_sends_everything_to_stderr_and_quiets_chatty_libraries(json_lines: bool) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level, {name: logging.getLogger(name).level for name in QUIET}
    try:
        configure_logging(json_lines=json_lines)
        (handler,) = root.handlers
        assert isinstance(handler, logging.StreamHandler) and isinstance(handler.formatter, JsonFormatter) is json_lines
        assert root.level == logging.INFO and all(logging.getLogger(name).level == logging.WARNING for name in QUIET)
    finally:
        root.handlers[:], level, quiet = saved
        root.setLevel(level)
        for name, value in quiet.items():
            logging.getLogger(name).setLevel(value)


def test_no_other_module_sets_up_logging_of_its_own() -> None:
    own = []
    for path in sorted(p for package in ("settle", "settle_cli", "oracle", "gateway") for p in (ROOT / package).rglob("*.py")):
        if path == ROOT / "settle" / "logs.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(ast.unparse(base).endswith("Formatter") for base in node.bases):
                own.append(f"{path.relative_to(ROOT)}: class {node.name}")
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("logging.StreamHandler", "logging.basicConfig"):
                own.append(f"{path.relative_to(ROOT)}:{node.lineno} {ast.unparse(node.func)}")
    assert own == []


def test_records_go_to_stderr_as_it_is_when_they_come(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configured_with, later = io.StringIO(), io.StringIO()
    try:
        monkeypatch.setattr(sys, "stderr", configured_with)
        configure_logging(json_lines=False)
        configured_with.close()  # as pytest closes a test's capture once the test is done
        monkeypatch.setattr(sys, "stderr", later)
        logging.getLogger("mail.log").warning("peer closed the connection")  # (a handler bound to the closed one:
        assert "peer closed the connection" in later.getvalue()  # "--- Logging error ---" and nothing logged)
        assert "Logging error" not in later.getvalue()
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)

"""One error boundary for every command: a SettleError anywhere becomes one line on stderr and exit code 1, in
every command group; lower-layer failures a new user meets (an unreachable database, a malformed setting) arrive
there as SettleErrors naming the cause, never as a traceback."""

from __future__ import annotations

import ast
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from settle import webhooks
from settle.errors import SettleError, ValidationError

ROOT = Path(__file__).resolve().parents[1]


def settle(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "settle", *args], capture_output=True, text=True, timeout=120, cwd=ROOT, env={**os.environ, **env}
    )


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The single ``error: …`` line of a failed command (exit code 1, nothing else on stderr, no traceback)."""
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in done.stderr + done.stdout, done.stderr
    return lines[0]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def unreachable() -> str:
    return f"postgresql://settle:hunter2-secret@127.0.0.1:{_closed_port()}/books"


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("oracle", "status", "--database", "{url}"), {}),
        (("oracle", "source", "list"), {"SETTLE_ORACLE_DATABASE_URL": "{url}"}),
        (("party", "list"), {"SETTLE_GATEWAY_DATABASE_URL": "{url}"}),
        (("unmatched", "list"), {"SETTLE_DATABASE_URL": "{url}"}),
        (("gateway", "init", "--database", "{url}"), {}),
    ],
)
def test_an_unreachable_database_is_one_line_naming_it_without_its_password(unreachable: str, args: tuple[str, ...], env: dict) -> None:
    done = settle(*(a.format(url=unreachable) for a in args), **{k: v.format(url=unreachable) for k, v in env.items()})
    line = one_line_error(done)
    port = unreachable.rsplit(":", 1)[1].split("/")[0]
    assert line.startswith(f"error: cannot connect to the database postgresql+psycopg://settle:***@127.0.0.1:{port}/books: ")
    assert "Connection refused" in line and "hunter2" not in done.stderr + done.stdout


@pytest.mark.parametrize(
    ("args", "variable", "value", "expected"),
    [
        (("oracle", "run", "--no-submit"), "SETTLE_ORACLE_PORT", "abc", "input should be a valid integer"),
        (("oracle", "status"), "SETTLE_ORACLE_REPORT_MAX_RECORDS", "0", "input should be greater than or equal to 1"),
        (("gateway", "step"), "SETTLE_GATEWAY_PORT", "eighty", "input should be a valid integer"),
        (("gateway", "step"), "SETTLE_GATEWAY_DISABLED", "keeper,portal", "unknown worker(s) portal"),
    ],
)
def test_a_malformed_setting_is_one_line_naming_the_variable_and_what_it_needs(
    args: tuple[str, ...], variable: str, value: str, expected: str, tmp_path: Path
) -> None:
    done = settle(*args, **{variable: value, "SETTLE_STATE_DIR": str(tmp_path)})
    line = one_line_error(done)
    assert line.startswith(f"error: {variable}: {expected}") and repr(value) in line


def test_a_malformed_option_is_one_line_naming_the_option() -> None:
    from oracle.config import load_settings
    from settle.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^option api-workers: input should be greater than or equal to 1 \(got 0\)$"):
        load_settings(api_workers=0)


@pytest.mark.parametrize(
    "args",
    [
        ("agreement", "validate", "no/such/spec.yaml"),  # settle's own group
        ("agreement", "accept", "0x" + "12" * 20, "--sign-to", "a.json", "--signature-file", "b.json"),
        ("statements", "import", "no-such-statement.xml"),  # a gateway group
        ("oracle", "key", "revoke", "nokey"),  # the oracle group
    ],
)
def test_every_group_reports_a_refusal_as_one_line(args: tuple[str, ...], tmp_path: Path) -> None:
    done = settle(*args, SETTLE_STATE_DIR=str(tmp_path))
    one_line_error(done)


def test_the_boundary_is_the_only_place_that_prints_an_error_line() -> None:
    """No command module catches SettleError to print it itself: there is one boundary (settle.cli.boundary)."""
    modules = [
        *(ROOT / "settle" / "cli").glob("*.py"),
        *(ROOT / "settle_cli").glob("*.py"),
        ROOT / "oracle" / "cli.py",
        ROOT / "gateway" / "cli.py",
    ]
    printing = []
    for path in modules:
        if path.name == "boundary.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("error: "):
                printing.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
                if str(node.values[0].value).startswith("error: "):
                    printing.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert printing == []


def test_a_bad_webhook_signature_is_a_settle_error() -> None:
    assert issubclass(webhooks.SignatureError, ValidationError) and issubclass(webhooks.SignatureError, SettleError)
    with pytest.raises(SettleError, match="does not match"):
        webhooks.verify("whsec_test_0123456789abcdef", b"{}", webhooks.signature("whsec_other_0123456789abcdef", b"{}"))

"""The command line's composition and what it loads.

- The shared package never imports the oracle, the gateway or the composition root (``settle_cli``); the one
  edge is ``python -m settle`` delegating to ``settle_cli``.
- ``settle --help`` and the help of every group import none of web3, eth-account, FastAPI, SQLAlchemy or the
  services; ``settle agreement validate`` not even eth_utils (the spec path hashes with settle.keccak).
- ``settle status`` and ``settle agreements`` read the chain without web3 or eth-account (settle.rpc and
  settle.abi): importing them costs about a second (``benchmarks/cli.py``).
- The table ``settle --help`` is printed from matches the command groups it loads.
"""

from __future__ import annotations

import ast
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
from operator_support import PAYER, active, cli_env, deployments_dir, factory, operator_session, proposed, sessions

import settle
from settle_cli.app import COMMANDS, load

__all__ = ["active", "cli_env", "deployments_dir", "factory", "operator_session", "proposed", "sessions"]

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("web3", "eth_account", "py_ecc", "fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "oracle", "gateway")


def _imported(*args: str, tmp: Path, env: dict[str, str] | None = None) -> set[str]:
    """Every module loaded by ``python -m settle ARGS`` (the real entry point, run by runpy), from sys.modules at exit;
    ``env``: more environment variables."""
    out = tmp / "modules.txt"
    script = (
        "import runpy, sys\n"
        f"sys.argv = ['settle', *{list(args)!r}]\n"
        "try:\n    runpy.run_module('settle', run_name='__main__', alter_sys=True)\n"
        "except SystemExit as exc:\n    code = exc.code\n"
        f"open({str(out)!r}, 'w').write('\\n'.join(sorted(sys.modules)))\n"
        "sys.exit(code)\n"
    )
    environment = {**os.environ, "COLUMNS": "200", **(env or {})}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT, env=environment)
    assert done.returncode == 0, done.stderr[-3000:]
    names = set(out.read_text().split())
    assert "settle_cli.app" in names
    return names


def _top(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


def test_the_shared_package_never_imports_oracle_gateway_or_the_composition_root() -> None:
    """Also not inside a function: every import statement in settle/ (the delegation in settle/__main__.py aside)."""
    found = []
    for path in sorted((ROOT / "settle").rglob("*.py")):
        if path == ROOT / "settle" / "__main__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            found += [
                f"{path.relative_to(ROOT)}:{node.lineno} {name}"
                for name in names
                if name.split(".")[0] in ("oracle", "gateway", "settle_cli")
            ]
    assert found == []
    assert "settle_cli" in (ROOT / "settle" / "__main__.py").read_text()


def test_importing_every_settle_module_loads_no_oracle_or_gateway_module() -> None:
    modules = sorted(m.name for m in pkgutil.walk_packages(settle.__path__, "settle.") if m.name != "settle.__main__")
    assert "settle.cli.agreement" in modules and "settle.rpc" in modules and len(modules) > 30
    script = "import importlib, sys\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules)
    script += "print(sorted(n for n in sys.modules if n.split('.')[0] in ('oracle', 'gateway', 'settle_cli')))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]"


def test_help_loads_no_group_and_no_heavy_library(tmp_path: Path) -> None:
    names = _imported("--help", tmp=tmp_path)
    assert _top(names) & set(HEAVY) == set()
    assert not {"settle.cli.agreement", "settle.cli.chain", "settle.spec", "settle.config", "eth_utils"} & names


@pytest.mark.parametrize("group", ["agreement", "chain", "oracle", "party", "payments", "bank", "gateway", "status", "build", "demo"])
def test_a_group_s_help_loads_only_that_group(group: str, tmp_path: Path) -> None:
    names = _imported(group, "--help", tmp=tmp_path)
    assert _top(names) & set(HEAVY) == (
        {"oracle"} if group == "oracle" else {"gateway"} if group in ("party", "payments", "bank", "gateway") else set()
    )
    if group == "oracle":
        assert {n for n in names if n.startswith("oracle.")} <= {"oracle.cli"}
    if group in ("party", "payments", "bank", "gateway"):
        assert {n for n in names if n.startswith("gateway.")} <= {"gateway.cli", "gateway.errors"}


def test_validating_a_spec_loads_no_chain_database_or_service_code(tmp_path: Path) -> None:
    names = _imported("agreement", "validate", "examples/api-plan.yaml", tmp=tmp_path)
    assert _top(names) & {*HEAVY, "eth_utils", "eth_abi", "httpx"} == set()
    assert {"settle.spec", "settle.terms", "settle.keccak"} <= names


@pytest.mark.parametrize(
    "command",
    [("status", "AGREEMENT", "--json"), ("status", "AGREEMENT", "--period", "0"), ("agreements", "--party", "PAYER", "--json")],
    ids=["status-json", "status-table", "agreements"],
)
def test_reading_an_agreement_loads_no_web3_or_eth_account(command: tuple[str, ...], tmp_path: Path, chain, active, cli_env) -> None:
    payer = chain.dev_accounts(2)[PAYER].address
    args = [{"AGREEMENT": active, "PAYER": payer}.get(arg, arg) for arg in command]
    names = _imported(*args, tmp=tmp_path, env=cli_env)
    assert _top(names) & {*HEAVY, "eth_keyfile", "eth_keys", "hexbytes"} == set()
    assert {"settle.status", "settle.abi", "settle.rpc", "settle.chain"} <= names


def test_the_help_table_is_each_group_s_own_help() -> None:
    """``settle --help`` is printed from COMMANDS without importing the groups: each summary is the first paragraph of
    the help the loaded group or command gives, every gateway group is listed, and each loads under its name."""
    from gateway import cli as gateway_cli

    for entry in COMMANDS:
        command = load(entry)
        assert command.name == entry.name
        own = " ".join((command.help or "").split("\n\n")[0].split())
        assert own == entry.summary, entry.name
    listed = {entry.name: entry.target for entry in COMMANDS}
    for name, group in gateway_cli.SUBCOMMANDS.items():
        module, _, attribute = listed[name].partition(":")
        assert module == "gateway.cli" and getattr(gateway_cli, attribute) is group
    assert len(listed) == len(COMMANDS)


def test_python_dash_m_settle_and_the_console_script_run_the_same_root() -> None:
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"settle": "settle_cli:main"}
    done = subprocess.run([sys.executable, "-m", "settle", "agreemnt"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 2 and "Did you mean 'agreement'" in done.stderr

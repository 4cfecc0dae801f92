"""The toolchain fails with one clear line when something is missing, and the solcjs shim acts like solc."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from settle import toolchain
from settle.config import get_settings
from settle.errors import NodeError, ToolchainError
from settle.node import start_node


@pytest.fixture()
def fresh_toolchain_caches():
    toolchain.node_binary.cache_clear()
    toolchain.solc_binary.cache_clear()
    yield
    toolchain.node_binary.cache_clear()
    toolchain.solc_binary.cache_clear()


def test_missing_node_is_one_clear_line(monkeypatch, tmp_path, fresh_toolchain_caches):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolchainError) as info:
        toolchain.node_binary()
    assert str(info.value) == "node not found: install Node.js 18+"


def test_old_node_is_refused(monkeypatch, tmp_path, fresh_toolchain_caches):
    fake = tmp_path / "node"
    fake.write_text("#!/bin/sh\necho v16.20.0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolchainError, match=r"node v16\.20\.0 .* is too old: install Node.js 18\+"):
        toolchain.node_binary()


def test_missing_npm_tool_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("SETTLE_ROOT", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    from settle.config import reset_settings

    reset_settings()
    try:
        with pytest.raises(ToolchainError, match=r"^anvil not found in .*node_modules: run 'make setup'"):
            toolchain.npm_tool("anvil")
    finally:
        monkeypatch.undo()
        reset_settings()


def test_anvil_on_a_busy_port_reports_its_stderr():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(NodeError) as info:
            start_node("anvil", port)
    message = str(info.value)
    assert message.startswith(f"anvil failed to start on port {port}: ")
    assert "in use" in message.lower() or "address" in message.lower()
    assert "\n" not in message


def test_unknown_node_kind_is_refused():
    with pytest.raises(NodeError, match="unknown node 'hardhat': choose one of anvil, ganache"):
        start_node("hardhat")


def test_cli_prints_toolchain_errors_without_traceback(tmp_path):
    env = {"PATH": str(tmp_path), "SETTLE_ROOT": str(tmp_path), "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "settle", "chain", "up", "--port", "0"], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error: anvil not found in")
    assert "Traceback" not in proc.stderr


def test_shim_version_matches_what_py_solc_x_expects():
    import solcx.wrapper

    version = solcx.wrapper.get_solc_version(str(toolchain.solc_shim()))
    assert str(version) == toolchain.SOLC_VERSION


def test_shim_standard_json_resolves_openzeppelin_imports():
    source = (
        'pragma solidity 0.8.30; import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";'
        " contract M { function f(uint a, uint b) external pure returns (uint) { return Math.max(a, b); } }"
    )
    request = {
        "language": "Solidity",
        "sources": {"M.sol": {"content": source}},
        "settings": {"remappings": ["@openzeppelin/=node_modules/@openzeppelin/"], "outputSelection": {"*": {"*": ["abi"]}}},
    }
    proc = subprocess.run(
        [str(toolchain.solc_shim()), "--standard-json", "--base-path", str(get_settings().root), "--allow-paths", "/tmp"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = json.loads(proc.stdout)
    assert not [e for e in output.get("errors", []) if e["severity"] == "error"], output.get("errors")
    assert output["contracts"]["M.sol"]["M"]["abi"][0]["name"] == "f"


def test_shim_reports_missing_import():
    request = {
        "language": "Solidity",
        "sources": {"M.sol": {"content": 'pragma solidity 0.8.30; import "nowhere/X.sol";'}},
        "settings": {"outputSelection": {"*": {"*": ["abi"]}}},
    }
    proc = subprocess.run(
        [str(toolchain.solc_shim()), "--standard-json"], input=json.dumps(request), capture_output=True, text=True, timeout=120
    )
    errors = json.loads(proc.stdout)["errors"]
    assert any("nowhere/X.sol" in e["formattedMessage"] for e in errors)


def test_versions_agree_between_package_json_pragmas_and_driver():
    root = get_settings().root
    package = json.loads((root / "package.json").read_text())
    assert package["devDependencies"]["solc"] == toolchain.SOLC_VERSION
    for source in (root / "contracts").rglob("*.sol"):
        assert f"pragma solidity {toolchain.SOLC_VERSION};" in source.read_text(), source


def test_forge_failures_reach_make(tmp_path):
    """`make test` runs forge through tools/forge: a failing forge must fail the step (the npm wrapper in
    node_modules/.bin always exits 0, which would let a failing Solidity test suite look green)."""
    ugly = tmp_path / "Ugly.sol"
    ugly.write_text("pragma solidity 0.8.30;\ncontract Ugly {   function f( ) public {} }\n")
    root = Path(__file__).resolve().parents[1]
    failing = subprocess.run([str(root / "tools" / "forge"), "fmt", "--check", str(ugly)], capture_output=True, text=True)
    assert failing.returncode == 1, failing.stdout + failing.stderr
    ugly.write_text("pragma solidity 0.8.30;\n\ncontract Ugly {\n    function f() public {}\n}\n")
    passing = subprocess.run([str(root / "tools" / "forge"), "fmt", "--check", str(ugly)], capture_output=True, text=True)
    assert passing.returncode == 0, passing.stdout + passing.stderr
    makefile = (root / "Makefile").read_text()
    assert "\ttools/forge test\n" in makefile and "$(BIN)/forge" not in makefile

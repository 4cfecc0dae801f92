"""The compiler driver builds every contract once, caches by source hash and reports solc errors clearly."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from settle import compiler
from settle.config import get_settings, reset_settings
from settle.errors import CompileError


@pytest.fixture()
def scratch_root(tmp_path, monkeypatch) -> Path:
    """A copy of the repository's contracts in a scratch root that shares node_modules and the shim."""
    real = get_settings().root
    shutil.copytree(real / "contracts", tmp_path / "contracts")
    os.symlink(real / "node_modules", tmp_path / "node_modules")
    os.symlink(real / "tools", tmp_path / "tools")
    monkeypatch.setenv("SETTLE_ROOT", str(tmp_path))
    reset_settings()
    yield tmp_path
    monkeypatch.undo()
    reset_settings()


def test_builds_all_contracts_then_uses_the_cache(scratch_root):
    first = compiler.build()
    assert first.compiled
    assert "TestToken" in first.contracts
    artifact = json.loads((first.artifacts_dir / "TestToken.json").read_text())
    assert artifact["bytecode"].startswith("0x60") and len(artifact["bytecode"]) > 1000
    assert any(item.get("name") == "OwnableUnauthorizedAccount" for item in artifact["abi"])
    assert artifact["sourceName"] == "contracts/mocks/TestToken.sol"
    assert artifact["sourceHash"] == first.source_hash

    second = compiler.build()
    assert not second.compiled
    assert second.source_hash == first.source_hash


def test_changed_source_rebuilds(scratch_root):
    first = compiler.build()
    source = scratch_root / "contracts" / "mocks" / "TestToken.sol"
    source.write_text(source.read_text() + "\n// touched\n")
    second = compiler.build()
    assert second.compiled
    assert second.source_hash != first.source_hash


def test_solc_errors_name_file_and_problem(scratch_root):
    (scratch_root / "contracts" / "Broken.sol").write_text("pragma solidity 0.8.30;\ncontract Broken { uint x = ; }\n")
    with pytest.raises(CompileError) as info:
        compiler.build()
    assert "Broken.sol" in str(info.value)
    assert "ParserError" in str(info.value)


def test_unknown_artifact_lists_known_ones(scratch_root):
    with pytest.raises(CompileError, match=r"no contract named Nope under contracts/ \(known: .*TestToken"):
        compiler.load_artifact("Nope")

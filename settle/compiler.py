"""Compiles ``contracts/`` with py-solc-x's standard-JSON API and caches the artifacts in ``build/contracts``.

One compiler run covers every source, so artifacts stay consistent with each other. Artifacts are rebuilt only
when a source, the compiler settings or the OpenZeppelin version changes (solcjs takes seconds per run).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from settle.config import get_settings
from settle.errors import CompileError, ToolchainError
from settle.toolchain import SOLC_VERSION, solc_binary

EVM_VERSION = "shanghai"
OPTIMIZER_RUNS = 1_000
REMAPPINGS = ("@openzeppelin/=node_modules/@openzeppelin/",)
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class BuildResult:
    """What a build produced and whether it had to run the compiler."""

    artifacts_dir: Path
    contracts: tuple[str, ...]
    source_hash: str
    compiled: bool
    solc: str


def _sources(contracts_dir: Path) -> dict[str, Path]:
    root = contracts_dir.parent
    return {p.relative_to(root).as_posix(): p for p in sorted(contracts_dir.rglob("*.sol"))}


def _settings() -> dict[str, Any]:
    return {
        "evmVersion": EVM_VERSION,
        "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
        "remappings": list(REMAPPINGS),
        "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "evm.methodIdentifiers"]}},
    }


def source_hash(contracts_dir: Path | None = None) -> str:
    """Hash over everything that decides the bytecode: sources, settings, compiler and OpenZeppelin versions."""
    settings = get_settings()
    contracts_dir = contracts_dir or settings.contracts_dir
    digest = hashlib.sha256()
    digest.update(json.dumps({"solc": SOLC_VERSION, "settings": _settings()}, sort_keys=True).encode())
    oz = settings.node_modules / "@openzeppelin" / "contracts" / "package.json"
    if oz.is_file():
        digest.update(json.loads(oz.read_text()).get("version", "").encode())
    for name, path in _sources(contracts_dir).items():
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _write_json(path: Path, data: Any) -> None:
    # Write-then-rename so a crash never leaves a half-written artifact that a later run would trust.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
    os.replace(tmp, path)


def build(force: bool = False, progress: Callable[[str], None] | None = None) -> BuildResult:
    """Compile the contracts unless the cached artifacts already match the sources."""
    settings = get_settings()
    say = progress or (lambda _msg: None)
    contracts_dir = settings.contracts_dir
    out_dir = settings.build_dir / "contracts"
    sources = _sources(contracts_dir)
    if not sources:
        raise CompileError(f"no Solidity sources found under {contracts_dir}")
    digest = source_hash(contracts_dir)
    manifest_path = out_dir / MANIFEST
    if not force and manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("source_hash") == digest and all((out_dir / f"{c}.json").is_file() for c in manifest["contracts"]):
            return BuildResult(out_dir, tuple(manifest["contracts"]), digest, False, manifest.get("solc", ""))

    if not (settings.node_modules / "@openzeppelin" / "contracts").is_dir():
        raise ToolchainError(f"OpenZeppelin Contracts not found in {settings.node_modules}: run 'make setup' (it runs npm ci)")
    solc = solc_binary()
    say(f"compiling {len(sources)} source files with solc {SOLC_VERSION} ({solc})")
    input_json = {
        "language": "Solidity",
        "sources": {name: {"content": path.read_text()} for name, path in sources.items()},
        "settings": _settings(),
    }
    output = _run_solc(input_json, solc, settings.root)
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompileError("solc rejected the contracts:\n" + "\n".join(e.get("formattedMessage", e.get("message", "")) for e in errors))

    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    for source_name, contracts in sorted(output.get("contracts", {}).items()):
        if source_name not in sources:
            continue  # dependencies (OpenZeppelin) are compiled in, not published as artifacts
        for contract_name, data in sorted(contracts.items()):
            if contract_name in written:
                raise CompileError(f"two contracts are named {contract_name}: artifact names must be unique under contracts/")
            _write_json(
                out_dir / f"{contract_name}.json",
                {
                    "contractName": contract_name,
                    "sourceName": source_name,
                    "abi": data["abi"],
                    "bytecode": "0x" + data["evm"]["bytecode"]["object"],
                    "deployedBytecode": "0x" + data["evm"]["deployedBytecode"]["object"],
                    "methodIdentifiers": data["evm"].get("methodIdentifiers", {}),
                    "sourceHash": digest,
                },
            )
            written.append(contract_name)
    for stale in out_dir.glob("*.json"):
        if stale.name != MANIFEST and stale.stem not in written:
            stale.unlink()
    _write_json(manifest_path, {"source_hash": digest, "contracts": written, "solc": SOLC_VERSION, "evm_version": EVM_VERSION})
    say(f"wrote {len(written)} artifacts to {out_dir}")
    return BuildResult(out_dir, tuple(written), digest, True, SOLC_VERSION)


def _run_solc(input_json: dict[str, Any], solc: str, root: Path) -> dict[str, Any]:
    import solcx
    from solcx.exceptions import SolcError

    try:
        return solcx.compile_standard(input_json, base_path=str(root), allow_paths=[str(root)], solc_binary=solc)
    except SolcError as exc:
        detail = (exc.stderr_data or "").strip() or str(exc).strip()
        if exc.error_dict:
            detail = "\n".join(e.get("formattedMessage", "") for e in exc.error_dict if e.get("severity") == "error")
        raise CompileError(f"solc failed: {detail}") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise CompileError(f"solc at {solc} did not produce compiler output: {exc}") from None


def load_artifact(name: str) -> dict[str, Any]:
    """The ABI and bytecode of contract ``name``, building first if needed."""
    result = build()
    path = result.artifacts_dir / f"{name}.json"
    if not path.is_file():
        raise CompileError(f"no contract named {name} under contracts/ (known: {', '.join(result.contracts)})")
    return json.loads(path.read_text())


def all_abis() -> dict[str, list[dict[str, Any]]]:
    """Every artifact's ABI, by contract name (used to decode custom errors and events)."""
    result = build()
    return {name: json.loads((result.artifacts_dir / f"{name}.json").read_text())["abi"] for name in result.contracts}

"""Finds the external tools Settle drives: Node.js, the npm-installed Foundry binaries and a solc.

Every lookup fails with one line that says what is missing and how to get it, never a traceback.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from settle.config import get_settings
from settle.errors import ToolchainError

#: The compiler version the contracts declare (``pragma solidity 0.8.30``) and package.json pins.
SOLC_VERSION = "0.8.30"
MIN_NODE_MAJOR = 18

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


@lru_cache(maxsize=1)
def node_binary() -> str:
    """Path of a Node.js 18+ executable."""
    node = shutil.which("node")
    if node is None:
        raise ToolchainError(f"node not found: install Node.js {MIN_NODE_MAJOR}+")
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolchainError(f"node at {node} does not run ({exc}): install Node.js {MIN_NODE_MAJOR}+") from None
    match = re.match(r"v(\d+)\.", out)
    if not match or int(match.group(1)) < MIN_NODE_MAJOR:
        raise ToolchainError(f"node {out or '(unknown version)'} at {node} is too old: install Node.js {MIN_NODE_MAJOR}+")
    return node


def npm_tool(name: str) -> str:
    """Path of an npm-installed chain tool: ``anvil``, ``forge``, ``cast`` or ``ganache``.

    Foundry's npm packages carry the real binary in a per-platform package; calling it directly saves the
    ~0.2 s start-up of the node wrapper in ``node_modules/.bin``.
    """
    modules = get_settings().node_modules
    arch = _ARCH.get(platform.machine().lower(), platform.machine().lower())
    candidates = []
    if name in {"anvil", "forge", "cast", "chisel"}:
        system = platform.system().lower()
        candidates.append(modules / "@foundry-rs" / f"{name}-{system}-{arch}" / "bin" / name)
    candidates.append(modules / ".bin" / name)
    for candidate in candidates:
        if candidate.is_file():
            if candidate.parent.name == ".bin":
                node_binary()  # the .bin wrappers are node scripts
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise ToolchainError(f"{name} not found in {modules}: run 'make setup' (it runs npm ci) in {get_settings().root}")


def solc_shim() -> Path:
    return get_settings().root / "tools" / "solc"


def _version_of(binary: str) -> str | None:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"Version: (\d+\.\d+\.\d+)", out)
    return match.group(1) if match else None


@lru_cache(maxsize=1)
def solc_binary() -> str:
    """A solc of :data:`SOLC_VERSION`: a native one when installed, else the solcjs shim in ``tools/``."""
    import os

    explicit = get_settings().solc
    if explicit:
        if _version_of(explicit) != SOLC_VERSION:
            raise ToolchainError(f"SETTLE_SOLC={explicit} is not solc {SOLC_VERSION}: point it at solc {SOLC_VERSION} or unset it")
        return explicit
    candidates = [Path.home() / ".solcx" / f"solc-v{SOLC_VERSION}"]
    if os.environ.get("SOLCX_BINARY_PATH"):
        candidates.insert(0, Path(os.environ["SOLCX_BINARY_PATH"]) / f"solc-v{SOLC_VERSION}")
    on_path = shutil.which("solc")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK) and _version_of(str(candidate)) == SOLC_VERSION:
            return str(candidate)
    shim = solc_shim()
    node_binary()
    if not (get_settings().node_modules / "solc" / "package.json").is_file():
        raise ToolchainError(f"npm package solc not found in {get_settings().node_modules}: run 'make setup' (it runs npm ci)")
    return str(shim)

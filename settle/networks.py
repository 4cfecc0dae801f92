"""Named networks: RPC URL, expected chain id and confirmation depth, from ``networks.yaml``.

The repository's ``networks.yaml`` holds the defaults; a file named by ``SETTLE_NETWORKS`` adds or overrides
entries. For ``anvil``/``ganache`` the URL of a chain started with ``settle chain up`` takes precedence.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from settle.config import DEV_CHAIN_IDS, get_settings
from settle.errors import ConfigError

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Network:
    """One chain Settle can talk to."""

    name: str
    rpc_url: str
    chain_id: int
    confirmations: int = 0
    dev: bool = False

    def connect(self):
        from settle.chain import Chain

        return Chain.connect(self.rpc_url, expected_chain_id=self.chain_id, confirmations=self.confirmations)


def _load_file(path: Path) -> dict[str, dict]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of network names to settings")
    return data


def _expand(value: str, name: str) -> str:
    def repl(match: re.Match[str]) -> str:
        var = match.group(1)
        if var not in os.environ:
            raise ConfigError(f"network {name}: rpc_url needs the environment variable {var}, which is not set")
        return os.environ[var]

    return _ENV_REF.sub(repl, value)


def all_networks() -> dict[str, dict]:
    entries: dict[str, dict] = {}
    default = get_settings().root / "networks.yaml"
    if default.is_file():
        entries.update(_load_file(default))
    extra = get_settings().networks
    if extra is not None:
        if not extra.is_file():
            raise ConfigError(f"SETTLE_NETWORKS={extra}: no such file")
        entries.update(_load_file(extra))
    return entries


def _running_local_chain() -> str | None:
    state = get_settings().runtime_dir / "chain.json"
    if not state.is_file():
        return None
    try:
        info = json.loads(state.read_text())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return None
    return str(info["url"])


def get_network(name: str | None = None) -> Network:
    """The network called ``name`` (default: ``SETTLE_NETWORK`` or ``anvil``); an RPC URL is accepted too."""
    name = name or get_settings().network or "anvil"
    if name.startswith(("http://", "https://")):
        from settle.node import rpc_call

        chain_id = int(rpc_call(name, "eth_chainId"), 16)
        return Network(name=name, rpc_url=name, chain_id=chain_id, dev=chain_id in DEV_CHAIN_IDS)
    entries = all_networks()
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none"
        raise ConfigError(f"unknown network '{name}' (known: {known}); add it to networks.yaml or SETTLE_NETWORKS")
    entry = entries[name]
    for key in ("rpc_url", "chain_id"):
        if key not in entry:
            raise ConfigError(f"network {name}: '{key}' is missing")
    url = _expand(str(entry["rpc_url"]), name)
    if entry.get("dev") and name in ("anvil", "ganache"):
        url = get_settings().rpc_url or _running_local_chain() or url
    try:
        chain_id = int(entry["chain_id"])
        confirmations = int(entry.get("confirmations", 0))
    except (TypeError, ValueError):
        raise ConfigError(f"network {name}: chain_id and confirmations must be integers") from None
    if confirmations < 0:
        raise ConfigError(f"network {name}: confirmations must be 0 or more")
    dev = bool(entry.get("dev", False))
    if dev and chain_id not in DEV_CHAIN_IDS:
        raise ConfigError(f"network {name}: dev: true needs a dev chain id ({', '.join(map(str, sorted(DEV_CHAIN_IDS)))})")
    return Network(name=name, rpc_url=url, chain_id=chain_id, confirmations=confirmations, dev=dev)

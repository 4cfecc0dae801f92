"""What was deployed where: ``deployments/<chain-id>.json`` (factory, tokens, agreements with their specs).

Writes are atomic (temp file + rename) so an interrupted script never leaves a half-written record.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from settle.config import get_settings
from settle.errors import ConfigError
from settle.keccak import is_address, to_checksum_address

if TYPE_CHECKING:
    from eth_typing import ChecksumAddress


def deployments_dir() -> Path:
    return get_settings().deployments


class Deployments:
    """The deployment record of one chain."""

    def __init__(self, chain_id: int, directory: Path | None = None):
        self.chain_id = chain_id
        self.path = (directory or deployments_dir()) / f"{chain_id}.json"
        self.data: dict[str, Any] = {"chain_id": chain_id, "factory": None, "tokens": {}, "agreements": {}}
        if self.path.is_file():
            try:
                self.data = json.loads(self.path.read_text())
            except json.JSONDecodeError:
                raise ConfigError(f"{self.path} is not valid JSON: fix or remove it") from None

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(self.data, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, self.path)

    @staticmethod
    def _stamp(record: dict[str, Any]) -> dict[str, Any]:
        return {**record, "recorded_at": datetime.now(UTC).isoformat(timespec="seconds")}

    @property
    def factory(self) -> str | None:
        factory = self.data.get("factory")
        return factory["address"] if factory else None

    def require_factory(self) -> str:
        if not self.factory:
            raise ConfigError(f"no factory recorded for chain {self.chain_id} in {self.path}: run 'settle agreement deploy-factory' first")
        return self.factory

    def record_factory(self, **record: Any) -> None:
        self.data["factory"] = self._stamp(record)
        self.save()

    def record_token(self, symbol: str, **record: Any) -> None:
        self.data.setdefault("tokens", {})[symbol] = self._stamp(record)
        self.save()

    def record_agreement(self, address: str, **record: Any) -> None:
        self.data.setdefault("agreements", {})[address] = self._stamp(record)
        self.save()

    def agreements(self) -> dict[str, dict[str, Any]]:
        return dict(self.data.get("agreements", {}))


def resolve_agreement(deployments: Deployments, ref: str) -> ChecksumAddress:
    """An agreement's address from an address, or from a name or reference recorded in the deployment record."""
    if is_address(ref):
        return cast("ChecksumAddress", to_checksum_address(ref))
    matches = [
        address
        for address, record in deployments.agreements().items()
        if ref.lower() in (str(record.get("name") or "").lower(), str(record.get("reference") or "").lower())
    ]
    if len(matches) == 1:
        return cast("ChecksumAddress", to_checksum_address(matches[0]))
    if len(matches) > 1:
        raise ConfigError(f"{ref!r} names {len(matches)} agreements in {deployments.path}: give the address ({', '.join(matches)})")
    known = [str(r.get("reference") or r.get("name")) for r in deployments.agreements().values() if r.get("reference") or r.get("name")]
    hint = f" (recorded: {', '.join(sorted(known))})" if known else ""
    raise ConfigError(f"{ref!r} is neither an address nor an agreement recorded in {deployments.path}{hint}")

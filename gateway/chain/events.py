"""Decoding the factory's and the agreements' logs, fast: topics and data are decoded with eth-abi from the event
ABIs in the build artifacts (web3's per-log machinery costs ~10× more and the listener reads thousands per second).

A decoded log carries plain JSON types: addresses in lower case, ``bytes32``/``bytes``/``bytes4`` as ``0x``-hex,
integers as ``int`` (enums stay their ordinal).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak

from settle.chaintypes import abi_type
from settle.errors import ChainError

#: The contracts whose events the gateway follows.
SOURCES = ("IAgreementFactory", "IBillingAgreement")


@dataclass(frozen=True)
class EventSpec:
    name: str
    topic0: str
    indexed: tuple[tuple[str, str], ...]
    data: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class DecodedLog:
    block_number: int
    block_hash: str
    log_index: int
    tx_hash: str
    address: str
    event: str
    args: dict[str, Any]

    @property
    def position(self) -> tuple[int, int]:
        return self.block_number, self.log_index


def _plain(kind: str, value: Any) -> Any:
    if kind == "address":
        return str(value).lower()
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, list | tuple):
        return [_plain("", v) for v in value]
    return value


def _topic_value(kind: str, topic: str) -> Any:
    raw = bytes.fromhex(topic[2:] if topic.startswith("0x") else topic)
    if kind == "address":
        return "0x" + raw[-20:].hex()
    if kind.startswith(("uint", "int")) and "[" not in kind:
        value = int.from_bytes(raw, "big")
        if kind.startswith("int") and value >= 1 << 255:
            value -= 1 << 256
        return value
    if kind == "bool":
        return raw[-1] == 1
    if kind.startswith("bytes") and kind != "bytes" and "[" not in kind:
        return "0x" + raw[: int(kind[5:])].hex()
    return "0x" + raw.hex()  # dynamic types are hashed when indexed


class EventDecoder:
    """Event specs by topic0, built from ABIs."""

    def __init__(self, abis: list[list[dict[str, Any]]]):
        self.by_topic: dict[str, EventSpec] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") != "event" or item.get("anonymous"):
                    continue
                inputs = item.get("inputs", [])
                signature = f"{item['name']}({','.join(abi_type(i) for i in inputs)})"
                topic0 = "0x" + keccak(text=signature).hex()
                self.by_topic[topic0] = EventSpec(
                    item["name"],
                    topic0,
                    tuple((i["name"], abi_type(i)) for i in inputs if i.get("indexed")),
                    tuple((i["name"], abi_type(i)) for i in inputs if not i.get("indexed")),
                )

    @property
    def topics(self) -> list[str]:
        return sorted(self.by_topic)

    def topic(self, name: str) -> str:
        for spec in self.by_topic.values():
            if spec.name == name:
                return spec.topic0
        raise KeyError(name)

    def decode(self, log: dict[str, Any]) -> DecodedLog | None:
        """The log (as ``eth_getLogs`` returns it, hex strings) decoded; ``None`` for events the gateway does not know."""
        topics = log.get("topics") or []
        if not topics:
            return None
        spec = self.by_topic.get(str(topics[0]).lower())
        if spec is None or len(topics) != len(spec.indexed) + 1:
            return None
        args: dict[str, Any] = {}
        for (name, kind), topic in zip(spec.indexed, topics[1:], strict=True):
            args[name] = _topic_value(kind, str(topic))
        if spec.data:
            data = log.get("data") or "0x"
            try:
                values = abi_decode([k for _, k in spec.data], bytes.fromhex(data[2:]))
            except Exception as exc:  # noqa: BLE001 - a malformed log is a node or contract bug: name it
                raise ChainError(f"cannot decode {spec.name} in block {log.get('blockNumber')}: {exc}") from None
            for (name, kind), value in zip(spec.data, values, strict=True):
                args[name] = _plain(kind, value)
        return DecodedLog(
            block_number=_int(log["blockNumber"]),
            block_hash=str(log["blockHash"]).lower(),
            log_index=_int(log["logIndex"]),
            tx_hash=str(log["transactionHash"]).lower(),
            address=str(log["address"]).lower(),
            event=spec.name,
            args=args,
        )


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


@lru_cache(maxsize=1)
def default_decoder() -> EventDecoder:
    """The decoder for the compiled contracts (builds them first if needed)."""
    from settle.compiler import load_artifact

    return EventDecoder([load_artifact(name)["abi"] for name in SOURCES])

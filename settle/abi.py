"""Contract calls and events by their ABI, without web3: the calldata of an ``eth_call``, its answer and the
arguments of a log, encoded and decoded with eth_abi (web3's own codec) and hashed with :mod:`settle.keccak`.

The read path (``settle status``, ``settle agreements``) goes through these and :meth:`settle.chain.Chain.read`:
importing web3 costs about a second (eth-account pulls in BLS code that builds tables on import). Values come
back as web3 returns them — addresses EIP-55 checksummed, arrays as lists, structs as tuples, several outputs as
a list, event arguments indexed ones first — so code written against web3's ``ContractFunction.call`` and
``process_log`` reads the same values (``tests/test_chain_read.py`` compares both).

    agreement = chain.view("IBillingAgreement", address)
    status, parties = chain.read_many([agreement.call("status"), agreement.call("parties")], block=at)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_abi import decode, encode

from settle.chaintypes import abi_type, event_signature
from settle.errors import ChainError
from settle.keccak import keccak, to_checksum_address

__all__ = ["AbiEvent", "AbiFunction", "ContractAbi", "ContractCall", "ContractView", "hex_bytes"]

_ARRAY = re.compile(r"^(.*)\[(\d*)\]$")
#: Types an indexed event argument keeps as its value; for the others the topic holds their keccak hash.
_DYNAMIC = re.compile(r"^(string|bytes|\(.*)$|\]$")


def hex_bytes(value: str | bytes | None) -> bytes:
    """``0x``-hex (as JSON-RPC answers) or bytes, as bytes."""
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return bytes.fromhex(value[2:] if value.startswith(("0x", "0X")) else value)


def _normalized(item: Mapping[str, Any], value: Any) -> Any:
    """``value`` decoded for ABI parameter ``item`` the way web3 returns it (see the module docstring)."""
    kind = str(item["type"])
    array = _ARRAY.match(kind)
    if array:
        inner = {**item, "type": array.group(1)}
        return [_normalized(inner, v) for v in value]
    if kind == "tuple":
        return tuple(_normalized(c, v) for c, v in zip(item["components"], value, strict=True))
    if kind == "address":
        return to_checksum_address(value)
    return value


@dataclass(frozen=True)
class AbiFunction:
    """One function of an ABI: its selector, how to encode arguments and decode the answer."""

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[Mapping[str, Any], ...]
    selector: bytes

    @classmethod
    def from_abi(cls, item: Mapping[str, Any]) -> AbiFunction:
        inputs = tuple(abi_type(i) for i in item.get("inputs", []))
        return cls(str(item["name"]), inputs, tuple(item.get("outputs", [])), keccak(text=f"{item['name']}({','.join(inputs)})")[:4])

    def encode(self, args: Sequence[Any]) -> bytes:
        if len(args) != len(self.inputs):
            raise TypeError(f"{self.name}({', '.join(self.inputs)}) takes {len(self.inputs)} arguments, got {len(args)}")
        return self.selector + encode(list(self.inputs), list(args))

    def decode(self, data: bytes) -> Any:
        """The answer as web3 returns it: the value for one output, else a list of the outputs."""
        values = decode([abi_type(o) for o in self.outputs], data)
        out = [_normalized(o, v) for o, v in zip(self.outputs, values, strict=True)]
        return out[0] if len(out) == 1 else out


@dataclass(frozen=True)
class AbiEvent:
    """One event of an ABI: its topic 0 and how to decode a log's arguments."""

    name: str
    inputs: tuple[Mapping[str, Any], ...]
    topic: bytes

    @classmethod
    def from_abi(cls, item: Mapping[str, Any]) -> AbiEvent:
        return cls(str(item["name"]), tuple(item.get("inputs", [])), keccak(text=event_signature(item)))

    def decode(self, log: Mapping[str, Any]) -> dict[str, Any]:
        """The log's arguments by name, indexed ones first (as web3's ``process_log`` gives them)."""
        topics = [hex_bytes(t) for t in log["topics"]]
        if not topics or topics[0] != self.topic:
            raise ChainError(f"log is not a {self.name} event (topic 0x{topics[0].hex() if topics else ''})")
        indexed = [i for i in self.inputs if i.get("indexed")]
        plain = [i for i in self.inputs if not i.get("indexed")]
        if len(topics) != len(indexed) + 1:
            raise ChainError(f"{self.name} log has {len(topics) - 1} indexed topics, its ABI {len(indexed)}")
        args: dict[str, Any] = {}
        for item, topic in zip(indexed, topics[1:], strict=True):
            kind = abi_type(item)
            args[item["name"]] = topic if _DYNAMIC.search(kind) else _normalized(item, decode([kind], topic)[0])
        values = decode([abi_type(i) for i in plain], hex_bytes(log["data"]))
        for item, value in zip(plain, values, strict=True):
            args[item["name"]] = _normalized(item, value)
        return args


class ContractAbi:
    """A contract's ABI: functions by name, events by name and by topic 0."""

    def __init__(self, name: str, abi: Sequence[Mapping[str, Any]]):
        self.name = name
        self.abi = list(abi)
        self.functions: dict[str, AbiFunction] = {}
        for item in abi:
            if item.get("type") == "function":
                if item["name"] in self.functions:
                    raise ValueError(f"{name}.{item['name']} is overloaded: not supported by settle.abi")
                self.functions[item["name"]] = AbiFunction.from_abi(item)
        self.events = {str(i["name"]): AbiEvent.from_abi(i) for i in abi if i.get("type") == "event"}
        self.by_topic = {e.topic: e for e in self.events.values()}

    @classmethod
    def load(cls, name: str) -> ContractAbi:
        """The ABI of contract ``name`` from its build artifact (read once per process)."""
        return _load(name)

    def function(self, name: str) -> AbiFunction:
        try:
            return self.functions[name]
        except KeyError:
            raise ValueError(f"{self.name} has no function {name!r}") from None

    def decode_log(self, log: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """``(event name, arguments)`` of a log of this contract, None for a topic its ABI does not know."""
        topics = log.get("topics") or []
        event = self.by_topic.get(hex_bytes(topics[0])) if topics else None
        return None if event is None else (event.name, event.decode(log))


@cache
def _load(name: str) -> ContractAbi:
    from settle.compiler import load_artifact

    return ContractAbi(name, load_artifact(name)["abi"])


@dataclass(frozen=True)
class ContractCall:
    """A view function call on a contract at ``address``: what :meth:`settle.chain.Chain.read` sends and decodes."""

    address: str
    function: AbiFunction
    args: tuple[Any, ...] = ()

    @property
    def data(self) -> str:
        return "0x" + self.function.encode(self.args).hex()

    def decode(self, answer: str | bytes) -> Any:
        raw = hex_bytes(answer)
        try:
            return self.function.decode(raw)
        except Exception:  # noqa: BLE001 - eth_abi's decoding errors have no common base worth naming
            raise ChainError(
                f"{self.function.name}() of {self.address} answered 0x{raw.hex()[:80]}{'…' if len(raw) > 40 else ''}, "
                f"which is not ({', '.join(abi_type(o) for o in self.function.outputs)}): is it the contract you meant?"
            ) from None

    def __str__(self) -> str:
        return f"{self.function.name}({', '.join(map(str, self.args))}) on {self.address}"


@dataclass(frozen=True)
class ContractView:
    """A contract's ABI at an address: builds the calls :meth:`settle.chain.Chain.read` sends."""

    abi: ContractAbi
    address: str

    def call(self, name: str, *args: Any) -> ContractCall:
        return ContractCall(self.address, self.abi.function(name), args)

    def decode_log(self, log: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
        return self.abi.decode_log(log)

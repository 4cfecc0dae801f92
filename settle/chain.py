"""Chain access shared by scripts, oracle and gateway: connect, read, accounts, nonces, transactions, contract handles.

Reading goes through the project's one JSON-RPC client (:mod:`settle.rpc`, with retries and batches) and
:mod:`settle.abi`, without web3: :meth:`Chain.read`, :meth:`Chain.read_many` and :meth:`Chain.get_logs` are what
``settle status`` and ``settle agreements`` use, and they load no web3 or eth-account (about a second of imports).
web3 is loaded when something asks for :attr:`Chain.w3`: web3 contract handles, transactions, signing.

Reverts reach callers as :class:`~settle.errors.ContractRevert` with the custom error decoded by name and
arguments from the build artifacts, never as raw bytes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, cast

from eth_abi import decode as abi_decode

from settle.abi import ContractAbi, ContractCall, ContractView, hex_bytes
from settle.chaintypes import abi_type
from settle.config import DEV_CHAIN_IDS, DEV_MNEMONIC
from settle.errors import ChainError, ConfigError, ContractRevert
from settle.keccak import keccak, to_checksum_address
from settle.redact import redact_url
from settle.rpc import Rpc, RpcError, RpcUnavailable

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from eth_typing import ChecksumAddress, Hash32
    from web3 import Web3
    from web3.contract import Contract
    from web3.contract.contract import ContractFunction
    from web3.types import BlockIdentifier, TxParams, TxReceipt

log = logging.getLogger("settle.chain")

PANIC_REASONS = {
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x22: "bad storage byte array",
    0x31: "pop on empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to an uninitialised function",
}


@lru_cache(maxsize=4)
def dev_accounts(count: int = 10, mnemonic: str = DEV_MNEMONIC) -> tuple[LocalAccount, ...]:
    """The deterministic accounts anvil and ganache fund from the development mnemonic."""
    from eth_account import Account
    from eth_account.hdaccount import key_from_seed, seed_from_mnemonic

    seed = seed_from_mnemonic(mnemonic, "")
    return tuple(Account.from_key(key_from_seed(seed, f"m/44'/60'/0'/0/{i}")) for i in range(count))


@lru_cache(maxsize=1)
def _dev_addresses() -> frozenset[str]:
    return frozenset(a.address for a in dev_accounts(20))


def is_dev_account(address: str) -> bool:
    return to_checksum_address(address) in _dev_addresses()


@dataclass(frozen=True)
class _ErrorAbi:
    name: str
    types: tuple[str, ...]
    names: tuple[str, ...]


class ErrorDecoder:
    """Maps 4-byte selectors of custom errors (from ABIs) to readable messages."""

    def __init__(self, abis: Iterable[list[dict[str, Any]]] = ()):
        self._errors: dict[bytes, _ErrorAbi] = {}
        for abi in abis:
            self.add_abi(abi)

    def add_abi(self, abi: list[dict[str, Any]]) -> None:
        for item in abi:
            if item.get("type") != "error":
                continue
            types = tuple(abi_type(i) for i in item.get("inputs", []))
            selector = keccak(text=f"{item['name']}({','.join(types)})")[:4]
            self._errors[selector] = _ErrorAbi(item["name"], types, tuple(i.get("name", "") for i in item.get("inputs", [])))

    def decode(self, data: bytes | str | None) -> ContractRevert:
        raw = hex_bytes(data) if data else b""
        if not raw:
            return ContractRevert("transaction reverted without a reason", data=raw)
        selector, payload = raw[:4], raw[4:]
        if selector == keccak(text="Error(string)")[:4]:
            (reason,) = abi_decode(["string"], payload)
            return ContractRevert(f"reverted: {reason}", error_name="Error", args=(reason,), data=raw)
        if selector == keccak(text="Panic(uint256)")[:4]:
            (code,) = abi_decode(["uint256"], payload)
            return ContractRevert(f"panic: {PANIC_REASONS.get(code, hex(code))}", error_name="Panic", args=(code,), data=raw)
        known = self._errors.get(selector)
        if known is None:
            return ContractRevert(f"reverted with unknown error 0x{raw.hex()}", data=raw)
        try:
            values = abi_decode(list(known.types), payload)
        except Exception:  # noqa: BLE001 - malformed payload: still name the error
            return ContractRevert(f"{known.name} (undecodable arguments 0x{payload.hex()})", error_name=known.name, data=raw)
        shown = ", ".join(f"{n}={_show(v)}" if n else _show(v) for n, v in zip(known.names, values, strict=True))
        return ContractRevert(f"{known.name}({shown})", error_name=known.name, args=tuple(values), data=raw)


def _show(value: Any) -> str:
    if isinstance(value, str) and len(value) == 42 and value.startswith("0x"):
        return to_checksum_address(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_show(v) for v in value) + ")"
    return str(value)


def _revert_data(exc: BaseException) -> str | None:
    data = getattr(exc, "data", None)
    if isinstance(data, dict):  # ganache puts the revert data under "result"
        data = data.get("data") or data.get("result")
    if isinstance(data, str) and data.startswith("0x"):
        return data
    response = getattr(exc, "rpc_response", None)  # web3's Web3RPCError
    if isinstance(response, dict):
        err = response.get("error", {})
        if isinstance(err, dict) and isinstance(err.get("data"), str):
            return err["data"]
    return None


#: Blocks per ``eth_getLogs`` request (``Chain.get_logs``): within what hosted nodes accept.
LOG_RANGE = 10_000
#: Calls per JSON-RPC batch (``Chain.read_many``): within what hosted nodes accept (often 100 to 1,000).
READ_BATCH = 100


class Chain:
    """A connection to one EVM network plus the artifacts needed to talk to Settle's contracts."""

    def __init__(
        self,
        url: str,
        *,
        chain_id: int | None = None,
        confirmations: int = 0,
        decoder: ErrorDecoder | None = None,
        receipt_timeout: float = 120.0,
        timeout: float = 30.0,
    ):
        self._url = url
        self._timeout = timeout
        self._rpc = Rpc(url, timeout=timeout)
        self._w3: Web3 | None = None
        self._w3_lock = threading.Lock()
        self.confirmations = confirmations
        self.receipt_timeout = receipt_timeout
        self._decoder = decoder
        self._nonces: dict[str, int] = {}
        self._nonce_lock = threading.Lock()
        if chain_id is None:
            try:  # one attempt: a node that is not there now is a configuration matter, not a busy node
                chain_id = int(self._rpc.call("eth_chainId", retries=0), 16)
            except ChainError as exc:
                reason = exc.reason if isinstance(exc, RpcUnavailable) else str(exc)
                raise ChainError(f"cannot reach the chain at {redact_url(url)}: {reason}") from None
        self.chain_id = chain_id

    @classmethod
    def connect(cls, url: str, *, expected_chain_id: int | None = None, confirmations: int = 0, timeout: float = 30.0) -> Chain:
        chain = cls(url, confirmations=confirmations, timeout=timeout)
        if expected_chain_id is not None and chain.chain_id != expected_chain_id:
            raise ChainError(f"{url} serves chain id {chain.chain_id}, expected {expected_chain_id}: check the network config")
        return chain

    @property
    def url(self) -> str:
        """The node's RPC URL (may hold an API key: show it through ``settle.redact.redact_url``)."""
        return self._url

    @property
    def w3(self) -> Web3:
        """web3 on the same node, made (and imported) on first use: for web3 contract handles and transactions."""
        if self._w3 is None:
            with self._w3_lock:
                if self._w3 is None:
                    from web3 import HTTPProvider, Web3

                    # The chain id is cached: web3 asks for it before every eth_call and transaction otherwise, and
                    # a URL's chain id does not change while a process runs.
                    provider = HTTPProvider(
                        self._url,
                        request_kwargs={"timeout": self._timeout},
                        cache_allowed_requests=True,
                        cacheable_requests={"eth_chainId"},
                    )
                    self._w3 = Web3(provider)
        return self._w3

    def rpc(self) -> Rpc:
        """A JSON-RPC client of its own (:mod:`settle.rpc`, with retries) to the same node, for callers that batch
        calls or decode results themselves and close it when done (a worker thread, a listener)."""
        return Rpc(self._url)

    @property
    def is_dev(self) -> bool:
        return self.chain_id in DEV_CHAIN_IDS

    @property
    def decoder(self) -> ErrorDecoder:
        if self._decoder is None:
            from settle.compiler import all_abis

            self._decoder = ErrorDecoder(all_abis().values())
        return self._decoder

    # -- accounts -------------------------------------------------------------------------------------------
    def dev_accounts(self, count: int = 10) -> tuple[LocalAccount, ...]:
        if not self.is_dev:
            raise ConfigError(f"development accounts are refused on chain id {self.chain_id}: use a keystore")
        return dev_accounts(count)

    def check_signer(self, account: LocalAccount) -> None:
        if not self.is_dev and is_dev_account(account.address):
            raise ConfigError(
                f"{account.address} is a public development key and chain id {self.chain_id} is not a dev chain: use a keystore account"
            )

    def next_nonce(self, address: str) -> int:
        with self._nonce_lock:
            if address not in self._nonces:
                self._nonces[address] = int(self.w3.eth.get_transaction_count(cast("ChecksumAddress", address), "pending"))
            nonce = self._nonces[address]
            self._nonces[address] = nonce + 1
            return nonce

    def forget_nonce(self, address: str) -> None:
        """Re-read the nonce from the node next time (after a failed send or a reset chain)."""
        with self._nonce_lock:
            self._nonces.pop(address, None)

    # -- reading (no web3) -----------------------------------------------------------------------------------
    def view(self, name: str, address: str) -> ContractView:
        """Contract ``name``'s ABI at ``address``, for :meth:`read` and :meth:`read_many` (no web3)."""
        return ContractView(ContractAbi.load(name), to_checksum_address(address))

    def read(self, call: ContractCall, *, block: int | str = "latest") -> Any:
        """One view call (``eth_call``) at ``block``, decoded as web3 decodes it; a revert raises it decoded."""
        try:
            answer = self._rpc.call("eth_call", [{"to": call.address, "data": call.data}, _block_tag(block)])
        except RpcError as exc:
            raise self.translate(exc) from None
        return call.decode(answer)

    def read_many(
        self, calls: Sequence[ContractCall], *, block: int | str = "latest", errors: Literal["raise", "return"] = "raise"
    ) -> list[Any]:
        """View calls at ``block`` in JSON-RPC batches of at most :data:`READ_BATCH` (one round trip each), decoded in
        order. A failed call (a revert, an answer that does not decode) raises, a revert decoded; with
        ``errors="return"`` its :class:`~settle.errors.ChainError` takes its place instead (a revert as the node's
        :class:`~settle.rpc.RpcError`, which :meth:`translate` decodes)."""
        tag = _block_tag(block)
        out: list[Any] = []
        for first in range(0, len(calls), READ_BATCH):
            part = calls[first : first + READ_BATCH]
            answers = self._batch([("eth_call", [{"to": c.address, "data": c.data}, tag]) for c in part])
            for call, answer in zip(part, answers, strict=True):
                if isinstance(answer, RpcError):
                    if errors == "raise":
                        raise self.translate(answer) from None
                    out.append(answer)
                    continue
                try:
                    out.append(call.decode(answer))
                except ChainError as exc:
                    if errors == "raise":
                        raise
                    out.append(exc)
        return out

    def request_many(self, requests: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Raw JSON-RPC requests (``eth_getBlockByNumber``, …) in batches; a failed one raises its :class:`RpcError`."""
        out: list[Any] = []
        for first in range(0, len(requests), READ_BATCH):
            for answer in self._batch(requests[first : first + READ_BATCH]):
                if isinstance(answer, RpcError):
                    raise answer
                out.append(answer)
        return out

    def _batch(self, requests: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        if len(requests) == 1:  # no batch for one call: a node without batch support answers it too
            method, params = requests[0]
            try:
                return [self._rpc.call(method, params)]
            except RpcError as exc:
                return [exc]
        try:
            return self._rpc.batch(requests)
        except RpcError as exc:  # the node refused the batch as a whole (no batch support): one request each
            log.debug("RPC at %s refused a batch (%s): sending its %d requests one by one", self._rpc.where, exc, len(requests))
            return [self._batch([request])[0] for request in requests]

    def block_header(self, block: int | str = "latest") -> dict[str, Any]:
        """The header of ``block`` as the node answers it (hex strings); ChainError if the node does not have it."""
        header = self._rpc.call("eth_getBlockByNumber", [_block_tag(block), False])
        if not header:
            raise ChainError(f"no block {block} on chain {self.chain_id} (the latest is {self.head()})")
        return dict(header)

    def head(self) -> int:
        """The latest block number."""
        return self._rpc.head()

    def block_times(self, numbers: Iterable[int]) -> dict[int, int]:
        """The timestamp of each block in ``numbers``, in batches."""
        wanted = sorted(set(numbers))
        times: dict[int, int] = {}
        for first in range(0, len(wanted), READ_BATCH):
            part = wanted[first : first + READ_BATCH]
            for number, header in zip(part, self._batch([("eth_getBlockByNumber", [hex(n), False]) for n in part]), strict=True):
                if isinstance(header, RpcError):
                    raise header
                if not header:
                    raise ChainError(f"no block {number} on chain {self.chain_id}")
                times[number] = int(header["timestamp"], 16)
        return times

    def code(self, address: str, block: int | str = "latest") -> bytes:
        """The code at ``address`` (empty for an account without code)."""
        return hex_bytes(self._rpc.call("eth_getCode", [to_checksum_address(address), _block_tag(block)]))

    # -- contracts ------------------------------------------------------------------------------------------
    def contract(self, name: str, address: str) -> Contract:
        from settle.compiler import load_artifact

        return self.w3.eth.contract(address=cast("ChecksumAddress", to_checksum_address(address)), abi=load_artifact(name)["abi"])

    def deploy(self, name: str, *args: Any, sender: LocalAccount) -> Contract:
        from settle.compiler import load_artifact

        artifact = load_artifact(name)
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        # Explicit gas, fees and nonce keep build_transaction from asking the node; send() fills in real ones.
        data = factory.constructor(*args).build_transaction({"gas": 1, "gasPrice": 0, "nonce": 0, "chainId": self.chain_id})["data"]
        receipt = self.send({"data": data}, sender)
        address = receipt["contractAddress"]
        if address is None:
            raise ChainError(f"deploying {name} created no contract (tx 0x{bytes(receipt['transactionHash']).hex()})")
        return self.w3.eth.contract(address=address, abi=artifact["abi"])

    # -- calls and transactions -----------------------------------------------------------------------------
    def call(self, fn: ContractFunction, *, sender: str | None = None, block: int | str = "latest") -> Any:
        """A view call through a web3 contract handle (code that holds one); :meth:`read` is the same without web3."""
        from web3.exceptions import ContractLogicError, Web3RPCError

        try:
            return fn.call(cast("TxParams", {"from": sender} if sender else {}), block_identifier=cast("BlockIdentifier", block))
        except (ContractLogicError, Web3RPCError) as exc:
            raise self.translate(exc) from None

    def transact(self, fn: ContractFunction, sender: LocalAccount, *, value: int = 0, gas: int | None = None) -> TxReceipt:
        tx = {"to": fn.address, "data": fn._encode_transaction_data(), "value": value}
        if gas is not None:
            tx["gas"] = gas
        return self.send(tx, sender)

    def estimate(self, tx: dict[str, Any], sender: str) -> int:
        from web3.exceptions import ContractLogicError, Web3RPCError

        try:
            return int(self.w3.eth.estimate_gas(cast("TxParams", {**tx, "from": sender})))
        except (ContractLogicError, Web3RPCError) as exc:
            raise self.translate(exc) from None

    def fees(self) -> dict[str, int]:
        base = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
        try:
            tip = int(self.w3.eth.max_priority_fee)
        except Exception:  # noqa: BLE001 - nodes without eth_maxPriorityFeePerGas
            tip = 10**9
        return {"maxFeePerGas": 2 * base + tip, "maxPriorityFeePerGas": tip}

    def sign(self, tx: dict[str, Any], sender: LocalAccount) -> tuple[bytes, dict[str, Any]]:
        """Fill in chain id, nonce, gas and fees; return the raw signed transaction and the filled dict."""
        self.check_signer(sender)
        full = {"chainId": self.chain_id, "value": 0, **tx}
        full.setdefault("gas", self._gas_with_margin(self.estimate(full, sender.address)))
        if "maxFeePerGas" not in full and "gasPrice" not in full:
            full.update(self.fees())
        full["nonce"] = self.next_nonce(sender.address) if "nonce" not in full else full["nonce"]
        signed = sender.sign_transaction(full)
        return bytes(signed.raw_transaction), full

    def send(self, tx: dict[str, Any], sender: LocalAccount) -> TxReceipt:
        from web3.exceptions import Web3RPCError

        raw, full = self.sign(tx, sender)
        try:
            tx_hash = self.w3.eth.send_raw_transaction(raw)
        except Web3RPCError as exc:
            self.forget_nonce(sender.address)
            raise ChainError(f"node refused the transaction from {sender.address}: {_rpc_message(exc)}") from None
        return self.wait(tx_hash, full, sender.address)

    def wait(self, tx_hash: bytes, tx: dict[str, Any] | None = None, sender: str | None = None) -> TxReceipt:
        from web3.exceptions import TimeExhausted

        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(cast("Hash32", tx_hash), timeout=self.receipt_timeout, poll_latency=0.05)
        except TimeExhausted:
            raise ChainError(f"transaction 0x{bytes(tx_hash).hex()} was not mined within {self.receipt_timeout:.0f}s") from None
        if receipt["status"] != 1:
            raise self._failure(receipt, tx, sender)
        if self.confirmations > 0:
            self._await_depth(receipt["blockNumber"])
        return receipt

    def _await_depth(self, block_number: int) -> None:
        import time

        deadline = time.monotonic() + self.receipt_timeout
        while self.w3.eth.block_number - block_number + 1 < self.confirmations:
            if time.monotonic() > deadline:
                raise ChainError(f"block {block_number} did not reach {self.confirmations} confirmations in time")
            time.sleep(0.5)

    def _failure(self, receipt: TxReceipt, tx: dict[str, Any] | None, sender: str | None) -> ContractRevert:
        from web3.exceptions import ContractLogicError, Web3RPCError

        tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
        if tx is not None:
            replay = {k: tx[k] for k in ("to", "data", "value") if k in tx}
            try:
                self.w3.eth.call(cast("TxParams", {**replay, "from": sender}), block_identifier=receipt["blockNumber"] - 1)
            except (ContractLogicError, Web3RPCError) as exc:
                revert = self.translate(exc)
                if not isinstance(revert, ContractRevert):  # the replay failed for another reason: say what the node said
                    return ContractRevert(f"transaction {tx_hash} reverted (gas used {receipt['gasUsed']}; replaying it: {revert})")
                return ContractRevert(f"{revert} (tx {tx_hash})", error_name=revert.error_name, args=revert.error_args, data=revert.data)
        return ContractRevert(f"transaction {tx_hash} reverted (gas used {receipt['gasUsed']})")

    def get_logs(self, params: dict[str, Any], *, from_block: int = 0, to_block: int | str = "latest", step: int = LOG_RANGE) -> list[Any]:
        """``eth_getLogs`` with ``params`` (address, topics) over ``from_block``..``to_block`` in ranges of at most
        ``step`` blocks: hosted nodes refuse long ranges (or too many results per request); a range the node refuses
        is split in halves until it passes or is a single block. Logs come as web3 formats them (numbers as int,
        hashes, topics and data as bytes, the address checksummed), as plain dicts."""
        end = self.head() if to_block == "latest" else int(to_block)
        found: list[Any] = []
        start = from_block
        size = max(step, 1)
        while start <= end:
            stop = min(start + size - 1, end)
            try:
                found.extend(
                    _log(entry) for entry in self._rpc.call("eth_getLogs", [{**params, "fromBlock": hex(start), "toBlock": hex(stop)}])
                )
            except RpcError as exc:
                if stop == start:
                    raise self.translate(exc) from None
                size = max((stop - start + 1) // 2, 1)
                continue
            start = stop + 1
        return found

    def translate(self, exc: BaseException) -> ChainError:
        """The :class:`ChainError` a web3 or RPC failure means: a revert decoded by name and arguments from the
        artifacts' ABIs when it carries revert data (an :class:`~settle.rpc.RpcError` too), else the node's message."""
        if isinstance(exc, RpcError):
            return self.decoder.decode(exc.data) if exc.data is not None else ChainError(str(exc))
        data = _revert_data(exc)
        if data is not None:
            return self.decoder.decode(data)
        from web3.exceptions import ContractLogicError  # a web3 failure: web3 is loaded already

        if isinstance(exc, ContractLogicError):
            return ContractRevert(str(exc.message if hasattr(exc, "message") else exc))
        return ChainError(_rpc_message(exc))

    @staticmethod
    def _gas_with_margin(estimate: int) -> int:
        # Estimates are exact for the state they ran on; a margin absorbs storage that changes before mining.
        return estimate + estimate // 5 + 10_000


def _rpc_message(exc: BaseException) -> str:
    response = getattr(exc, "rpc_response", None)
    if isinstance(response, dict) and isinstance(response.get("error"), dict):
        return str(response["error"].get("message", exc))
    return str(exc)


def _block_tag(block: int | str) -> str:
    return hex(block) if isinstance(block, int) else block


#: Log fields JSON-RPC gives as hex numbers and as hex bytes (web3 turns them into int and bytes).
_LOG_NUMBERS = ("blockNumber", "logIndex", "transactionIndex")
_LOG_BYTES = ("blockHash", "transactionHash", "data")


def _log(entry: dict[str, Any]) -> dict[str, Any]:
    """A log as JSON-RPC answers it, formatted as web3 formats it."""
    out = dict(entry)
    for key in _LOG_NUMBERS:
        if isinstance(out.get(key), str):
            out[key] = int(out[key], 16)
    for key in _LOG_BYTES:
        if isinstance(out.get(key), str):
            out[key] = hex_bytes(out[key])
    if "topics" in out:
        out["topics"] = [hex_bytes(t) for t in out["topics"]]
    if isinstance(out.get("address"), str):
        out["address"] = to_checksum_address(out["address"])
    return out


class DevChain:
    """Anvil/ganache-only helpers for tests and the demo: time travel, mining and snapshots."""

    def __init__(self, chain: Chain):
        if not chain.is_dev:
            raise ConfigError(f"chain id {chain.chain_id} is not a dev chain: time travel and snapshots are dev-only")
        self.chain = chain
        self.w3 = chain.w3

    def _rpc(self, method: str, params: list[Any]) -> Any:
        response = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in response:
            raise ChainError(f"{method} failed: {response['error']}")
        return response["result"]

    def snapshot(self) -> str:
        return str(self._rpc("evm_snapshot", []))

    def revert(self, snapshot_id: str) -> None:
        if not self._rpc("evm_revert", [snapshot_id]):
            raise ChainError(f"evm_revert to snapshot {snapshot_id} failed")
        self.chain._nonces.clear()

    def mine(self, timestamp: int | None = None) -> None:
        self._rpc("evm_mine", [timestamp] if timestamp is not None else [])

    def set_next_timestamp(self, timestamp: int) -> None:
        self._rpc("evm_setNextBlockTimestamp", [timestamp])

    def advance_to(self, timestamp: int) -> None:
        """Mine a block at ``timestamp`` (must be later than the latest block)."""
        self.mine(timestamp)

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

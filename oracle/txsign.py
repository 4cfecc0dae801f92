"""Fast transaction building for usage reports: hand-rolled ABI encoding of ``reportUsage`` and EIP-1559 signing
with coincurve (about 10× faster than going through web3 and eth-account; unit tests check byte equality with
both). The private key lives only inside :class:`FastSigner` and is never logged or shown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import rlp
from _pysha3 import keccak_256
from coincurve import PrivateKey
from eth_account.signers.local import LocalAccount

REPORT_USAGE_SIGNATURE = "reportUsage(uint32,bytes32,bytes32,uint16,(uint8,uint64)[])"
REPORT_USAGE_SELECTOR = keccak_256(REPORT_USAGE_SIGNATURE.encode()).digest()[:4]
REPORT_USAGE_WITH_SIGNATURE_SIGNATURE = "reportUsageWithSignature(uint32,bytes32,bytes32,uint16,uint40,(uint8,uint64)[],bytes)"
REPORT_USAGE_WITH_SIGNATURE_SELECTOR = keccak_256(REPORT_USAGE_WITH_SIGNATURE_SIGNATURE.encode()).digest()[:4]
USAGE_EPOCH_SELECTOR = keccak_256(b"usageEpoch()").digest()[:4]
FACTORY_SELECTOR = keccak_256(b"factory()").digest()[:4]
ORACLE_ACTIVE_FROM_SELECTOR = keccak_256(b"oracleActiveFrom(address)").digest()[:4]
USAGE_REPORTED_SIGNATURE = "UsageReported(uint32,uint8,uint64,uint64,bytes32,bytes32)"
USAGE_REPORTED_TOPIC = keccak_256(USAGE_REPORTED_SIGNATURE.encode()).digest()
CORRECT_USAGE_SIGNATURE = "correctUsage(uint32,uint8,uint64,bytes32,string)"
CORRECT_USAGE_SELECTOR = keccak_256(CORRECT_USAGE_SIGNATURE.encode()).digest()[:4]
USAGE_CORRECTED_SIGNATURE = "UsageCorrected(uint32,uint8,uint64,uint64,bytes32,string,uint16)"
USAGE_CORRECTED_TOPIC = keccak_256(USAGE_CORRECTED_SIGNATURE.encode()).digest()


def encode_report_usage(period: int, report_id: bytes, root: bytes, epoch: int, usages: Sequence[tuple[int, int]]) -> bytes:
    """Calldata of ``reportUsage(period, reportId, recordsRoot, epoch, usages)``."""
    if len(report_id) != 32 or len(root) != 32:
        raise ValueError("report id and root must be 32 bytes")
    parts = [
        REPORT_USAGE_SELECTOR,
        period.to_bytes(32, "big"),
        report_id,
        root,
        epoch.to_bytes(32, "big"),
        (5 * 32).to_bytes(32, "big"),
        len(usages).to_bytes(32, "big"),
    ]
    for meter, cumulative in usages:
        parts.append(meter.to_bytes(32, "big"))
        parts.append(cumulative.to_bytes(32, "big"))
    return b"".join(parts)


def encode_correct_usage(period: int, meter: int, corrected: int, root: bytes, reason: str) -> bytes:
    """Calldata of ``correctUsage(period, meter, corrected, recordsRoot, reason)``."""
    if len(root) != 32:
        raise ValueError("root must be 32 bytes")
    text = reason.encode()
    return b"".join(
        [
            CORRECT_USAGE_SELECTOR,
            period.to_bytes(32, "big"),
            meter.to_bytes(32, "big"),
            corrected.to_bytes(32, "big"),
            root,
            (5 * 32).to_bytes(32, "big"),
            len(text).to_bytes(32, "big"),
            text + bytes(-len(text) % 32),
        ]
    )


def decode_usage_corrected(data: bytes) -> tuple[int, int, bytes, str, int]:
    """The data of a ``UsageCorrected`` event: (previous, corrected, recordsRoot, reason, epoch)."""
    previous = int.from_bytes(data[0:32], "big")
    corrected = int.from_bytes(data[32:64], "big")
    root = data[64:96]
    offset = int.from_bytes(data[96:128], "big")
    epoch = int.from_bytes(data[128:160], "big")
    length = int.from_bytes(data[offset : offset + 32], "big")
    reason = data[offset + 32 : offset + 32 + length].decode("utf-8", "replace")
    return previous, corrected, root, reason, epoch


def _k(data: bytes) -> bytes:
    return keccak_256(data).digest()


_DOMAIN_TYPEHASH = _k(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
_USAGE_REPORT_TYPEHASH = _k(
    b"UsageReport(uint32 period,bytes32 reportId,bytes32 recordsRoot,uint16 epoch,uint40 signerSince,MeterUsage[] usages)"
    b"MeterUsage(uint8 meter,uint64 cumulative)"
)
_METER_USAGE_TYPEHASH = _k(b"MeterUsage(uint8 meter,uint64 cumulative)")
EIP712_NAME = "Settle BillingAgreement"
EIP712_VERSION = "1"


def report_digest(
    chain_id: int,
    agreement: str,
    period: int,
    report_id: bytes,
    root: bytes,
    epoch: int,
    signer_since: int,
    usages: Sequence[tuple[int, int]],
) -> bytes:
    """The EIP-712 digest an oracle signer signs to authorise a relayed report (the agreement's
    ``usageReportDigest``; a test compares both). ``epoch`` is the agreement's usage epoch the report is built on,
    ``signer_since`` the signer's ``oracleActiveFrom``: a correction or a new grant of the role voids the signature."""
    domain = _k(
        _DOMAIN_TYPEHASH
        + _k(EIP712_NAME.encode())
        + _k(EIP712_VERSION.encode())
        + chain_id.to_bytes(32, "big")
        + bytes(12)
        + bytes.fromhex(agreement[2:])
    )
    usage_hashes = b"".join(_k(_METER_USAGE_TYPEHASH + m.to_bytes(32, "big") + c.to_bytes(32, "big")) for m, c in usages)
    struct = _k(
        _USAGE_REPORT_TYPEHASH
        + period.to_bytes(32, "big")
        + report_id
        + root
        + epoch.to_bytes(32, "big")
        + signer_since.to_bytes(32, "big")
        + _k(usage_hashes)
    )
    return _k(b"\x19\x01" + domain + struct)


def encode_report_usage_with_signature(
    period: int, report_id: bytes, root: bytes, epoch: int, signer_since: int, usages: Sequence[tuple[int, int]], signature: bytes
) -> bytes:
    """Calldata of ``reportUsageWithSignature(period, reportId, recordsRoot, epoch, signerSince, usages, signature)``."""
    if len(report_id) != 32 or len(root) != 32:
        raise ValueError("report id and root must be 32 bytes")
    usages_offset = 7 * 32
    signature_offset = usages_offset + 32 + 64 * len(usages)
    parts = [
        REPORT_USAGE_WITH_SIGNATURE_SELECTOR,
        period.to_bytes(32, "big"),
        report_id,
        root,
        epoch.to_bytes(32, "big"),
        signer_since.to_bytes(32, "big"),
        usages_offset.to_bytes(32, "big"),
        signature_offset.to_bytes(32, "big"),
        len(usages).to_bytes(32, "big"),
    ]
    for meter, cumulative in usages:
        parts.append(meter.to_bytes(32, "big"))
        parts.append(cumulative.to_bytes(32, "big"))
    parts.append(len(signature).to_bytes(32, "big"))
    parts.append(signature + bytes(-len(signature) % 32))
    return b"".join(parts)


@dataclass(frozen=True)
class SignedTx:
    raw: bytes
    hash: bytes
    nonce: int


@dataclass(frozen=True)
class Type2Tx:
    """The fields of a signed EIP-1559 transaction that a replacement keeps or changes."""

    nonce: int
    max_priority_fee: int
    max_fee: int
    gas: int
    to: str
    data: bytes


def decode_type2(raw: bytes) -> Type2Tx:
    """Read back a signed EIP-1559 (type 2) transaction."""
    if raw[:1] != b"\x02":
        raise ValueError("not an EIP-1559 (type 2) transaction")
    f = rlp.decode(raw[1:])

    def num(b: bytes) -> int:
        return int.from_bytes(b, "big")

    return Type2Tx(nonce=num(f[1]), max_priority_fee=num(f[2]), max_fee=num(f[3]), gas=num(f[4]), to="0x" + f[5].hex(), data=f[7])


class FastSigner:
    """Signs EIP-1559 (type 2) transactions for one account."""

    def __init__(self, account: LocalAccount):
        self.address = account.address
        self._key = PrivateKey(bytes(account.key))

    def __repr__(self) -> str:
        return f"FastSigner({self.address})"

    def sign(
        self, *, chain_id: int, nonce: int, to: str, data: bytes, gas: int, max_fee: int, max_priority_fee: int, value: int = 0
    ) -> SignedTx:
        fields = [chain_id, nonce, max_priority_fee, max_fee, gas, bytes.fromhex(to[2:]), value, data, []]
        payload = rlp.encode(fields)
        digest = keccak_256(b"\x02" + payload).digest()
        sig = self._key.sign_recoverable(digest, hasher=None)
        r = int.from_bytes(sig[:32], "big")
        s = int.from_bytes(sig[32:64], "big")
        raw = b"\x02" + rlp.encode([*fields, sig[64], r, s])
        return SignedTx(raw=raw, hash=keccak_256(raw).digest(), nonce=nonce)

    def sign_digest(self, digest: bytes) -> bytes:
        """A 65-byte ``r ‖ s ‖ v`` signature of a 32-byte digest (EIP-712), as the contracts' ECDSA recovery reads it."""
        sig = self._key.sign_recoverable(digest, hasher=None)
        return sig[:64] + bytes([27 + sig[64]])

"""Keccak-256 and EIP-55 checksummed addresses, without importing eth_utils.

The spec and terms path (``settle agreement validate``, the oracle's checks) needs only these few functions, and
importing eth_utils costs about a quarter of a second (it builds pydantic models and network tables on import).
Keccak-256 comes from ``_pysha3`` (safe-pysha3), which the oracle's Merkle trees already use. The results equal
eth_utils' (``tests/test_keccak.py`` compares them).
"""

from __future__ import annotations

import re

from _pysha3 import keccak_256

_HEX_ADDRESS = re.compile(r"^(0x)?[0-9a-fA-F]{40}$")


def keccak(primitive: bytes | bytearray | memoryview | None = None, *, text: str | None = None) -> bytes:
    """Keccak-256 of ``primitive`` (bytes) or of ``text`` encoded as UTF-8: 32 bytes."""
    if (primitive is None) == (text is None):
        raise TypeError("keccak takes either bytes or text=")
    data = text.encode("utf-8") if text is not None else bytes(primitive)  # type: ignore[arg-type]
    return keccak_256(data).digest()


def is_checksum_address(value: object) -> bool:
    """``value`` is ``0x`` and 40 hex digits in exactly the EIP-55 mixed case."""
    if not isinstance(value, str) or not value.startswith("0x") or not _HEX_ADDRESS.match(value):
        return False
    return _checksummed(value[2:].lower()) == value


def is_address(value: object) -> bool:
    """``value`` is an address in any case (``0x`` optional; the checksum is not checked, as eth_utils'
    ``is_address`` does not), or 20 bytes."""
    if isinstance(value, bytes | bytearray):
        return len(value) == 20
    return isinstance(value, str) and _HEX_ADDRESS.match(value) is not None


def to_checksum_address(value: str | bytes | bytearray) -> str:
    """The EIP-55 form of a 20-byte address given as hex (any case, ``0x`` optional) or as bytes; ValueError if it
    is not one."""
    if isinstance(value, bytes | bytearray):
        if len(value) != 20:
            raise ValueError(f"{bytes(value)!r} is not a 20-byte address")
        return _checksummed(bytes(value).hex())
    if not isinstance(value, str) or not _HEX_ADDRESS.match(value):
        raise ValueError(f"{value!r} is not an address (0x and 40 hex digits)")
    return _checksummed(value.removeprefix("0x").lower())


def _checksummed(lower_hex: str) -> str:
    digest = keccak_256(lower_hex.encode("ascii")).hexdigest()
    return "0x" + "".join(c.upper() if int(h, 16) >= 8 else c for c, h in zip(lower_hex, digest[:40], strict=True))

"""settle.keccak gives exactly what eth_utils gives (the spec and terms path uses it to stay off eth_utils' import)."""

from __future__ import annotations

import eth_utils
import pytest
from hypothesis import given
from hypothesis import strategies as st

from settle.keccak import is_address, is_checksum_address, keccak, to_checksum_address

ADDRESSES = st.binary(min_size=20, max_size=20)


@given(st.binary(max_size=300))
def test_keccak_of_bytes(data: bytes) -> None:
    assert keccak(data) == eth_utils.keccak(data)


@given(st.text(max_size=80))
def test_keccak_of_text(text: str) -> None:
    assert keccak(text=text) == eth_utils.keccak(text=text)


def test_keccak_takes_bytes_or_text_not_both() -> None:
    with pytest.raises(TypeError):
        keccak(b"x", text="x")
    with pytest.raises(TypeError):
        keccak()


@given(ADDRESSES)
def test_checksum_of_any_address_in_any_form(raw: bytes) -> None:
    expected = eth_utils.to_checksum_address(raw)
    lower = "0x" + raw.hex()
    for form in (raw, lower, lower.upper().replace("0X", "0x"), expected, raw.hex()):
        assert to_checksum_address(form) == expected
    assert is_checksum_address(expected)
    assert is_checksum_address(lower) == eth_utils.is_checksum_address(lower)
    for form in (raw, lower, expected, raw.hex(), expected.swapcase().replace("0X", "0x")):
        assert is_address(form) is eth_utils.is_address(form) is True


@given(ADDRESSES, st.integers(min_value=2, max_value=41))
def test_a_flipped_letter_breaks_the_checksum(raw: bytes, position: int) -> None:
    good = eth_utils.to_checksum_address(raw)
    if not good[position].isalpha():
        return
    bad = good[:position] + good[position].swapcase() + good[position + 1 :]
    assert is_checksum_address(bad) is eth_utils.is_checksum_address(bad) is False


@pytest.mark.parametrize("value", ["", "0x", "0x" + "1" * 39, "0x" + "1" * 41, "0x" + "g" * 40, 12, None, b"\x00" * 19])
def test_what_is_not_an_address(value: object) -> None:
    assert is_checksum_address(value) is False
    assert is_address(value) is eth_utils.is_address(value) is False
    with pytest.raises(ValueError):
        to_checksum_address(value)  # type: ignore[arg-type]

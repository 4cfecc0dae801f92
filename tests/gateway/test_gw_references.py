"""End-to-end ids, ISO 11649 creditor references, bank reference hashes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.banking.references import (
    MAX_END_TO_END_LENGTH,
    bank_reference_hash,
    creditor_reference,
    end_to_end_id,
    find_creditor_references,
    format_creditor_reference,
    is_sepa_text,
    is_valid_creditor_reference,
    make_creditor_reference,
    parse_creditor_reference,
    parse_end_to_end_id,
    reason_code_bytes4,
    rf_check_digits,
)
from gateway.errors import InvalidReferenceError

addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
chain_ids = st.integers(min_value=1, max_value=2**63)
periods = st.integers(min_value=0, max_value=2**32 - 1)
rf_bodies = st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=21)


@given(chain_ids, addresses, periods, st.integers(min_value=0, max_value=9))
def test_end_to_end_id_fits_sepa_and_parses_back(chain_id: int, agreement: str, period: int, attempt: int) -> None:
    e2e = end_to_end_id(chain_id, agreement, period, attempt)
    assert len(e2e) <= MAX_END_TO_END_LENGTH
    assert is_sepa_text(e2e) and not e2e.startswith("/") and "//" not in e2e
    assert e2e == end_to_end_id(chain_id, agreement.upper().replace("0X", "0x"), period, attempt)  # case-insensitive address
    parsed = parse_end_to_end_id(e2e)
    assert parsed is not None and parsed[1:] == (period, attempt)


@given(chain_ids, addresses, periods, periods)
def test_end_to_end_ids_differ_per_period(chain_id: int, agreement: str, first: int, second: int) -> None:
    assert (end_to_end_id(chain_id, agreement, first) == end_to_end_id(chain_id, agreement, second)) == (first == second)


@given(chain_ids, addresses, addresses, periods)
def test_end_to_end_ids_differ_per_agreement(chain_id: int, first: str, second: str, period: int) -> None:
    assert (end_to_end_id(chain_id, first, period) == end_to_end_id(chain_id, second, period)) == (first == second)


def test_end_to_end_id_is_stable() -> None:
    # A stored reference must never change meaning: pin one value.
    assert end_to_end_id(31337, "0x" + "a1" * 20, 0) == "STL5XUV7KD2JYQOGY31QJI-0"
    assert creditor_reference(31337, "0x" + "a1" * 20, 0) == "RF3656EMROZRE5MVEST9"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, "0x" + "00" * 20, 1), "chain id: 0 is not a positive integer"),
        ((1, "0x1234", 1), "agreement: '0x1234' is not a 0x-prefixed 20-byte hex address"),
        ((1, "0x" + "00" * 20, -1), "period: -1 is not an integer between 0 and 4294967295"),
        ((1, "0x" + "00" * 20, 2**32), "period: 4294967296 is not an integer"),
    ],
)
def test_bad_reference_inputs_are_named(args: tuple, message: str) -> None:
    with pytest.raises(InvalidReferenceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        end_to_end_id(*args)


@given(rf_bodies)
def test_rf_round_trip(body: str) -> None:
    reference = make_creditor_reference(body)
    assert parse_creditor_reference(reference) == reference
    assert parse_creditor_reference(format_creditor_reference(reference).lower()) == reference
    assert 5 <= len(reference) <= 25


@given(rf_bodies, st.data())
def test_rf_detects_any_single_substitution(body: str, data: st.DataObject) -> None:
    # ISO 7064 mod 97-10 catches every substitution of a digit by a digit and of a letter by a letter (a letter
    # turned into a digit changes the length of the numeric string and is not guaranteed).
    reference = make_creditor_reference(body)
    position = data.draw(st.integers(min_value=2, max_value=len(reference) - 1))
    alphabet = "0123456789" if reference[position].isdigit() else "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    replacement = data.draw(st.sampled_from(alphabet).filter(lambda c: c != reference[position]))
    corrupted = reference[:position] + replacement + reference[position + 1 :]
    assert not is_valid_creditor_reference(corrupted)


@given(chain_ids, addresses, periods)
def test_settlement_rf_is_valid_and_20_chars(chain_id: int, agreement: str, period: int) -> None:
    reference = creditor_reference(chain_id, agreement, period)
    assert len(reference) == 20 and is_valid_creditor_reference(reference)


def test_known_rf_references() -> None:
    # Published examples (ISO 11649 / EPC): RF18 5390 0754 7034, RF18 0000 0000 0000 0000 0000 0.
    assert parse_creditor_reference("RF18 5390 0754 7034") == "RF18539007547034"
    assert rf_check_digits("539007547034") == "18"
    assert is_valid_creditor_reference("RF712348231")  # in the sepa_king pain.001 sample
    # The Finance Finland camt sample's "RF98123456789012" is illustrative only: its check digits are wrong.
    assert not is_valid_creditor_reference("RF98123456789012")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("XX18539007547034", "does not start with RF"),
        ("RF1", "has 3 characters; RF references have 5 to 25"),
        ("RF19539007547034", r"has wrong check digits \(expected 18\)"),
        ("RFAB539007547034", "must be RF, two check digits"),
        ("RF18-5390", "must be RF, two check digits"),
        ("RF18" + "1" * 22, "has 26 characters"),
    ],
)
def test_bad_rf_references_explain_themselves(text: str, message: str) -> None:
    with pytest.raises(InvalidReferenceError, match=message):
        parse_creditor_reference(text)


def test_rf_found_in_free_text() -> None:
    text = "Invoice 4711 RF64 4ESO 24LV BIV5 T5VK thank you, not RF19539007547034"
    assert find_creditor_references(text) == ["RF644ESO24LVBIV5T5VK"]
    assert find_creditor_references("") == []
    assert find_creditor_references("(ref: rf18539007547034).") == ["RF18539007547034"]


def test_bank_reference_hash_and_reason_code() -> None:
    assert bank_reference_hash("X") == "0x550c64a15031c3064454c19adc6243a6122c138a242eaa098da50bb114fc8d56"
    assert reason_code_bytes4("AM04") == "0x414d3034"
    assert reason_code_bytes4("md06") == "0x4d443036"
    with pytest.raises(InvalidReferenceError, match="reason code: 'TOOLONG'"):
        reason_code_bytes4("TOOLONG")
    with pytest.raises(InvalidReferenceError, match="bank reference: empty"):
        bank_reference_hash(" ")


def test_payment_anchor_is_what_both_statements_show() -> None:
    from datetime import date

    from gateway.banking.references import payment_anchor

    anchor = payment_anchor(" STL0ABC-3 ", 10_250, 2, "EUR", date(2026, 11, 6))
    assert anchor == "STL0ABC-3|102.50 EUR|2026-11-06"
    assert bank_reference_hash(anchor) == bank_reference_hash("STL0ABC-3|102.50 EUR|2026-11-06")
    assert payment_anchor("RF18539007547034", 5, 0, "JPY", date(2026, 1, 2)) == "RF18539007547034|5 JPY|2026-01-02"
    with pytest.raises(InvalidReferenceError, match="reference .* is empty"):
        payment_anchor("  ", 1, 2, "EUR", date(2026, 1, 2))
    with pytest.raises(InvalidReferenceError, match="negative"):
        payment_anchor("STL0ABC-3", -1, 2, "EUR", date(2026, 1, 2))


def test_first_attempt_id_strips_only_a_re_presentations_suffix() -> None:
    from gateway_testdata import AGREEMENT, CHAIN_ID

    from gateway.banking.references import first_attempt_id

    first = end_to_end_id(CHAIN_ID, AGREEMENT, 3)
    assert first_attempt_id(end_to_end_id(CHAIN_ID, AGREEMENT, 3, attempt=1)) == first == first_attempt_id(first)
    assert first_attempt_id("INV2026R1") == "INV2026R1"  # no "-<period>R<n>" at the end: left as it is

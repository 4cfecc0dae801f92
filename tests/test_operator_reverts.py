"""Decoded reverts in words: the error's NatSpec sentence with its arguments filled in (no chain needed)."""

from __future__ import annotations

from eth_utils import keccak

from settle.errors import ContractRevert
from settle.reverts import explain, role_name

ALICE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def revert(name: str, *args: object) -> ContractRevert:
    return ContractRevert(f"{name}(…)", error_name=name, args=args)


def test_addresses_and_enums_fill_the_sentence(artifacts):
    assert explain(revert("BillingAgreement_NotPayeeOrOperator", ALICE), "pause") == (
        f"pause refused: {ALICE} is neither the payee nor an operator [BillingAgreement_NotPayeeOrOperator]"
    )
    assert (
        explain(revert("BillingAgreement_InvalidState", 2))
        == "The agreement is paused, which does not allow this call [BillingAgreement_InvalidState]"
    )
    assert explain(revert("BillingAgreement_PeriodNotEnded", 3, 1_700_000_000)) == (
        "Period 3 (or its grace window) has not ended; settlement is possible from 2023-11-14T22:13:20Z [BillingAgreement_PeriodNotEnded]"
    )
    assert explain(revert("BillingAgreement_InvalidPaymentStatus", 4, 2), "dispute") == (
        "dispute refused: The settlement of period 4 is partially paid, which does not allow this call "
        "[BillingAgreement_InvalidPaymentStatus]"
    )
    assert explain(revert("BillingAgreement_SettleOutOfOrder", 7, 5)) == (
        "Periods settle in order: period 5 comes before period 7 [BillingAgreement_SettleOutOfOrder]"
    )


def test_no_agreement_error_starts_with_a_bare_number(artifacts):
    """The review found "3 (or its grace window) has not ended": a number at the start of a sentence is named first
    ("Period 3 …"); an address may be the subject."""
    from settle.reverts import _error_inputs, _notices

    inputs = _error_inputs()
    for name, notice in _notices().items():
        if not name.startswith("BillingAgreement_") or not notice.startswith("`"):
            continue
        kinds = {i["name"]: i["type"] for i in inputs.get(name, [])}
        assert kinds.get(notice.split("`")[1], "address") == "address", (name, notice)


def test_roles_are_named(artifacts):
    assert role_name(keccak(text="GATEWAY_ROLE")) == "gateway" and role_name(b"\0" * 32) == "admin"
    assert explain(revert("AccessControlUnauthorizedAccount", ALICE, keccak(text="OPERATOR_ROLE")), "create") == (
        f"create refused: {ALICE} does not hold the operator role [AccessControlUnauthorizedAccount]"
    )


def test_arguments_the_sentence_does_not_name_are_kept(artifacts):
    token = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    assert explain(revert("AgreementFactory_TokenNotAllowed", token)) == (
        f"The terms name an ERC-20 token that is not allow-listed [AgreementFactory_TokenNotAllowed(token={token})]"
    )


def test_unknown_errors_and_panics_keep_the_decoded_form(artifacts):
    panic = ContractRevert("panic: arithmetic overflow or underflow", error_name="Panic", args=(0x11,))
    assert explain(panic, "settle") == "settle refused: panic: arithmetic overflow or underflow"
    raw = ContractRevert("reverted with unknown error 0xdeadbeef")
    assert explain(raw) == "reverted with unknown error 0xdeadbeef"

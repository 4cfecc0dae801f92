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
        == "The agreement is in Paused, which does not allow this call [BillingAgreement_InvalidState]"
    )
    assert explain(revert("BillingAgreement_PeriodNotEnded", 3, 1_700_000_000)) == (
        "3 (or its grace window) has not ended; settlement is possible from 2023-11-14T22:13:20Z [BillingAgreement_PeriodNotEnded]"
    )


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

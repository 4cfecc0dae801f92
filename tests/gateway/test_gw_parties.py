"""Master data: every bad input is refused with a message naming field and value, and nothing is stored."""

from __future__ import annotations

from datetime import date

import pytest
from gateway_testdata import AGREEMENT, CHAIN_ID, CREDITOR_ID, MANDATE, PAYEE, PAYER, PAYER_IBAN, Database, seed_parties

from gateway import parties
from gateway.errors import ConflictError, MasterDataError, NotFoundError
from gateway.models import MandateStatus, PaymentMethodKind, SequenceType
from settle.errors import SettleError, ValidationError

OTHER = "0x3333333333333333333333333333333333333333"


def test_party_with_account_and_derived_bic(db: Database) -> None:
    with db.session() as session:
        party = parties.add_party(session, address=PAYER.upper().replace("0X", "0x"), legal_name="  Payer   GmbH ", country="de")
        account = parties.add_bank_account(session, PAYER, iban_value="de89 3704 0044 0532 0130 00")
        assert (party.chain_address, party.legal_name, party.country) == (PAYER, "Payer GmbH", "DE")
        assert (account.iban, account.bic) == (PAYER_IBAN, "COBADEFFXXX")
    with db.session() as session:
        assert [p.chain_address for p in parties.list_parties(session)] == [PAYER]


BAD_PARTIES = [
    ({"address": "0x12"}, MasterDataError, "chain address: '0x12' is not a 0x-prefixed 40-digit hex address"),
    ({"legal_name": "x" * 141}, MasterDataError, "legal name: 'xxxxxxxxxxxxxxxxxxxxxxxx'… is 141 characters; the limit is 140"),
    ({"legal_name": "   "}, MasterDataError, "legal name: must not be empty"),
    ({"country": "Germany"}, MasterDataError, "country: 'Germany' is not a two-letter ISO 3166 country code"),
    ({"vat": "123"}, MasterDataError, "VAT id: '123' must be a country prefix"),
    ({"creditor_id": "DE99ZZZ09999999999"}, MasterDataError, "creditor identifier: 'DE99ZZZ09999999999' has wrong check digits"),
    ({"creditor_id": "ZZZ"}, MasterDataError, "creditor identifier: 'ZZZ' must look like DE98ZZZ09999999999"),
    ({"city": "c" * 36}, MasterDataError, "city: 'cccccccccccccccccccccccc'… is 36 characters; the limit is 35"),
]


def test_bad_party_input_changes_nothing(db: Database) -> None:
    before = db.counts()
    for override, error, message in BAD_PARTIES:
        values = {"address": OTHER, "legal_name": "Other GmbH", "country": "DE"} | override
        with pytest.raises(error) as caught:
            with db.session() as session:
                parties.add_party(session, **values)
        assert str(caught.value).startswith(message), (override, str(caught.value))
        assert isinstance(caught.value, ValidationError)
        assert db.counts() == before, override


BAD_ACCOUNTS = [
    ("DE89370400440532013001", None, "IBAN: 'DE89370400440532013001' is not valid (Invalid checksum digits)"),
    ("XX89370400440532013000", None, "IBAN: 'XX89370400440532013000' is not valid"),
    ("DE8937040044", None, "IBAN: 'DE8937040044' is not valid"),
    (PAYER_IBAN, "COBAXXFF", "BIC: 'COBAXXFF' is not valid"),
]


def test_bad_account_input_changes_nothing(db: Database) -> None:
    with db.session() as session:
        parties.add_party(session, address=PAYER, legal_name="Payer", country="DE")
    before = db.counts()
    for iban, bic, message in BAD_ACCOUNTS:
        with pytest.raises(MasterDataError) as caught:
            with db.session() as session:
                parties.add_bank_account(session, PAYER, iban_value=iban, bic=bic)
        assert str(caught.value).startswith(message), str(caught.value)
        assert db.counts() == before


def test_duplicates_and_unknowns(db: Database) -> None:
    with db.session() as session:
        seed_parties(session)
    before = db.counts()
    cases = [
        (lambda s: parties.add_party(s, address=PAYER, legal_name="Again", country="DE"), ConflictError, "is already registered"),
        (lambda s: parties.add_bank_account(s, PAYER, iban_value=PAYER_IBAN), ConflictError, "already has the account DE89"),
        (lambda s: parties.get_party(s, PAYER[:-1] + "2"), NotFoundError, f"Did you mean {PAYER}"),
        (
            lambda s: parties.add_mandate(s, debtor=PAYER, creditor=PAYEE, reference=MANDATE, signed_on=date(2024, 1, 1)),
            ConflictError,
            f"mandate 'M-001' of creditor {CREDITOR_ID} is already recorded",
        ),
    ]
    for action, error, message in cases:
        with pytest.raises(error, match=message):
            with db.session() as session:
                action(session)
    assert db.counts() == before


BAD_MANDATES = [
    ({"reference": "has space"}, "mandate reference: 'has space' must be 1 to 35 characters"),
    ({"reference": "x" * 36}, "mandate reference: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' must be 1 to 35"),
    ({"scheme": "COR1"}, "scheme: 'COR1' is not CORE or B2B"),
    ({"sequence": "OOFF"}, "sequence: 'OOFF' is not FRST or RCUR"),
    ({"signed_on": date(2999, 1, 1)}, "date of signature: 2999-01-01 lies in the future"),
    ({"creditor": PAYER}, "mandate: debtor and creditor are the same party"),
    ({"debtor_iban": "DE02120300000000202051"}, "debtor 0x1111111111111111111111111111111111111111 has no active account DE02"),
]


def test_bad_mandate_input_changes_nothing(db: Database) -> None:
    with db.session() as session:
        seed_parties(session)
    before = db.counts()
    for override, message in BAD_MANDATES:
        values = {"debtor": PAYER, "creditor": PAYEE, "reference": "M-002", "signed_on": date(2024, 6, 1)} | override
        with pytest.raises(SettleError) as caught:
            with db.session() as session:
                parties.add_mandate(session, **values)
        assert str(caught.value).startswith(message), str(caught.value)
        assert db.counts() == before


def test_mandate_without_creditor_id(db: Database) -> None:
    with db.session() as session:
        parties.add_party(session, address=PAYER, legal_name="Payer", country="DE")
        parties.add_bank_account(session, PAYER, iban_value=PAYER_IBAN)
        parties.add_party(session, address=PAYEE, legal_name="Payee", country="DE")
    with pytest.raises(MasterDataError, match="creditor identifier: creditor 0x2222.* has none"):
        with db.session() as session:
            parties.add_mandate(session, debtor=PAYER, creditor=PAYEE, reference="M-9", signed_on=date(2024, 1, 1))


def test_payment_methods_and_their_history(db: Database) -> None:
    with db.session() as session:
        seed_parties(session)
        method = parties.set_payment_method(
            session, chain_id=CHAIN_ID, agreement=AGREEMENT, kind="sepa_dd", payer=PAYER, payee=PAYEE, mandate=MANDATE
        )
        assert method.kind is PaymentMethodKind.SEPA_DIRECT_DEBIT and method.mandate.sequence is SequenceType.FIRST
    with db.session("ops") as session:
        method = parties.set_payment_method(session, chain_id=CHAIN_ID, agreement=AGREEMENT, kind="sepa_ct", payer=PAYER, payee=PAYEE)
        assert method.payer_account is not None and method.mandate_id is None
    with db.session() as session:
        changes = [c for c in parties.party_history(session, PAYER) if c.entity == "gw_payment_method"]
    assert [c.action for c in changes] == ["insert", "update"]
    assert changes[1].actor == "ops" and changes[1].old["kind"] == "sepa_dd" and changes[1].new["kind"] == "sepa_ct"


BAD_METHODS = [
    ({"kind": "cash"}, "payment method: 'cash' is not one of sepa_dd, sepa_ct, erc20"),
    ({"kind": "sepa_dd"}, "mandate: SEPA direct debit needs the mandate reference"),
    ({"kind": "sepa_dd", "mandate": "M-404"}, "mandate 'M-404' is not recorded"),
    ({"kind": "erc20"}, "token: ERC-20 payment needs the token address"),
    ({"kind": "sepa_dd", "mandate": MANDATE, "payer": PAYEE, "payee": PAYER}, "mandate 'M-001' is not from payer"),
    ({"kind": "sepa_ct", "agreement": "0xnope"}, "chain address: '0xnope'"),
    ({"kind": "sepa_ct", "chain_id": 0}, "chain id: 0 is not a positive integer"),
]


def test_bad_payment_method_changes_nothing(db: Database) -> None:
    with db.session() as session:
        seed_parties(session)
    before = db.counts()
    for kwargs, message in BAD_METHODS:
        values = {"chain_id": CHAIN_ID, "agreement": AGREEMENT, "payer": PAYER, "payee": PAYEE} | kwargs
        with pytest.raises(SettleError) as caught:
            with db.session() as session:
                parties.set_payment_method(session, **values)
        assert str(caught.value).startswith(message), str(caught.value)
        assert db.counts() == before


def test_revoked_mandate_cannot_be_set(db: Database) -> None:
    with db.session() as session:
        seed_parties(session)
        assert parties.revoke_mandate(session, MANDATE).status is MandateStatus.REVOKED
    with pytest.raises(MasterDataError, match="mandate 'M-001' is revoked"):
        with db.session() as session:
            parties.set_payment_method(
                session, chain_id=CHAIN_ID, agreement=AGREEMENT, kind="sepa_dd", payer=PAYER, payee=PAYEE, mandate=MANDATE
            )


def test_field_helpers() -> None:
    assert parties.creditor_identifier("de98 zzz 09999999999") == "DE98ZZZ09999999999"
    assert parties.mask_iban(PAYER_IBAN) == "DE89 **** **** **** **30 00"
    assert parties.bic_for(PAYER_IBAN) == "COBADEFFXXX"
    assert parties.bic_for("FR1420041010050500013M02606", "PSSTFRPP") == "PSSTFRPP"
    with pytest.raises(MasterDataError, match="party fields \\['colour'\\] do not exist"):
        parties.update_party(None, PAYER, colour="red")  # type: ignore[arg-type]

"""Master data: every bad input is refused with a message naming field and value, and nothing is stored."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from gateway_testdata import (
    AGREEMENT,
    CHAIN_ID,
    CREDITOR_ID,
    MANDATE,
    PAYEE,
    PAYEE_IBAN,
    PAYER,
    PAYER_IBAN,
    Database,
    on_chain,
    seed_parties,
)

from gateway.database import unit_of_work
from gateway.errors import ConflictError, MasterDataError, NotFoundError
from gateway.models import MandateStatus, PaymentMethodKind, SequenceType
from gateway.parties import masterdata as parties
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
        method = parties.set_payment_method(session, on_chain(), kind="sepa_dd", mandate=MANDATE)
        assert method.kind is PaymentMethodKind.SEPA_DIRECT_DEBIT and method.mandate.sequence is SequenceType.FIRST
        assert (method.payer.chain_address, method.payee.chain_address, method.chain_id) == (PAYER, PAYEE, CHAIN_ID)
    with db.session("ops") as session:
        method = parties.set_payment_method(session, on_chain(), kind="sepa_ct")
        assert method.payer_account is not None and method.mandate_id is None
    with db.session() as session:
        changes = [c for c in parties.party_history(session, PAYER) if c.entity == "gw_payment_method"]
    assert [c.action for c in changes] == ["insert", "update"]
    assert changes[1].actor == "ops" and changes[1].old["kind"] == "sepa_dd" and changes[1].new["kind"] == "sepa_ct"


TOKEN = "0x" + "7e" * 20
BAD_METHODS = [
    ({}, {"kind": "cash"}, "payment method: 'cash' is not one of sepa_dd, sepa_ct, transfer, erc20"),
    ({}, {"kind": "sepa_dd"}, "mandate: SEPA direct debit needs the mandate reference"),
    ({}, {"kind": "sepa_dd", "mandate": "M-404"}, "mandate 'M-404' is not recorded"),
    ({}, {"kind": "erc20"}, f"payment method: agreement {AGREEMENT} bills in fiat (no token); pay it by sepa_dd, sepa_ct or transfer"),
    ({"token": TOKEN}, {"kind": "sepa_dd", "mandate": MANDATE}, f"payment method: agreement {AGREEMENT} is paid in token {TOKEN}"),
    # The chain says payer and payee the other way round: the payee's mandate from the payer does not fit.
    ({"payer": PAYEE, "payee": PAYER}, {"kind": "sepa_dd", "mandate": MANDATE},
     f"mandate 'M-001' is not from the agreement's payer {PAYEE} to its payee {PAYER}"),
    ({"payer": OTHER}, {"kind": "sepa_ct"}, f"payer {OTHER} of agreement {AGREEMENT} is not registered"),
    # Accounts of the other party, named as the payee's or the payer's, are refused.
    ({}, {"kind": "sepa_dd", "mandate": MANDATE, "payee_iban": PAYER_IBAN}, f"payee {PAYEE} has no active account DE89"),
    ({}, {"kind": "sepa_ct", "payer_iban": PAYEE_IBAN}, f"payer {PAYER} has no active account DE02"),
    ({"address": "0xnope"}, {"kind": "sepa_ct"}, "chain address: '0xnope'"),
    ({"chain_id": 0}, {"kind": "sepa_ct"}, "chain id: 0 is not a positive integer"),
]  # fmt: skip


def test_bad_payment_method_changes_nothing(db: Database) -> None:
    with db.session() as session:
        seed_parties(session)
    before = db.counts()
    for facts, kwargs, message in BAD_METHODS:
        agreement = dataclasses.replace(on_chain(), **facts)
        with pytest.raises(SettleError) as caught:
            with db.session() as session:
                parties.set_payment_method(session, agreement, **kwargs)
        assert str(caught.value).startswith(message), str(caught.value)
        assert db.counts() == before


def test_revoked_mandate_or_inactive_party_cannot_be_set(db: Database) -> None:
    with db.session() as session:
        seed_parties(session)
        assert parties.revoke_mandate(session, MANDATE).status is MandateStatus.REVOKED
    with pytest.raises(MasterDataError, match="mandate 'M-001' is revoked"):
        with db.session() as session:
            parties.set_payment_method(session, on_chain(), kind="sepa_dd", mandate=MANDATE)
    with db.session() as session:
        parties.update_party(session, PAYEE, active=False)
    with pytest.raises(MasterDataError, match=f"payee {PAYEE} of agreement {AGREEMENT} is inactive"):
        with db.session() as session:
            parties.set_payment_method(session, on_chain(), kind="sepa_ct")


def test_mandate_on_an_account_that_is_not_the_debtors_is_refused(db: Database) -> None:
    """A mandate row pointing at another party's account (as written before accounts were checked) cannot pay."""
    with db.session() as session:
        seed_parties(session)
        mandate = parties.get_mandate(session, MANDATE)
        mandate.debtor_account_id = parties.get_party(session, PAYEE).accounts[0].id
    before = db.counts()
    with pytest.raises(MasterDataError, match=f"its debtor account DE02 .* is not an active account of payer {PAYER}"):
        with db.session() as session:
            parties.set_payment_method(session, on_chain(), kind="sepa_dd", mandate=MANDATE)
    assert db.counts() == before


def test_an_iban_belongs_to_one_party_unless_marked_shared(db: Database) -> None:
    with db.session() as session:
        seed_parties(session)
        parties.add_party(session, address=OTHER, legal_name="Other GmbH", country="DE")
    before = db.counts()
    # The review's attack: the payer's IBAN attached to another party, then a mandate of that party on it.
    with pytest.raises(ConflictError, match=f"account DE89 .* is already held by party {PAYER}: an IBAN belongs to one party"):
        with db.session() as session:
            parties.add_bank_account(session, OTHER, iban_value=PAYER_IBAN)
    with pytest.raises(NotFoundError, match=f"debtor {OTHER} has no active account DE89"):
        with db.session() as session:
            parties.add_mandate(session, debtor=OTHER, creditor=PAYEE, reference="M-X", signed_on=date(2024, 1, 1), debtor_iban=PAYER_IBAN)
    with pytest.raises(MasterDataError, match="shared reason: must not be empty"):
        with db.session() as session:
            parties.add_bank_account(session, OTHER, iban_value=PAYER_IBAN, shared_reason="   ")
    assert db.counts() == before
    # Explicitly shared, with a reason: stored, and the reason is in the history.
    with db.session("ops") as session:
        shared = parties.add_bank_account(session, OTHER, iban_value=PAYER_IBAN, shared_reason="group treasury account of Payer Müller")
        assert shared.shared_reason == "group treasury account of Payer Müller"
    with db.session() as session:
        inserted = [c for c in parties.party_history(session, OTHER) if c.entity == "gw_bank_account"]
    assert inserted[0].actor == "ops" and inserted[0].new["shared_reason"] == "group treasury account of Payer Müller"
    # A long list of holders is cut short in the message.
    with db.session() as session:
        for digit in "4567":
            parties.add_party(session, address="0x" + digit * 40, legal_name=f"Member {digit}", country="DE")
        for digit in "456":
            parties.add_bank_account(session, "0x" + digit * 40, iban_value=PAYER_IBAN, shared_reason="cash pool")
    with pytest.raises(ConflictError, match=f"held by party {PAYER}, {OTHER}, 0x4444.* and 2 more: an IBAN belongs"):
        with db.session() as session:
            parties.add_bank_account(session, "0x" + "7" * 40, iban_value=PAYER_IBAN)


def test_the_database_keeps_one_unshared_holder_per_iban(db: Database) -> None:
    """Even a write that skips the check (another process, a race) cannot store an IBAN for two parties unshared."""
    from sqlalchemy.exc import IntegrityError

    from gateway.models import BankAccount

    with db.session() as session:
        seed_parties(session)
        parties.add_party(session, address=OTHER, legal_name="Other GmbH", country="DE")
    with pytest.raises(IntegrityError):
        with db.session() as session:
            session.add(BankAccount(party_id=parties.get_party(session, OTHER).id, iban=PAYER_IBAN))
            session.flush()


def test_null_never_deactivates_a_party(db: Database) -> None:
    with db.session() as session:
        seed_parties(session)
    before = db.counts()
    for field, value, message in [
        ("active", None, "active: must not be null; leave the field out to keep its value"),
        ("legal_name", None, "legal_name: must not be null"),
        ("country", None, "country: must not be null"),
        ("active", "false", "active: 'false' is not true or false"),
        ("active", 0, "active: 0 is not true or false"),
    ]:
        with pytest.raises(MasterDataError) as caught:
            with db.session() as session:
                parties.update_party(session, PAYER, **{field: value})
        assert str(caught.value).startswith(message), str(caught.value)
    assert db.counts() == before
    with db.session() as session:
        party = parties.update_party(session, PAYER, city=None)  # None clears an optional field
        assert party.active is True and party.city is None and party.legal_name == "Payer Müller GmbH"


def test_a_value_that_is_not_text_is_refused_naming_the_field(db: Database) -> None:
    """``update_party`` takes ``**changes: object``: a number or a list for a text field is a MasterDataError naming
    the field (it was an AttributeError from ``.split()``/``.strip()``, found by mypy), and nothing is stored."""
    with db.session() as session:
        seed_parties(session)
    before = db.counts()
    for field, value, message in [
        ("legal_name", 5, "legal name: 5 is not text"),
        ("country", ["DE"], "country: ['DE'] is not text"),
        ("street", 12, "street: 12 is not text"),
        ("postal_code", 10115, "postal code: 10115 is not text"),
        ("city", b"Berlin", "city: b'Berlin' is not text"),
        ("vat_id", 123456789, "VAT id: 123456789 is not text"),
        ("creditor_id", 98, "creditor identifier: 98 is not text"),
    ]:
        with pytest.raises(MasterDataError) as caught:
            with db.session() as session:
                parties.update_party(session, PAYER, **{field: value})
        assert str(caught.value) == message
    assert db.counts() == before


def test_field_helpers() -> None:
    assert parties.creditor_identifier("de98 zzz 09999999999") == "DE98ZZZ09999999999"
    assert parties.mask_iban(PAYER_IBAN) == "DE89 **** **** **** **30 00"
    assert parties.bic_for(PAYER_IBAN) == "COBADEFFXXX"
    assert parties.bic_for("FR1420041010050500013M02606", "PSSTFRPP") == "PSSTFRPP"
    with pytest.raises(MasterDataError, match="party fields \\['colour'\\] do not exist"):
        parties.update_party(None, PAYER, colour="red")  # type: ignore[arg-type]


def test_migration_marks_earlier_iban_duplicates_shared_for_review(database_url: str) -> None:
    """A database written before the check may hold one IBAN under several parties: the first keeps it, the others
    are marked shared with a reason that asks for a review, in the history, and the unique index can be built."""
    from sqlalchemy import insert, select

    from gateway.database import migrate, open_database
    from gateway.models import BankAccount, HistoryRecord, Party

    engine, factory = open_database(database_url, upgrade=False)
    try:
        migrate(engine, "0002")
        with engine.begin() as connection:
            ids = [
                connection.execute(
                    insert(Party.__table__).values(chain_address=f"0x{n:040x}", legal_name=f"P{n}", country="DE")
                ).inserted_primary_key[0]
                for n in (1, 2, 3)
            ]
            connection.execute(
                insert(BankAccount.__table__), [{"party_id": ids[0], "iban": PAYER_IBAN}, {"party_id": ids[1], "iban": PAYEE_IBAN}]
                + [{"party_id": party_id, "iban": PAYER_IBAN} for party_id in ids[1:]]
            )  # fmt: skip
        migrate(engine)
        with factory() as session:
            accounts = session.execute(
                select(BankAccount.party_id, BankAccount.iban, BankAccount.shared_reason).order_by(BankAccount.id)
            ).all()
            history = session.scalars(select(HistoryRecord).order_by(HistoryRecord.id)).all()
        assert [(a.party_id, a.iban, a.shared_reason is not None) for a in accounts] == [
            (ids[0], PAYER_IBAN, False),
            (ids[1], PAYEE_IBAN, False),
            (ids[1], PAYER_IBAN, True),
            (ids[2], PAYER_IBAN, True),
        ]
        assert "review" in str(accounts[2].shared_reason)
        assert [(h.entity, h.actor, h.new_values["shared_reason"] == accounts[2].shared_reason) for h in history] == [
            ("gw_bank_account", "migration:0003", True)
        ] * 2
        with pytest.raises(ConflictError, match="already held by party"):
            with unit_of_work(factory) as session:
                parties.add_bank_account(session, f"0x{3:040x}", iban_value=PAYEE_IBAN)
    finally:
        engine.dispose()

"""Party master data, kept off-chain only: parties (by chain address), bank accounts, SEPA mandates and each
agreement's payment method. Every function validates its input fully before anything is stored; every change
lands in ``gw_history`` through the session hook in :mod:`gateway.models`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from rapidfuzz import process
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.banking.target2 import Scheme
from gateway.errors import ConflictError, MasterDataError, NotFoundError
from gateway.models import (
    BankAccount,
    HistoryRecord,
    Mandate,
    MandateStatus,
    Party,
    PaymentMethod,
    PaymentMethodKind,
    SequenceType,
)
from settle.errors import ValidationError

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_VAT = re.compile(r"^[A-Z]{2}[0-9A-Z+*.]{2,13}$")
_MANDATE_REFERENCE = re.compile(r"^[A-Za-z0-9+?/\-:().,']{1,35}$")
_CREDITOR_ID = re.compile(r"^([A-Z]{2})(\d{2})([A-Z0-9]{3})([A-Z0-9]{1,28})$")
MAX_NAME = 140


# -- field validation -------------------------------------------------------------------------------------------------


def chain_address(value: str) -> str:
    """A 0x-prefixed 20-byte hex address, lower case."""
    if not isinstance(value, str) or not _ADDRESS.match(value.strip()):
        raise MasterDataError(f"chain address: {value!r} is not a 0x-prefixed 40-digit hex address")
    return value.strip().lower()


def name_text(value: str, field: str = "legal name", limit: int = MAX_NAME) -> str:
    """A non-empty name of at most ``limit`` characters, surrounding blanks removed."""
    text = " ".join((value or "").split())
    if not text:
        raise MasterDataError(f"{field}: must not be empty")
    if len(text) > limit:
        raise MasterDataError(f"{field}: {text[:24]!r}… is {len(text)} characters; the limit is {limit}")
    return text


def optional_text(value: str | None, field: str, limit: int) -> str | None:
    if value is None:
        return None
    text = " ".join(value.split())
    if len(text) > limit:
        raise MasterDataError(f"{field}: {text[:24]!r}… is {len(text)} characters; the limit is {limit}")
    return text or None


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9 ()/.-]{3,40}$")


def email_address(value: str | None, field: str = "contact e-mail") -> str | None:
    text = optional_text(value, field, 254)
    if text is not None and not _EMAIL.match(text):
        raise MasterDataError(f"{field}: {value!r} is not an e-mail address (name@example.com)")
    return text


def phone_number(value: str | None, field: str = "contact phone") -> str | None:
    text = optional_text(value, field, 40)
    if text is not None and not _PHONE.match(text):
        raise MasterDataError(f"{field}: {value!r} is not a phone number (digits, spaces, + ( ) / . -)")
    return text


def country_code(value: str) -> str:
    code = (value or "").strip().upper()
    if not _COUNTRY.match(code):
        raise MasterDataError(f"country: {value!r} is not a two-letter ISO 3166 country code (e.g. DE)")
    return code


def vat_id(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    compact = "".join(value.split()).upper()
    if not _VAT.match(compact):
        raise MasterDataError(f"VAT id: {value!r} must be a country prefix and 2 to 13 letters or digits (e.g. DE123456789)")
    return compact


def iban(value: str, field: str = "IBAN", error: type[ValidationError] = MasterDataError) -> str:
    """The IBAN in compact form, validated (country, length, structure, check digits) with schwifty."""
    try:
        return IBAN(value or "").compact
    except SchwiftyException as exc:
        raise error(f"{field}: {value!r} is not valid ({exc})") from None


def bic_for(iban_value: str, bic: str | None = None, field: str = "BIC", error: type[ValidationError] = MasterDataError) -> str | None:
    """``bic`` validated, or the BIC schwifty derives from the IBAN's bank code (``None`` if it cannot)."""
    if bic:
        try:
            return BIC(bic).compact
        except SchwiftyException as exc:
            raise error(f"{field}: {bic!r} is not valid ({exc})") from None
    derived = IBAN(iban_value).bic
    return derived.compact if derived is not None else None


def mandate_reference(value: str) -> str:
    text = (value or "").strip()
    if not _MANDATE_REFERENCE.match(text):
        raise MasterDataError(f"mandate reference: {value!r} must be 1 to 35 characters from A-Z a-z 0-9 + ? / - : ( ) . , ' (no spaces)")
    return text


def creditor_identifier(value: str) -> str:
    """A SEPA creditor identifier (e.g. ``DE98ZZZ09999999999``) with valid check digits."""
    compact = "".join((value or "").split()).upper()
    match = _CREDITOR_ID.match(compact)
    if not match:
        raise MasterDataError(f"creditor identifier: {value!r} must look like DE98ZZZ09999999999")
    country, check, _business, national = match.groups()
    digits = "".join(str(int(c, 36)) for c in national + country) + check
    if int(digits) % 97 != 1:
        raise MasterDataError(f"creditor identifier: {value!r} has wrong check digits")
    return compact


def mask_iban(value: str) -> str:
    """``DE89 **** **** **** **30 00``-style masking for lists and messages that may be logged."""
    compact = value.replace(" ", "")
    if len(compact) < 8:
        return "****"
    masked = compact[:4] + "*" * (len(compact) - 8) + compact[-4:]
    return " ".join(masked[i : i + 4] for i in range(0, len(masked), 4))


_IBAN_IN_TEXT = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")


def mask_ibans(text: str) -> str:
    """``text`` with every IBAN in it masked (:func:`mask_iban`): the matching engine's evidence names accounts."""
    return _IBAN_IN_TEXT.sub(lambda m: mask_iban(m.group(0)), text)


# -- parties ----------------------------------------------------------------------------------------------------------


def _suggest(session: Session, text: str) -> str:
    rows = session.execute(select(Party.chain_address, Party.legal_name)).all()
    choices = {address: f"{address} ({name})" for address, name in rows}
    choices.update({name: f"{address} ({name})" for address, name in rows})
    best = process.extractOne(text, list(choices), score_cutoff=70) if choices else None
    return f" Did you mean {choices[best[0]]}?" if best else ""


def get_party(session: Session, address: str) -> Party:
    """The party with chain address ``address``, or :class:`NotFoundError` (with a suggestion if one is close)."""
    normalized = address.strip().lower() if isinstance(address, str) else address
    party = session.scalar(select(Party).where(Party.chain_address == normalized))
    if party is None:
        raise NotFoundError(f"party {address!r} is not registered.{_suggest(session, str(address))}".rstrip("."))
    return party


def list_parties(session: Session) -> list[Party]:
    return list(session.scalars(select(Party).order_by(Party.legal_name, Party.id)))


def add_party(
    session: Session,
    *,
    address: str,
    legal_name: str,
    country: str,
    street: str | None = None,
    postal_code: str | None = None,
    city: str | None = None,
    vat: str | None = None,
    creditor_id: str | None = None,
    contact_name: str | None = None,
    contact_phone: str | None = None,
    contact_email: str | None = None,
    buyer_reference: str | None = None,
) -> Party:
    """Register a party by its chain address (the contact and buyer reference are what its invoices need)."""
    values = {
        "chain_address": chain_address(address),
        "legal_name": name_text(legal_name),
        "country": country_code(country),
        "street": optional_text(street, "street", 70),
        "postal_code": optional_text(postal_code, "postal code", 16),
        "city": optional_text(city, "city", 35),
        "vat_id": vat_id(vat),
        "creditor_id": creditor_identifier(creditor_id) if creditor_id else None,
        "contact_name": optional_text(contact_name, "contact name", 100),
        "contact_phone": phone_number(contact_phone),
        "contact_email": email_address(contact_email),
        "buyer_reference": optional_text(buyer_reference, "buyer reference", 100),
    }
    if session.scalar(select(Party.id).where(Party.chain_address == values["chain_address"])) is not None:
        raise ConflictError(f"party {values['chain_address']} is already registered; change it with `party update`")
    party = Party(**values)
    session.add(party)
    session.flush()
    return party


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise MasterDataError(f"active: {value!r} is not true or false")
    return value


def _text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise MasterDataError(f"{field}: {value!r} is not text")
    return value


def _optional(value: object, field: str) -> str | None:
    return None if value is None else _text(value, field)


#: ``update_party`` takes any values (``**changes: object``): each field checks its value is text before the
#: validator reads it, so a number or a list is refused naming the field, never an AttributeError.
_PARTY_FIELDS: dict[str, Callable[[object], object]] = {
    "legal_name": lambda v: name_text(_text(v, "legal name")),
    "country": lambda v: country_code(_text(v, "country")),
    "street": lambda v: optional_text(_optional(v, "street"), "street", 70),
    "postal_code": lambda v: optional_text(_optional(v, "postal code"), "postal code", 16),
    "city": lambda v: optional_text(_optional(v, "city"), "city", 35),
    "vat_id": lambda v: vat_id(_optional(v, "VAT id")),
    "creditor_id": lambda v: creditor_identifier(_text(v, "creditor identifier")) if v else None,
    "contact_name": lambda v: optional_text(_optional(v, "contact name"), "contact name", 100),
    "contact_phone": lambda v: phone_number(_optional(v, "contact phone")),
    "contact_email": lambda v: email_address(_optional(v, "contact e-mail")),
    "buyer_reference": lambda v: optional_text(_optional(v, "buyer reference"), "buyer reference", 100),
    "active": _flag,
}
#: Fields every party has: ``None`` for them is refused, never taken as a value (``{"active": null}`` once
#: deactivated a party). ``None`` for the other fields clears them.
_REQUIRED_PARTY_FIELDS = ("legal_name", "country", "active")


def update_party(session: Session, address: str, **changes: object) -> Party:
    """Change fields of a party (``legal_name``, ``country``, ``street``, ``postal_code``, ``city``, ``vat_id``,
    ``creditor_id``, ``contact_name``, ``contact_phone``, ``contact_email``, ``buyer_reference``, ``active``); each
    change is recorded with its old value. ``None`` clears an optional field and is refused for ``legal_name``,
    ``country`` and ``active``."""
    unknown = set(changes) - set(_PARTY_FIELDS)
    if unknown:
        raise MasterDataError(f"party fields {sorted(unknown)} do not exist; known: {sorted(_PARTY_FIELDS)}")
    for key in _REQUIRED_PARTY_FIELDS:
        if key in changes and changes[key] is None:
            raise MasterDataError(f"{key}: must not be null; leave the field out to keep its value")
    validated = {key: _PARTY_FIELDS[key](value) for key, value in changes.items()}
    party = get_party(session, address)
    for key, value in validated.items():
        setattr(party, key, value)
    session.flush()
    return party


# -- bank accounts ------------------------------------------------------------------------------------------------------


def add_bank_account(
    session: Session,
    address: str,
    *,
    iban_value: str,
    bic: str | None = None,
    holder_name: str | None = None,
    shared_reason: str | None = None,
) -> BankAccount:
    """Add a bank account to a party (IBAN validated, BIC validated or derived). An IBAN another party already
    holds is refused unless ``shared_reason`` says why both use it (kept with the account and in its history)."""
    compact = iban(iban_value)
    resolved_bic = bic_for(compact, bic)
    holder = name_text(holder_name, "account holder") if holder_name else None
    reason = optional_text(shared_reason, "shared reason", 200) if shared_reason is not None else None
    if shared_reason is not None and reason is None:
        raise MasterDataError("shared reason: must not be empty; say why another party holds this account too")
    party = get_party(session, address)
    holders = list(session.scalars(select(BankAccount).where(BankAccount.iban == compact).order_by(BankAccount.id)))
    if any(a.party_id == party.id for a in holders):
        raise ConflictError(f"party {party.chain_address} already has the account {mask_iban(compact)}")
    if holders and reason is None:
        others = ", ".join(f"{a.party.chain_address}{'' if a.active else ' (inactive)'}" for a in holders[:3])
        if len(holders) > 3:
            others += f" and {len(holders) - 3} more"
        raise ConflictError(
            f"account {mask_iban(compact)} is already held by party {others}: an IBAN belongs to one party; if both "
            "really use it, mark it shared with a reason (--shared-reason / shared_reason)"
        )
    account = BankAccount(party_id=party.id, iban=compact, bic=resolved_bic, holder_name=holder, shared_reason=reason)
    session.add(account)
    try:
        session.flush()
    except IntegrityError:
        # Another transaction stored the same unshared IBAN between the check above and this insert.
        raise ConflictError(f"account {mask_iban(compact)} was added by another change at the same time: try again") from None
    return account


def find_account(session: Session, party: Party, iban_value: str | None, role: str) -> BankAccount:
    """``party``'s active account with ``iban_value``, or its only active account when none is named."""
    accounts = [a for a in party.accounts if a.active]
    if iban_value:
        compact = iban(iban_value)
        for account in accounts:
            if account.iban == compact:
                return account
        raise NotFoundError(f"{role} {party.chain_address} has no active account {mask_iban(compact)}; add it first")
    if len(accounts) == 1:
        return accounts[0]
    if not accounts:
        raise NotFoundError(f"{role} {party.chain_address} has no bank account; add one with `party add-account`")
    raise MasterDataError(f"{role} {party.chain_address} has {len(accounts)} accounts: name the IBAN to use")


def deactivate_bank_account(session: Session, address: str, iban_value: str) -> BankAccount:
    party = get_party(session, address)
    account = find_account(session, party, iban_value, "party")
    account.active = False
    session.flush()
    return account


# -- mandates ---------------------------------------------------------------------------------------------------------------


def add_mandate(
    session: Session,
    *,
    debtor: str,
    creditor: str,
    reference: str,
    signed_on: date,
    scheme: Scheme | str = Scheme.CORE,
    debtor_iban: str | None = None,
    creditor_id: str | None = None,
    sequence: SequenceType | str = SequenceType.FIRST,
    today: date | None = None,
) -> Mandate:
    """Record a SEPA mandate the debtor signed for the creditor."""
    ref = mandate_reference(reference)
    try:
        scheme = Scheme(str(scheme).upper())
    except ValueError:
        raise MasterDataError(f"scheme: {scheme!r} is not CORE or B2B") from None
    try:
        sequence = SequenceType(str(sequence).upper())
    except ValueError:
        raise MasterDataError(f"sequence: {sequence!r} is not FRST or RCUR") from None
    today = today or datetime.now(UTC).date()
    if not isinstance(signed_on, date) or signed_on > today:
        raise MasterDataError(f"date of signature: {signed_on} lies in the future")
    debtor_party = get_party(session, debtor)
    creditor_party = get_party(session, creditor)
    if debtor_party.id == creditor_party.id:
        raise MasterDataError("mandate: debtor and creditor are the same party")
    ci = creditor_identifier(creditor_id) if creditor_id else creditor_party.creditor_id
    if not ci:
        raise MasterDataError(
            f"creditor identifier: creditor {creditor_party.chain_address} has none; give --creditor-id or set it on the party"
        )
    account = find_account(session, debtor_party, debtor_iban, "debtor")
    if session.scalar(select(Mandate.id).where(Mandate.creditor_id == ci, Mandate.reference == ref)) is not None:
        raise ConflictError(f"mandate {ref!r} of creditor {ci} is already recorded")
    mandate = Mandate(
        reference=ref,
        creditor_id=ci,
        debtor_party_id=debtor_party.id,
        creditor_party_id=creditor_party.id,
        debtor_account_id=account.id,
        signed_on=signed_on,
        scheme=scheme,
        sequence=sequence,
        status=MandateStatus.ACTIVE,
    )
    session.add(mandate)
    session.flush()
    return mandate


def get_mandate(session: Session, reference: str, creditor_id: str | None = None) -> Mandate:
    query = select(Mandate).where(Mandate.reference == reference.strip())
    if creditor_id:
        query = query.where(Mandate.creditor_id == creditor_identifier(creditor_id))
    found = list(session.scalars(query))
    if not found:
        raise NotFoundError(f"mandate {reference!r} is not recorded")
    if len(found) > 1:
        raise MasterDataError(f"mandate {reference!r} exists for several creditors: name the creditor identifier")
    return found[0]


def revoke_mandate(session: Session, reference: str, creditor_id: str | None = None) -> Mandate:
    mandate = get_mandate(session, reference, creditor_id)
    mandate.status = MandateStatus.REVOKED
    session.flush()
    return mandate


# -- payment method per agreement -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainAgreement:
    """What the chain says about an agreement: its chain, address, payer, payee and token (the zero address for a
    fiat agreement). Read with :func:`gateway.chain.onchain.read_agreement`; a payment method is set from these facts,
    never from parties a person typed."""

    chain_id: int
    address: str
    payer: str
    payee: str
    token: str

    @property
    def is_fiat(self) -> bool:
        return int(self.token, 16) == 0


def _agreement_party(session: Session, address: str, role: str, agreement: str) -> Party:
    try:
        party = get_party(session, address)
    except NotFoundError:
        raise NotFoundError(f"{role} {address} of agreement {agreement} is not registered; add it with `party add`") from None
    if not party.active:
        raise MasterDataError(f"{role} {party.chain_address} of agreement {agreement} is inactive")
    return party


def set_payment_method(
    session: Session,
    agreement: ChainAgreement,
    *,
    kind: PaymentMethodKind | str,
    mandate: str | None = None,
    payee_iban: str | None = None,
    payer_iban: str | None = None,
) -> PaymentMethod:
    """Set (or change) how ``agreement`` is paid. Payer, payee, chain and token are the chain's; the mandate and the
    accounts must belong to them: a direct debit needs an active mandate of the agreement's payer (debtor, on one of
    its own accounts) for its payee (creditor), paid into an account of the payee; a transfer (``sepa_ct``, in a
    pain.001 the gateway builds) goes from an account of the payer to one of the payee. Paid on invoice
    (``transfer``), the payer transfers by itself to the payee's account: the payer's account is optional — the one
    named, else its only active one (so matching knows the IBAN the money comes from), else none. Changes are recorded
    with their old values."""
    if not isinstance(agreement.chain_id, int) or agreement.chain_id <= 0:
        raise MasterDataError(f"chain id: {agreement.chain_id!r} is not a positive integer")
    address = chain_address(agreement.address)
    try:
        kind = PaymentMethodKind(kind)
    except ValueError:
        raise MasterDataError(f"payment method: {kind!r} is not one of {', '.join(k.value for k in PaymentMethodKind)}") from None
    if agreement.is_fiat and kind is PaymentMethodKind.ERC20:
        raise MasterDataError(
            f"payment method: agreement {address} bills in fiat (no token); pay it by sepa_dd, sepa_ct or transfer (on invoice)"
        )
    if not agreement.is_fiat and kind is not PaymentMethodKind.ERC20:
        raise MasterDataError(f"payment method: agreement {address} is paid in token {agreement.token} on-chain; its method is erc20")
    payer_party = _agreement_party(session, agreement.payer, "payer", address)
    payee_party = _agreement_party(session, agreement.payee, "payee", address)
    values: dict[str, object] = {
        "kind": kind,
        "payer_party_id": payer_party.id,
        "payee_party_id": payee_party.id,
        "mandate_id": None,
        "payee_account_id": None,
        "payer_account_id": None,
        "token": None,
    }
    if kind is PaymentMethodKind.SEPA_DIRECT_DEBIT:
        if not mandate:
            raise MasterDataError("mandate: SEPA direct debit needs the mandate reference")
        found = _mandate_between(session, mandate, payer_party, payee_party)
        if found.status is not MandateStatus.ACTIVE:
            raise MasterDataError(f"mandate {found.reference!r} is {found.status.value}")
        if found.debtor_account.party_id != payer_party.id or not found.debtor_account.active:
            raise MasterDataError(
                f"mandate {found.reference!r}: its debtor account {mask_iban(found.debtor_account.iban)} is not an active account "
                f"of payer {payer_party.chain_address}"
            )
        values["mandate_id"] = found.id
        values["payee_account_id"] = find_account(session, payee_party, payee_iban, "payee").id
    elif kind is PaymentMethodKind.SEPA_CREDIT_TRANSFER:
        values["payee_account_id"] = find_account(session, payee_party, payee_iban, "payee").id
        values["payer_account_id"] = find_account(session, payer_party, payer_iban, "payer").id
    elif kind is PaymentMethodKind.BANK_TRANSFER:
        values["payee_account_id"] = find_account(session, payee_party, payee_iban, "payee").id
        payer_accounts = [a for a in payer_party.accounts if a.active]
        if payer_iban or len(payer_accounts) == 1:
            values["payer_account_id"] = find_account(session, payer_party, payer_iban, "payer").id
    else:
        values["token"] = chain_address(agreement.token)
    method = session.scalar(select(PaymentMethod).where(PaymentMethod.chain_id == agreement.chain_id, PaymentMethod.agreement == address))
    if method is None:
        method = PaymentMethod(chain_id=agreement.chain_id, agreement=address, **values)
        session.add(method)
    else:
        for key, value in values.items():
            setattr(method, key, value)
    session.flush()
    # The ids changed, not the relationships loaded before: read those again (a payer account set after one was None).
    session.expire(method, ["payer", "payee", "mandate", "payee_account", "payer_account"])
    return method


def _mandate_between(session: Session, reference: str, debtor: Party, creditor: Party) -> Mandate:
    """The mandate ``reference`` that ``debtor`` gave ``creditor``; a mandate of that reference between other parties
    is refused by name (the reference alone may belong to another creditor)."""
    found = list(session.scalars(select(Mandate).where(Mandate.reference == reference.strip())))
    if not found:
        raise NotFoundError(f"mandate {reference!r} is not recorded")
    between = [m for m in found if m.debtor_party_id == debtor.id and m.creditor_party_id == creditor.id]
    if between:
        return next((m for m in between if m.status is MandateStatus.ACTIVE), between[0])
    raise MasterDataError(
        f"mandate {reference!r} is not from the agreement's payer {debtor.chain_address} to its payee {creditor.chain_address}"
    )


def get_payment_method(session: Session, chain_id: int, agreement: str) -> PaymentMethod:
    method = session.scalar(
        select(PaymentMethod).where(PaymentMethod.chain_id == chain_id, PaymentMethod.agreement == chain_address(agreement))
    )
    if method is None:
        raise NotFoundError(f"agreement {agreement} on chain {chain_id} has no payment method; set one with `payment-method set`")
    return method


# -- history ------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    entity: str
    entity_id: int
    action: str
    actor: str
    changed_at: datetime
    old: dict | None
    new: dict | None


def party_history(session: Session, address: str) -> list[Change]:
    """Every recorded change of the party, its accounts, its mandates and the payment methods it is part of."""
    party = get_party(session, address)
    account_ids = list(session.scalars(select(BankAccount.id).where(BankAccount.party_id == party.id)))
    mandate_ids = list(
        session.scalars(select(Mandate.id).where(or_(Mandate.debtor_party_id == party.id, Mandate.creditor_party_id == party.id)))
    )
    method_ids = list(
        session.scalars(
            select(PaymentMethod.id).where(or_(PaymentMethod.payer_party_id == party.id, PaymentMethod.payee_party_id == party.id))
        )
    )
    conditions = [(HistoryRecord.entity == Party.__tablename__) & (HistoryRecord.entity_id == party.id)]
    for entity, ids in (
        (BankAccount.__tablename__, account_ids),
        (Mandate.__tablename__, mandate_ids),
        (PaymentMethod.__tablename__, method_ids),
    ):
        if ids:
            conditions.append((HistoryRecord.entity == entity) & HistoryRecord.entity_id.in_(ids))
    records = session.scalars(select(HistoryRecord).where(or_(*conditions)).order_by(HistoryRecord.id))
    return [Change(r.entity, r.entity_id, r.action, r.actor, r.changed_at, r.old_values, r.new_values) for r in records]

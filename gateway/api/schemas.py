"""Response and request bodies of the API. Money is exact: minor units as an integer plus the decimal value as a
string (never a float); times are ISO 8601 UTC."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from settle.money import format_minor


class Money(BaseModel):
    minor_units: int = Field(description="Amount in minor units of the currency (cents for EUR).")
    value: str = Field(description="The same amount as an exact decimal string.", examples=["123.45"])
    currency: str

    @classmethod
    def of(cls, minor: int, digits: int, currency: str) -> Money:
        return cls(minor_units=minor, value=format_minor(minor, digits), currency=currency)


class Health(BaseModel):
    status: str = Field(description="ok, or degraded with the reasons")
    database: bool
    chain_id: int | None
    chain_head: int | None
    listener_block: int | None
    listener_lag_blocks: int | None
    outbox_pending: int
    outbox_dead: int
    problems: list[str]


class TermsVersionOut(BaseModel):
    version: int
    terms_hash: str
    status: str
    effective_from_period: int
    terms: dict[str, object]


class UsageOut(BaseModel):
    period: int
    meter: int
    cumulative: int
    records_root: str


class SettlementOut(BaseModel):
    agreement: str
    period: int
    period_start: datetime | None
    period_end: datetime | None
    amount: Money
    paid: Money
    open: Money
    status: str
    due_at: datetime
    terms_version: int
    token_pull_failures: int
    last_return_reason: str | None
    settled_block: int
    settled_tx: str
    payment: PaymentOut | None = None


class AgreementOut(BaseModel):
    address: str
    chain_id: int
    factory: str
    payer: str
    payee: str
    state: str
    service_status: str
    terms_version: int
    pending_version: int
    currency: str
    token: str | None
    minor_digits: int
    next_period_to_settle: int
    end_period: int | None
    outstanding: Money
    payment_method: str | None
    created_block: int


class AgreementDetail(AgreementOut):
    versions: list[TermsVersionOut]
    usage: list[UsageOut]
    settlements: list[SettlementOut]


class PaymentOut(BaseModel):
    end_to_end_id: str
    creditor_reference: str
    agreement: str
    period: int
    method: str
    amount: Money
    paid: Money
    returned: Money
    state: str
    due_date: date
    collection_date: date | None
    sequence_type: str | None
    return_reason: str | None
    payment_file: str | None


class PaymentFileOut(BaseModel):
    message_id: str
    kind: str
    schema_: str = Field(alias="schema")
    file_name: str
    file_date: date
    scheme: str | None
    transactions: int
    control_sum: Money
    state: str
    created_at: datetime
    uploaded_at: datetime | None


class StatementLineOut(BaseModel):
    id: int
    statement: str
    booking_date: date | None
    credit_debit: str
    amount: Money | None
    bank_reference: str
    end_to_end_id: str | None
    creditor_reference: str | None
    counterparty_name: str | None
    counterparty_iban: str | None = Field(description="Masked.")
    return_reason: str | None
    reason: str | None


class BankAccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    iban: str
    bic: str | None = None
    holder_name: str | None = None
    shared_reason: str | None = Field(
        default=None,
        description="Why another party holds this IBAN too (e.g. a group's treasury account). An IBAN another party "
        "already holds is refused (409) without it.",
    )


class BankAccountOut(BaseModel):
    iban: str = Field(description="Masked unless the request asks reveal=true with the operator's token.")
    bic: str | None
    holder_name: str | None
    active: bool
    shared_reason: str | None = Field(description="Set when another party holds this IBAN too: why.")


class PartyIn(BaseModel):
    address: str = Field(description="The party's chain address.")
    legal_name: str
    country: str
    street: str | None = None
    postal_code: str | None = None
    city: str | None = None
    vat_id: str | None = None
    creditor_id: str | None = Field(default=None, description="SEPA creditor identifier (payees that collect).")
    account: BankAccountIn | None = None


class PartyChange(BaseModel):
    """Only the fields given change. ``null`` clears an optional field (street, postal code, city, VAT id, creditor
    id); ``null`` for legal_name, country or active is refused (422 naming the field)."""

    model_config = ConfigDict(extra="forbid")

    legal_name: str | None = None
    country: str | None = None
    street: str | None = None
    postal_code: str | None = None
    city: str | None = None
    vat_id: str | None = None
    creditor_id: str | None = None
    active: bool | None = None


class PartyOut(BaseModel):
    address: str
    legal_name: str
    country: str
    street: str | None
    postal_code: str | None
    city: str | None
    vat_id: str | None
    creditor_id: str | None
    active: bool
    accounts: list[BankAccountOut]


class ChangeOut(BaseModel):
    entity: str
    entity_id: int
    action: str
    actor: str
    changed_at: datetime
    old: dict[str, object] | None
    new: dict[str, object] | None


class MandateIn(BaseModel):
    debtor: str
    creditor: str
    reference: str
    signed_on: date
    scheme: str = Field(default="CORE", description="CORE or B2B.")
    sequence: str = Field(default="FRST", description="FRST for a new mandate, RCUR if it was used before.")
    debtor_iban: str | None = None
    creditor_id: str | None = None


class MandateOut(BaseModel):
    reference: str
    creditor_id: str
    debtor: str
    creditor: str
    signed_on: date
    scheme: str
    sequence: str
    status: str


class PaymentMethodIn(BaseModel):
    """Payer, payee, chain and token are not part of the request: they are read from the agreement on chain."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="sepa_dd or sepa_ct for a fiat agreement, erc20 for a token agreement.")
    mandate: str | None = Field(default=None, description="sepa_dd: reference of the payer's mandate for the payee.")
    payee_iban: str | None = Field(default=None, description="An account of the payee (default: its only active one).")
    payer_iban: str | None = Field(default=None, description="sepa_ct: an account of the payer (default: its only active one).")


class PaymentMethodOut(BaseModel):
    agreement: str
    chain_id: int
    kind: str
    payer: str
    payee: str
    mandate: str | None


SettlementOut.model_rebuild()

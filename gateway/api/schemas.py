"""Response and request bodies of the API. Money is exact: minor units as an integer plus the decimal value as a
string (never a float); times are ISO 8601 UTC."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from typing import Annotated

from eth_utils import to_checksum_address
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from settle.disputes import MAX_NOTE_CHARS
from settle.money import format_minor

ADDRESS = r"^0x[0-9a-fA-F]{40}$"


@lru_cache(maxsize=50_000)
def checksum(address: str) -> str:
    """``address`` EIP-55 checksummed: a keccak hash per call, so remembered (the same few thousand parties and
    agreements are in every answer)."""
    return to_checksum_address(address)


#: A chain address in an answer: EIP-55 checksummed, as the command line and the contracts' tools print them (the
#: read model keeps lower case for lookups).
Address = Annotated[str, PlainSerializer(checksum, return_type=str)]
OptionalAddress = Annotated[str | None, PlainSerializer(lambda v: checksum(v) if v else v, return_type=str | None)]
TX_HASH = r"^0x[0-9a-fA-F]{64}$"


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
    status: str = Field(description="pending | accepted | rejected | replaced")
    effective_from_period: int
    terms: dict[str, object]
    awaiting: list[str] | None = Field(default=None, description="Pending version: the parties that have not accepted it yet")
    applies_from_period: int | None = Field(default=None, description="Pending version: the first period it would price if accepted now")
    changes: list[str] | None = Field(default=None, description="Pending version: what it changes against the version in force")


class UsageOut(BaseModel):
    period: int
    meter: int
    cumulative: int
    records_root: str


class SettlementOut(BaseModel):
    agreement: Address
    period: int
    period_start: datetime | None
    period_end: datetime | None
    net: Money = Field(description="Net amount of the period (after included units, tiers, minimum and cap), from SettlementTriggered.")
    vat: Money = Field(description="VAT on the net amount at the terms' rate (half up, once per period), from SettlementTriggered.")
    gross: Money = Field(description="Net plus VAT: what the settlement billed (amount differs only after a resolved dispute).")
    vat_category: str | None = Field(
        default=None, description="UNCL 5305 VAT category of the terms version that priced the period: S, AE, K, G, E, Z or O."
    )
    vat_rate: str | None = Field(default=None, description='VAT rate of that terms version in percent, e.g. "19.00" ("0.00" but for S).')
    amount: Money = Field(description="What is owed, VAT included: the gross amount, or what a resolved dispute set.")
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
    disputed: Money | None = Field(default=None, description="While disputed: the part of the amount the payer disputes.")


class AgreementOut(BaseModel):
    address: Address
    chain_id: int
    factory: Address
    payer: Address
    payee: Address
    state: str
    service_status: str
    terms_version: int
    pending_version: int
    currency: str
    token: OptionalAddress
    minor_digits: int
    next_period_to_settle: int
    last_period: int | None = Field(description="The last period billed when an end is scheduled (null: open-ended)")
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
    agreement: Address
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


class AllocationOut(BaseModel):
    item_id: str = Field(description="The open item: <agreement>:<period> or fee:<id>.")
    amount: Money


class ReviewLineOut(StatementLineOut):
    state: str = Field(
        description="review (the engine has candidates but may not decide alone), unmatched, or after a decision matched / ignored."
    )
    kind: str = Field(description="payment, return, rejection, fee or other.")
    decision: str | None = Field(description="The engine's verdict: auto, review or none.")
    confidence: int | None = Field(description="The engine's confidence in per mille.")
    suggestion: list[AllocationOut] = Field(description="The engine's best allocation (review lines).")


class CandidateOut(BaseModel):
    item_id: str
    payer_name: str | None
    payer_iban: str | None = Field(description="Masked.")
    open: Money = Field(description="What is open now.")
    due_date: date | None
    invoice_number: str | None
    creditor_reference: str | None
    suggested: Money | None = Field(description="The engine's suggested amount for this item, if it is suggested.")


class ReviewDecisionOut(BaseModel):
    action: str = Field(description="accept, allocate or not_ours.")
    allocations: list[AllocationOut]
    note: str | None
    actor: str
    decided_at: datetime


class ReviewDetailOut(ReviewLineOut):
    account_iban: str | None = Field(description="Our account the line is on (masked).")
    payee: OptionalAddress = Field(description="The party whose account it is.")
    remittance: str | None = Field(description="The remittance text (IBANs in it masked).")
    evidence: list[str] = Field(description="The engine's facts for and against (IBANs masked).")
    candidates: list[CandidateOut] = Field(description="Open items of the payee the line may settle: the suggested ones first.")
    review: ReviewDecisionOut | None = Field(description="The person's decision, once made.")


class AllocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_id: str = Field(min_length=1, max_length=100, description="An open item from the line's candidates.")
    amount: str = Field(
        min_length=1,
        max_length=40,
        description="A decimal string in the line's currency ('119.00'); more decimals than it has are refused.",
    )


class AllocateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allocations: list[AllocationIn] = Field(min_length=1, max_length=100)
    note: str | None = Field(default=None, max_length=2000)


class AcceptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=2000)


class NotOursIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=2000, description="Why the line needs no booking.")


class ReviewOutcomeOut(BaseModel):
    line: ReviewLineOut
    review: ReviewDecisionOut
    outbox_items: int = Field(description="On-chain confirmations or returns queued.")
    notes: list[str] = Field(description="What followed: credit balances, write-offs, an account learnt (IBANs masked).")
    learnt_account: str | None = Field(description="The sender account learnt as paying for the items' payer (masked).")


class CreditBalanceOut(BaseModel):
    payer: OptionalAddress
    payer_name: str | None
    payee: OptionalAddress
    payee_name: str | None
    balance: Money


class AdviceItemOut(BaseModel):
    reference: str
    amount: Money | None
    kind: str = Field(description="invoice, credit_note or creditor_reference.")


class AdviceOut(BaseModel):
    id: int
    file_name: str
    payer_name: str | None
    total: Money | None
    items: list[AdviceItemOut]
    text_source: str = Field(description="text (a text layer) or ocr (scanned).")
    adds_up: bool = Field(description="Whether the items add up to the printed total.")
    statement_line_id: int | None = Field(description="The line the advice explains, once matched.")
    matched: int = Field(description="Lines waiting in review or unmatched that were matched after this advice arrived.")
    review: int
    unmatched: int
    notes: list[str]


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
    iban: str = Field(description="In full for the party's own accounts (and the operator's with reveal=true), masked for everyone else.")
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
    contact_name: str | None = Field(default=None, description="Invoice contact (BT-41): a person or department.")
    contact_phone: str | None = Field(default=None, description="Invoice contact phone (BT-42).")
    contact_email: str | None = Field(default=None, description="Invoice contact e-mail (BT-43).")
    buyer_reference: str | None = Field(default=None, description="Buyer reference on invoices to this party (BT-10), e.g. a Leitweg-ID.")
    account: BankAccountIn | None = None


class PartyChange(BaseModel):
    """Only the fields given change. ``null`` clears an optional field (street, postal code, city, VAT id, creditor
    id, contact, buyer reference); ``null`` for legal_name, country or active is refused (422 naming the field)."""

    model_config = ConfigDict(extra="forbid")

    legal_name: str | None = None
    country: str | None = None
    street: str | None = None
    postal_code: str | None = None
    city: str | None = None
    vat_id: str | None = None
    creditor_id: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = None
    contact_email: str | None = None
    buyer_reference: str | None = None
    active: bool | None = None


class PartyOut(BaseModel):
    address: Address
    legal_name: str
    country: str
    street: str | None
    postal_code: str | None
    city: str | None
    vat_id: str | None
    creditor_id: str | None
    contact_name: str | None = None
    contact_phone: str | None = None
    contact_email: str | None = None
    buyer_reference: str | None = None
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
    debtor: Address
    creditor: Address
    signed_on: date
    scheme: str
    sequence: str
    status: str


class PaymentMethodIn(BaseModel):
    """Payer, payee, chain and token are not part of the request: they are read from the agreement on chain."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(
        description="For a fiat agreement: sepa_dd (the payee collects), sepa_ct (the gateway builds the payer's pain.001) "
        "or transfer (pay on invoice: the payer transfers by itself, the gateway watches the payee's account); erc20 for a "
        "token agreement."
    )
    mandate: str | None = Field(default=None, description="sepa_dd: reference of the payer's mandate for the payee.")
    payee_iban: str | None = Field(default=None, description="An account of the payee (default: its only active one).")
    payer_iban: str | None = Field(
        default=None,
        description="sepa_ct: an account of the payer (default: its only active one); transfer: optional, the account payments "
        "are expected from (default: its only active one, if it has exactly one).",
    )


class PaymentMethodOut(BaseModel):
    agreement: Address
    chain_id: int
    kind: str
    payer: Address
    payee: Address
    mandate: str | None


class DisputeNoteOut(BaseModel):
    kind: str = Field(description="dispute (the dispute's reason), resolve, decide or write_off.")
    text: str
    text_hash: str = Field(description="keccak256 of the text's UTF-8 bytes: what the party's transaction carries.")
    party: Address = Field(description="The sender of the transaction carrying the hash (waiting: the account that is to sign it).")
    amount: Money | None = Field(description="The amount the action names (disputed, agreed, decided; none for a write-off).")
    state: str = Field(description="attached: found in the party's transaction; waiting: prepared, the transaction not seen yet.")
    tx_hash: str | None
    block_number: int | None
    acted_at: datetime | None = Field(description="Block time of the transaction, where the gateway read it.")
    received_at: datetime = Field(description="When the gateway got the text.")
    origin: str = Field(description="How it arrived: cli, api:reason, api:note or api:transaction.")


class DisputeResolutionOut(BaseModel):
    how: str = Field(description="consent (both parties), decision (the arbiter) or write_off.")
    agreed_amount: Money | None
    written_off: Money | None
    arbiter: OptionalAddress = Field(description="Who decided (decisions only).")
    block_number: int
    tx_hash: str


class DisputeOut(BaseModel):
    agreement: Address
    chain_id: int
    period: int
    payer: Address
    payee: Address
    status: str = Field(description="open, resolved (by consent), decided (by the arbiter) or written_off.")
    disputed: Money = Field(description="The part of the settlement the payer disputed.")
    billed: Money = Field(description="The settlement's amount when the dispute was opened.")
    settlement: SettlementOut = Field(description="The settlement as it is now.")
    opened_by: Address
    opened_block: int
    opened_tx: str
    seen_at: datetime = Field(description="When the gateway read the dispute from the chain.")
    reason_hash: str = Field(description="keccak256 of the payer's reason text, from the chain.")
    reason: str | None = Field(description="The reason text, once someone handed in the text with that hash.")
    resolution: DisputeResolutionOut | None
    notes: list[DisputeNoteOut] = Field(description="Every text on this dispute: its reason and the parties' notes.")


class DisputeTextIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(
        min_length=1,
        max_length=MAX_NOTE_CHARS,
        description="The text exactly as hashed: keccak256 of its UTF-8 bytes, nothing trimmed or normalised.",
    )


class DisputeNoteIn(DisputeTextIn):
    tx_hash: str = Field(pattern=TX_HASH, description="The party's transaction that carries the text's hash.")


class DisputeTransactionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: str = Field(pattern="^(dispute|resolve|decide|write_off)$")
    party: str = Field(pattern=ADDRESS, description="The account that will sign: the call is simulated from it.")
    amount: str | None = Field(
        default=None,
        max_length=100,
        description="dispute, resolve, decide: the amount as a decimal string in the agreement's currency ('40.00'); "
        "more decimals than the currency has are refused. Not for write_off.",
    )
    reason: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_NOTE_CHARS,
        description="The text: required for a dispute (its hash is the reasonHash argument), optional otherwise (its hash "
        "is appended to the call data). Kept by the gateway until the transaction's event arrives.",
    )


class UnsignedTransactionOut(BaseModel):
    to: str
    data: str = Field(description="Call data, 0x-hex (with the text's hash after the arguments for resolve, decide, write_off).")
    value: str = Field(description="Always '0'.")
    chain_id: int
    signer: str = Field(description="The account the transaction was simulated from; it signs and sends it.")
    function: str
    arguments: dict[str, int | str]
    text_hash: str | None
    note: DisputeNoteOut | None = Field(description="The text, waiting for the transaction.")


SettlementOut.model_rebuild()


class OpenItemOut(BaseModel):
    """One row of a party's open-items list (docs/receivables.md, "Open items")."""

    kind: str = Field(
        description="settlement, fee (bank charges passed on, paid off-chain) or credit (a credit balance: open is negative)."
    )
    item_id: str = Field(description="<agreement>:<period>, fee:<id> or credit:<payer>:<payee>:<currency>.")
    role: str = Field(description="The asking party's side: payee (a receivable) or payer (a payable).")
    chain_id: int | None
    agreement: OptionalAddress
    period: int | None
    payer: OptionalAddress
    payee: OptionalAddress
    invoice_number: str | None = Field(description="The settlement's issued invoice, once issued.")
    billed_on: date | None = Field(description="The invoice's issue date, else the day the gateway read the settlement.")
    due_date: date | None
    amount: Money = Field(description="What the settlement bills (after a resolved dispute: what it set).")
    open: Money = Field(
        description="What is open: on-chain, less what the gateway booked and the chain does not show yet, less write-offs."
    )
    disputed: Money = Field(description="The part of the open amount under an open on-chain dispute.")
    expected: Money = Field(description="Open less disputed: what the payee may expect now.")
    days_overdue: int = Field(description="Days past the due date as of the list's day (0: not due).")
    bucket: str | None = Field(description="not_due, 1-30, 31-60, 61-90 or over_90 (none for a credit).")
    status: str = Field(description="open, overdue, disputed, in_review (a bank line in the review queue may pay it) or credit.")
    dunning_level: int = Field(description="The dunning level reached (0: none).")
    dunning_fee: Money = Field(description="The flat fee charged on this claim by dunning (not part of open).")
    hold_until: date | None = Field(description="Dunning held by the payee until this day.")


class OpenItemsOut(BaseModel):
    party: Address
    as_of: date = Field(description="The day days overdue are counted to.")
    agreement: OptionalAddress
    total: int = Field(description="Rows in the whole list (this page has at most limit of them).")
    items: list[OpenItemOut]


class AgingBucketOut(BaseModel):
    name: str = Field(description="not_due, 1-30, 31-60, 61-90 or over_90.")
    count: int
    amount: Money


class AgingOut(BaseModel):
    """The aging of one currency (docs/receivables.md, "Aging")."""

    party: Address
    as_of: date
    currency: str
    buckets: list[AgingBucketOut]
    total: Money
    overdue: Money
    disputed: Money = Field(description="The part of the total under dispute.")
    credit: Money = Field(description="Credit balances (not aged).")
    dunning_fees: Money = Field(description="Flat fees charged by dunning (not aged, not in the buckets).")


class CountBackWindowOut(BaseModel):
    start: date
    end: date
    days: int
    sales: Money = Field(description="Amounts of the settlements billed in the window.")
    counted: str = Field(description="Days DSO took from this window (decimal, 0.1 day).")


class FiguresOut(BaseModel):
    """DSO (count-back), average days to pay, collection rate of one currency (docs/receivables.md, "DSO and other
    figures")."""

    party: Address
    as_of: date
    currency: str
    months: int
    window_start: date
    receivables: Money = Field(description="Open amounts of the open settlements billed up to as_of.")
    dso_days: str = Field(description="DSO by the count-back method, days (decimal, 0.1 day).", examples=["66.5"])
    dso_capped: bool = Field(description="The receivables exceed the sales of every window: DSO is at least dso_days.")
    count_back: list[CountBackWindowOut]
    billed: Money
    collected: Money
    collection_rate: str | None = Field(description="Collected over billed in the windows (decimal, 4 places).", examples=["0.4820"])
    paid_items: int
    avg_days_to_pay: str | None = Field(description="Mean of payment day - billing date over the paid settlements.")
    avg_days_late: str | None = Field(description="Mean of payment day - due date over the same settlements.")

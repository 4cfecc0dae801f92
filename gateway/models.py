"""The gateway's SQL model: off-chain master data (parties, bank accounts, mandates, payment methods), payment
instructions and files, imported bank statements, the outbox, and the change history.

Tables carry a ``gw_`` prefix so the gateway can share one database with the oracle. Money is ``BigInteger``
minor units; times are timezone-aware UTC (stored as UTC on both SQLite and PostgreSQL).

History (GoBD-style): every insert and update of an audited model is written to ``gw_history`` with who, when,
old and new values, by a session hook, whoever makes the change; audited rows cannot be deleted (they are
deactivated, revoked or cancelled instead). Set the actor with :func:`set_actor` (default ``"system"``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum as PyEnum
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
    insert,
    inspect,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from gateway.errors import HistoryViolation
from gateway.target2 import Scheme


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on SQLite (stored naive UTC) and PostgreSQL (timestamptz)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; the gateway stores timezone-aware UTC only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


def _enum(enum: type[PyEnum], name: str, length: int = 16) -> Enum:
    return Enum(enum, name=name, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])


# -- enumerations ----------------------------------------------------------------------------------------------


class SequenceType(StrEnum):
    """Where a mandate is in its life: its next collection is the first (FRST) or a recurring one (RCUR)."""

    FIRST = "FRST"
    RECURRING = "RCUR"


class MandateStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


class PaymentMethodKind(StrEnum):
    """How an agreement's settlements are paid."""

    SEPA_DIRECT_DEBIT = "sepa_dd"  # the payee collects (pain.008)
    SEPA_CREDIT_TRANSFER = "sepa_ct"  # the payer transfers (pain.001)
    ERC20 = "erc20"  # the agreement pulls a token on-chain; no bank payment


class InstructionState(StrEnum):
    PENDING = "pending"  # recorded from the settlement, not yet in a file
    IN_FILE = "in_file"  # in a validated payment file waiting in the outbox
    SENT = "sent"  # the file was handed to the bank
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    RETURNED = "returned"  # return debit / chargeback after payment
    CANCELLED = "cancelled"


class PaymentFileState(StrEnum):
    BUILT = "built"
    UPLOADED = "uploaded"


class LineState(StrEnum):
    MATCHED = "matched"  # produced a confirm or return item
    UNMATCHED = "unmatched"  # needs a person: the reason says why
    IGNORED = "ignored"  # identified, but needs no action (e.g. the payer side of our own payment)
    DUPLICATE = "duplicate"  # never stored: a line with this bank reference exists (kept for reports only)


class OutboxState(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    DEAD = "dead"  # gave up after max_attempts; needs a person


# -- master data (off-chain only) ----------------------------------------------------------------------------------


class Audited:
    """Marker: inserts and updates go to ``gw_history``; deletes are refused."""


class Party(Audited, Base):
    """A payer or payee: the chain address links it to agreements; everything else never goes on-chain."""

    __tablename__ = "gw_party"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_address: Mapped[str] = mapped_column(String(42), unique=True)
    legal_name: Mapped[str] = mapped_column(String(140))
    street: Mapped[str | None] = mapped_column(String(70))
    postal_code: Mapped[str | None] = mapped_column(String(16))
    city: Mapped[str | None] = mapped_column(String(35))
    country: Mapped[str] = mapped_column(String(2))
    vat_id: Mapped[str | None] = mapped_column(String(20))
    #: SEPA creditor identifier, for parties that collect direct debits.
    creditor_id: Mapped[str | None] = mapped_column(String(35))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    accounts: Mapped[list[BankAccount]] = relationship(back_populates="party", order_by="BankAccount.id")


class BankAccount(Audited, Base):
    """A party's bank account. An IBAN belongs to one party: a second party may hold it only when the account is
    marked shared with a reason (``shared_reason``, e.g. a group's treasury account), so the database keeps at most
    one unshared holder per IBAN."""

    __tablename__ = "gw_bank_account"
    __table_args__ = (
        UniqueConstraint("party_id", "iban"),
        Index(
            "uq_gw_bank_account_iban_unshared",
            "iban",
            unique=True,
            sqlite_where=text("shared_reason IS NULL"),
            postgresql_where=text("shared_reason IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("gw_party.id"), index=True)
    iban: Mapped[str] = mapped_column(String(34))
    bic: Mapped[str | None] = mapped_column(String(11))
    #: Account holder if it differs from the party's legal name.
    holder_name: Mapped[str | None] = mapped_column(String(140))
    #: Why another party holds this IBAN too (None: the account is this party's alone).
    shared_reason: Mapped[str | None] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    party: Mapped[Party] = relationship(back_populates="accounts")


class Mandate(Audited, Base):
    """A SEPA direct debit mandate: the debtor (payer) authorises the creditor (payee) to collect."""

    __tablename__ = "gw_mandate"
    __table_args__ = (UniqueConstraint("creditor_id", "reference"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(35))
    creditor_id: Mapped[str] = mapped_column(String(35))
    debtor_party_id: Mapped[int] = mapped_column(ForeignKey("gw_party.id"), index=True)
    creditor_party_id: Mapped[int] = mapped_column(ForeignKey("gw_party.id"), index=True)
    debtor_account_id: Mapped[int] = mapped_column(ForeignKey("gw_bank_account.id"))
    signed_on: Mapped[date] = mapped_column(Date)
    scheme: Mapped[Scheme] = mapped_column(_enum(Scheme, "mandate_scheme", 4))
    sequence: Mapped[SequenceType] = mapped_column(_enum(SequenceType, "mandate_sequence", 4), default=SequenceType.FIRST)
    status: Mapped[MandateStatus] = mapped_column(_enum(MandateStatus, "mandate_status", 8), default=MandateStatus.ACTIVE)
    last_collection_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    debtor: Mapped[Party] = relationship(foreign_keys=[debtor_party_id])
    creditor: Mapped[Party] = relationship(foreign_keys=[creditor_party_id])
    debtor_account: Mapped[BankAccount] = relationship()


class PaymentMethod(Audited, Base):
    """How one agreement is paid, and from/to which accounts."""

    __tablename__ = "gw_payment_method"
    __table_args__ = (UniqueConstraint("chain_id", "agreement"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    agreement: Mapped[str] = mapped_column(String(42))
    kind: Mapped[PaymentMethodKind] = mapped_column(_enum(PaymentMethodKind, "payment_method_kind", 8))
    payer_party_id: Mapped[int] = mapped_column(ForeignKey("gw_party.id"))
    payee_party_id: Mapped[int] = mapped_column(ForeignKey("gw_party.id"))
    mandate_id: Mapped[int | None] = mapped_column(ForeignKey("gw_mandate.id"))
    payee_account_id: Mapped[int | None] = mapped_column(ForeignKey("gw_bank_account.id"))
    payer_account_id: Mapped[int | None] = mapped_column(ForeignKey("gw_bank_account.id"))
    token: Mapped[str | None] = mapped_column(String(42))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    payer: Mapped[Party] = relationship(foreign_keys=[payer_party_id])
    payee: Mapped[Party] = relationship(foreign_keys=[payee_party_id])
    mandate: Mapped[Mandate | None] = relationship()
    payee_account: Mapped[BankAccount | None] = relationship(foreign_keys=[payee_account_id])
    payer_account: Mapped[BankAccount | None] = relationship(foreign_keys=[payer_account_id])


class HistoryRecord(Base):
    """One change of one audited row: who, when, old and new values of the columns that changed."""

    __tablename__ = "gw_history"
    __table_args__ = (Index(None, "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(8))
    actor: Mapped[str] = mapped_column(String(100))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    old_values: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    new_values: Mapped[dict[str, Any] | None] = mapped_column(JSON)


# -- payments -----------------------------------------------------------------------------------------------------------


class PaymentFile(Base):
    """A pain.001 / pain.008 file as written (validated) and handed to the bank."""

    __tablename__ = "gw_payment_file"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # pain.008 | pain.001
    schema: Mapped[str] = mapped_column(String(20))  # e.g. pain.008.001.08
    message_id: Mapped[str] = mapped_column(String(35), unique=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(String(500))
    #: The initiating account: the creditor account of a pain.008, the debtor account of a pain.001.
    account_iban: Mapped[str] = mapped_column(String(34))
    file_date: Mapped[date] = mapped_column(Date)  # collection date (pain.008) / execution date (pain.001)
    scheme: Mapped[str | None] = mapped_column(String(4))
    tx_count: Mapped[int] = mapped_column(Integer)
    control_sum: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    state: Mapped[PaymentFileState] = mapped_column(_enum(PaymentFileState, "payment_file_state", 8), default=PaymentFileState.BUILT)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    uploaded_at: Mapped[datetime | None] = mapped_column()


class PaymentInstruction(Audited, Base):
    """The bank payment of one settlement (agreement, period)."""

    __tablename__ = "gw_payment_instruction"
    __table_args__ = (UniqueConstraint("chain_id", "agreement", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    agreement: Mapped[str] = mapped_column(String(42))
    period: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[PaymentMethodKind] = mapped_column(_enum(PaymentMethodKind, "instruction_method", 8))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    currency_digits: Mapped[int] = mapped_column(SmallInteger, default=2)
    due_date: Mapped[date] = mapped_column(Date)
    end_to_end_id: Mapped[str] = mapped_column(String(35), unique=True)
    creditor_reference: Mapped[str] = mapped_column(String(25), unique=True)
    state: Mapped[InstructionState] = mapped_column(
        _enum(InstructionState, "instruction_state", 16), default=InstructionState.PENDING, index=True
    )
    #: Requested collection date (pain.008) or execution date (pain.001), set when the file is built.
    collection_date: Mapped[date | None] = mapped_column(Date)
    sequence_type: Mapped[str | None] = mapped_column(String(4))
    payment_file_id: Mapped[int | None] = mapped_column(ForeignKey("gw_payment_file.id"), index=True)
    payment_info_id: Mapped[str | None] = mapped_column(String(35))
    paid_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    returned_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    return_reason: Mapped[str | None] = mapped_column(String(4))
    #: Where the settlement was read on-chain (set by the chain listener).
    settlement_tx: Mapped[str | None] = mapped_column(String(66))
    settlement_block: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    payment_file: Mapped[PaymentFile | None] = relationship()

    @property
    def open_amount(self) -> int:
        return self.amount - self.paid_amount + self.returned_amount


# -- bank statements ---------------------------------------------------------------------------------------------------


class BankStatement(Base):
    """One imported statement file (camt.053 / camt.054); the same bytes are never imported twice."""

    __tablename__ = "gw_bank_statement"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    file_name: Mapped[str] = mapped_column(String(255))
    message_name: Mapped[str] = mapped_column(String(20))  # camt.053.001.08
    message_id: Mapped[str | None] = mapped_column(String(64))
    record_count: Mapped[int] = mapped_column(Integer)
    line_count: Mapped[int] = mapped_column(Integer)
    duplicate_lines: Mapped[int] = mapped_column(Integer, default=0)
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
    imported_by: Mapped[str] = mapped_column(String(100))


class StatementLine(Base):
    """One booked transaction: an entry, or one transaction detail of a batch entry."""

    __tablename__ = "gw_statement_line"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("gw_bank_statement.id"), index=True)
    record_id: Mapped[str | None] = mapped_column(String(64))  # Stmt/Id or Ntfctn/Id
    account_iban: Mapped[str | None] = mapped_column(String(34))
    entry_index: Mapped[int] = mapped_column(Integer)
    detail_index: Mapped[int] = mapped_column(Integer)
    bank_reference: Mapped[str] = mapped_column(String(200), unique=True)
    amount: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    credit_debit: Mapped[str] = mapped_column(String(4))
    reversal: Mapped[bool] = mapped_column(Boolean, default=False)
    booking_date: Mapped[date | None] = mapped_column(Date)
    value_date: Mapped[date | None] = mapped_column(Date)
    bank_tx_code: Mapped[str | None] = mapped_column(String(40))
    end_to_end_id: Mapped[str | None] = mapped_column(String(140))
    mandate_id: Mapped[str | None] = mapped_column(String(140))
    creditor_reference: Mapped[str | None] = mapped_column(String(140))
    remittance: Mapped[str | None] = mapped_column(Text)
    return_reason: Mapped[str | None] = mapped_column(String(35))
    counterparty_name: Mapped[str | None] = mapped_column(String(140))
    counterparty_iban: Mapped[str | None] = mapped_column(String(34))
    match_state: Mapped[LineState] = mapped_column(_enum(LineState, "line_state", 10), index=True)
    match_reason: Mapped[str | None] = mapped_column(Text)
    payment_instruction_id: Mapped[int | None] = mapped_column(ForeignKey("gw_payment_instruction.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    statement: Mapped[BankStatement] = relationship()
    payment_instruction: Mapped[PaymentInstruction | None] = relationship()


# -- outbox --------------------------------------------------------------------------------------------------------------


class OutboxItem(Base):
    """Work that must happen exactly once (upload a file, confirm a payment on-chain, send a webhook)."""

    __tablename__ = "gw_outbox"
    __table_args__ = (Index(None, "kind", "state", "available_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[OutboxState] = mapped_column(_enum(OutboxState, "outbox_state", 10), default=OutboxState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=10)
    available_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_until: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column()


# -- read model (mirrors the chain; rebuilt from gw_chain_event after a reorg) ------------------------------------


class Uint(TypeDecorator[int]):
    """An unsigned integer of up to 256 bits (amounts, usage totals), kept exact: a decimal string in the
    database (SQLite has no 78-digit integers and would turn big NUMERICs into floats), an ``int`` in Python."""

    impl = String(78)
    cache_ok = True

    def process_bind_param(self, value: int | None, dialect: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{value!r} is not an unsigned integer")
        return str(value)

    def process_result_value(self, value: str | None, dialect: Any) -> int | None:
        return None if value is None else int(value)


class ChainCursor(Base):
    """How far the listener has applied the chain: the last block read and its hash (a reorg changes the hash)."""

    __tablename__ = "gw_chain_cursor"
    __table_args__ = (UniqueConstraint("chain_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(40))
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str | None] = mapped_column(String(66))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ChainBlock(Base):
    """Hash of a block the listener read (blocks with events and the end of every range): reorg detection."""

    __tablename__ = "gw_chain_block"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[str] = mapped_column(String(66))


class ChainEvent(Base):
    """One applied log, decoded: the read model is a projection of these rows."""

    __tablename__ = "gw_chain_event"
    __table_args__ = (
        UniqueConstraint("chain_id", "block_hash", "log_index"),
        Index(None, "chain_id", "block_number"),
        Index(None, "address"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))
    log_index: Mapped[int] = mapped_column(Integer)
    tx_hash: Mapped[str] = mapped_column(String(66))
    address: Mapped[str] = mapped_column(String(42))
    event: Mapped[str] = mapped_column(String(40))
    args: Mapped[dict[str, Any]] = mapped_column(JSON)


class Agreement(Base):
    """An agreement as the chain shows it (created by the factory the gateway follows)."""

    __tablename__ = "gw_agreement"
    __table_args__ = (UniqueConstraint("chain_id", "address"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    address: Mapped[str] = mapped_column(String(42))  # lower case
    factory: Mapped[str] = mapped_column(String(42))
    payer: Mapped[str] = mapped_column(String(42), index=True)
    payee: Mapped[str] = mapped_column(String(42), index=True)
    state: Mapped[str] = mapped_column(String(12))  # proposed | active | paused | terminated
    service_status: Mapped[str] = mapped_column(String(12), default="active")  # active | restricted | suspended
    terms_version: Mapped[int] = mapped_column(Integer, default=1)  # latest accepted version
    pending_version: Mapped[int] = mapped_column(Integer, default=0)
    token: Mapped[str] = mapped_column(String(42))  # 0x00…00 for fiat
    currency: Mapped[str] = mapped_column(String(3))
    minor_digits: Mapped[int] = mapped_column(SmallInteger)
    next_period_to_settle: Mapped[int] = mapped_column(BigInteger, default=0)
    end_period: Mapped[int] = mapped_column(BigInteger, default=0)  # 0 = open-ended
    termination_reason: Mapped[str | None] = mapped_column(String(12))
    created_block: Mapped[int] = mapped_column(BigInteger)
    created_tx: Mapped[str] = mapped_column(String(66))
    updated_block: Mapped[int] = mapped_column(BigInteger)

    @property
    def is_fiat(self) -> bool:
        return int(self.token, 16) == 0


class TermsVersion(Base):
    """One terms version of an agreement: packed terms (docs/terms-encoding.md), hash, status, first period."""

    __tablename__ = "gw_terms_version"
    __table_args__ = (UniqueConstraint("agreement_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("gw_agreement.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    terms_hash: Mapped[str] = mapped_column(String(66))
    packed: Mapped[str] = mapped_column(Text)  # 0x-hex
    status: Mapped[str] = mapped_column(String(10))  # pending | accepted | rejected | replaced
    effective_from_period: Mapped[int] = mapped_column(BigInteger, default=0)
    proposed_block: Mapped[int] = mapped_column(BigInteger)


class Usage(Base):
    """Cumulative usage of one meter in one period (the latest UsageReported / UsageCorrected)."""

    __tablename__ = "gw_usage"
    __table_args__ = (UniqueConstraint("agreement_id", "period", "meter"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("gw_agreement.id"), index=True)
    period: Mapped[int] = mapped_column(BigInteger)
    meter: Mapped[int] = mapped_column(SmallInteger)
    cumulative: Mapped[int] = mapped_column(Uint())
    records_root: Mapped[str] = mapped_column(String(66))
    report_id: Mapped[str | None] = mapped_column(String(66))
    updated_block: Mapped[int] = mapped_column(BigInteger)


class Settlement(Base):
    """The settlement of one period, with its payment status as the chain reports it."""

    __tablename__ = "gw_settlement"
    __table_args__ = (UniqueConstraint("agreement_id", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("gw_agreement.id"), index=True)
    period: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(Uint())
    paid: Mapped[int] = mapped_column(Uint(), default=0)
    due_at: Mapped[datetime] = mapped_column()
    terms_version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)  # due | partially_paid | paid | returned | disputed | written_off
    #: While disputed: the part of the amount the payer disputes (0 otherwise).
    disputed: Mapped[int] = mapped_column(Uint(), default=0, server_default="0")
    token_pull_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_return_reason: Mapped[str | None] = mapped_column(String(4))
    settled_block: Mapped[int] = mapped_column(BigInteger)
    settled_tx: Mapped[str] = mapped_column(String(66))
    #: When the listener applied the SettlementTriggered event (wall clock): the start of payment latency.
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_block: Mapped[int] = mapped_column(BigInteger)

    agreement: Mapped[Agreement] = relationship()

    @property
    def open_amount(self) -> int:
        return 0 if self.status in ("paid", "written_off") else self.amount - self.paid

    @property
    def pullable(self) -> int:
        """What ``collect(period)`` may pull: the open amount less the disputed part."""
        return max(self.open_amount - self.disputed, 0)


class Dispute(Base):
    """One dispute on a settlement, as the chain shows it: opened by ``SettlementDisputed``, ended by
    ``DisputeResolved`` (by consent, or decided by the arbiter) or ``SettlementWrittenOff``."""

    __tablename__ = "gw_dispute"
    __table_args__ = (UniqueConstraint("agreement_id", "period", "opened_tx"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("gw_agreement.id"), index=True)
    period: Mapped[int] = mapped_column(BigInteger)
    #: The disputed part and the settlement's amount when the dispute was opened.
    amount: Mapped[int] = mapped_column(Uint())
    billed: Mapped[int] = mapped_column(Uint())
    opened_by: Mapped[str] = mapped_column(String(42))
    #: keccak256 of the payer's reason text (the text itself is a DisputeNote once someone hands it in).
    reason_hash: Mapped[str] = mapped_column(String(66), index=True)
    opened_block: Mapped[int] = mapped_column(BigInteger)
    opened_tx: Mapped[str] = mapped_column(String(66))
    #: When the listener applied the event (wall clock).
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(12))  # open | resolved (by consent) | decided (by the arbiter) | written_off
    agreed_amount: Mapped[int | None] = mapped_column(Uint())
    written_off: Mapped[int | None] = mapped_column(Uint())
    arbiter: Mapped[str | None] = mapped_column(String(42))
    closed_block: Mapped[int | None] = mapped_column(BigInteger)
    closed_tx: Mapped[str | None] = mapped_column(String(66))


class DisputeNote(Audited, Base):
    """A party's text on a dispute action (the reason of a dispute; a note on a resolution, decision or write-off),
    kept off-chain. It is tied to the chain by its hash, keccak256 of the text (see :mod:`settle.disputes`): kept
    only once the gateway has found that hash in the party's transaction (``tx_hash`` set; ``party`` is the
    transaction's sender) or, for a transaction the gateway prepared, still waiting for it (``tx_hash`` empty,
    ``party`` the account expected to sign). Not part of the read model: a reorg never deletes one; notes are never
    deleted at all, and every change is in ``gw_history``."""

    __tablename__ = "gw_dispute_note"
    __table_args__ = (
        UniqueConstraint("chain_id", "agreement", "period", "kind", "tx_hash"),
        Index(None, "chain_id", "agreement", "period"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    agreement: Mapped[str] = mapped_column(String(42))  # lower case
    period: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(10))  # dispute | resolve | decide | write_off
    text: Mapped[str] = mapped_column(Text)
    text_hash: Mapped[str] = mapped_column(String(66))
    #: The amount the action names (disputed, agreed or decided; none for a write-off).
    amount: Mapped[int | None] = mapped_column(Uint())
    party: Mapped[str] = mapped_column(String(42))
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    #: The block time of the transaction, where the gateway read it.
    acted_at: Mapped[datetime | None] = mapped_column()
    #: A prepared resolution or write-off: the consent (``ConsentGiven.action``) that attaches it.
    action_hash: Mapped[str | None] = mapped_column(String(66))
    #: How the text arrived: cli | api:reason | api:note | api:transaction.
    origin: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    attached_at: Mapped[datetime | None] = mapped_column()


# -- transactions the gateway sends ---------------------------------------------------------------------------------


class SignerNonce(Base):
    """The next nonce of a signing key, allocated under a row lock so several workers never reuse one."""

    __tablename__ = "gw_signer_nonce"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    next_nonce: Mapped[int] = mapped_column(BigInteger)


class ChainTransaction(Base):
    """The one transaction that carries out an outbox item on-chain: signed and stored before it is broadcast,
    so a crash leads to the same bytes being sent again, never to a second transaction."""

    __tablename__ = "gw_chain_tx"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outbox_item_id: Mapped[int] = mapped_column(ForeignKey("gw_outbox.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    chain_id: Mapped[int] = mapped_column(BigInteger)
    sender: Mapped[str] = mapped_column(String(42))
    to: Mapped[str] = mapped_column(String(42))
    nonce: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66), unique=True)
    raw: Mapped[str] = mapped_column(Text)  # 0x-hex of the signed transaction
    state: Mapped[str] = mapped_column(String(10))  # signed | sent | mined | reverted | dropped
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# -- history hook ------------------------------------------------------------------------------------------------------

ACTOR_KEY = "gateway.actor"
_NOT_AUDITED_COLUMNS = frozenset({"created_at", "updated_at"})


def set_actor(session: Session, actor: str) -> None:
    """Name who makes the changes in ``session`` (recorded in ``gw_history``)."""
    session.info[ACTOR_KEY] = actor


def _plain(value: Any) -> Any:
    if isinstance(value, PyEnum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _entity(obj: object) -> str:
    return type(obj).__tablename__  # type: ignore[attr-defined]


@event.listens_for(Session, "before_flush")
def _refuse_deletes(session: Session, _context: Any, _instances: Any) -> None:
    for obj in session.deleted:
        if isinstance(obj, Audited):
            raise HistoryViolation(f"{_entity(obj)} row {inspect(obj).identity} cannot be deleted: deactivate, revoke or cancel it instead")


@event.listens_for(Session, "after_flush")
def _record_history(session: Session, _context: Any) -> None:
    rows: list[dict[str, Any]] = []
    actor = session.info.get(ACTOR_KEY, "system")
    now = utcnow()
    for obj in session.new:
        if isinstance(obj, Audited):
            state = inspect(obj)
            values = {
                attr.key: _plain(attr.value)
                for attr in state.attrs
                if attr.key in state.mapper.columns.keys() and attr.key not in _NOT_AUDITED_COLUMNS  # noqa: SIM118
            }
            rows.append(_history_row(obj, "insert", actor, now, None, values))
    for obj in session.dirty:
        if not isinstance(obj, Audited) or not session.is_modified(obj, include_collections=False):
            continue
        state = inspect(obj)
        old: dict[str, Any] = {}
        new: dict[str, Any] = {}
        for key in state.mapper.columns.keys():  # noqa: SIM118
            if key in _NOT_AUDITED_COLUMNS:
                continue
            history = state.attrs[key].history
            if history.has_changes():
                before = history.deleted[0] if history.deleted else None
                after = history.added[0] if history.added else None
                if _plain(before) != _plain(after):
                    old[key], new[key] = _plain(before), _plain(after)
        if new:
            rows.append(_history_row(obj, "update", actor, now, old, new))
    if rows:
        session.connection().execute(insert(HistoryRecord), rows)


def _history_row(obj: object, action: str, actor: str, now: datetime, old: dict | None, new: dict | None) -> dict[str, Any]:
    return {
        "entity": _entity(obj),
        "entity_id": inspect(obj).mapper.primary_key_from_instance(obj)[0],
        "action": action,
        "actor": actor,
        "changed_at": now,
        "old_values": old,
        "new_values": new,
    }

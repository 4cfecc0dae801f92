"""The read model (mirrors the chain; rebuilt from gw_chain_event after a reorg) and the transactions the gateway
sends."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gateway.models.base import Audited, Base, Uint, utcnow


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
    address: Mapped[str] = mapped_column(String(42), index=True)  # lower case; looked up alone by the API
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
    #: Parties (lower-case addresses) that accepted this version (TermsAccepted), for "who still has to accept".
    accepted_by: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    effective_from_period: Mapped[int] = mapped_column(BigInteger, default=0)
    proposed_block: Mapped[int] = mapped_column(BigInteger)
    #: VAT of these terms: UNCL 5305 category code (S, AE, K, G, E, Z, O) and rate in hundredths of a percent
    #: (1900 = 19.00 %; 0 for every category but S). Versions read before VAT was part of the terms are O at 0.
    vat_category: Mapped[str] = mapped_column(String(2), default="O", server_default="O")
    vat_rate: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


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
    #: What is owed, VAT included: net + vat at settlement, or the amount a resolved dispute set.
    amount: Mapped[int] = mapped_column(Uint())
    #: Net amount and VAT as the SettlementTriggered event carries them (their sum is the amount billed at
    #: settlement; a resolved dispute changes ``amount`` only).
    net: Mapped[int] = mapped_column(Uint())
    vat: Mapped[int] = mapped_column(Uint(), default=0, server_default="0")
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

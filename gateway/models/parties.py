"""Party master data (off-chain only): parties, bank accounts, SEPA mandates, how each agreement is paid."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gateway.banking.target2 import Scheme
from gateway.models.base import Audited, Base, _enum, utcnow


class SequenceType(StrEnum):
    """Where a mandate is in its life: its next collection is the first (FRST) or a recurring one (RCUR)."""

    FIRST = "FRST"
    RECURRING = "RCUR"


class MandateStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"
    UNUSABLE = "unusable"  # a return said the mandate or the account is gone (AC04, AC06, MD01, MD07, SL01)


class PaymentMethodKind(StrEnum):
    """How an agreement's settlements are paid."""

    SEPA_DIRECT_DEBIT = "sepa_dd"  # the payee collects (pain.008)
    SEPA_CREDIT_TRANSFER = "sepa_ct"  # the payer transfers (pain.001 built by the gateway)
    BANK_TRANSFER = "transfer"  # the payer transfers on its own, on invoice; the gateway watches the payee's account
    ERC20 = "erc20"  # the agreement pulls a token on-chain; no bank payment


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
    #: Invoice contact (EN 16931 BT-41 to BT-43; XRechnung needs them for the seller): a person or department.
    contact_name: Mapped[str | None] = mapped_column(String(100))
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    #: What invoices to this party carry as buyer reference (BT-10): a Leitweg-ID for public buyers, else any
    #: reference the buyer asked for (the agreement's address is used when empty).
    buyer_reference: Mapped[str | None] = mapped_column(String(100))
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
    #: Why the mandate is no longer used (the return that made it unusable: reason code and bank reference).
    status_reason: Mapped[str | None] = mapped_column(String(200))
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
    payer_party_id: Mapped[int] = mapped_column(ForeignKey("gw_party.id"), index=True)
    payee_party_id: Mapped[int] = mapped_column(ForeignKey("gw_party.id"), index=True)
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

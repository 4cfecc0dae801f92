"""The oracle's tables (SQLAlchemy 2.0). Every change to them is an Alembic migration in ``oracle/migrations``.

Tables are prefixed ``oracle_`` so the oracle and the gateway can share one database.

Exactly-once rests on one constraint: ``oracle_records (source_id, record_id)`` is unique, for ever. A record's
row (accepted or quarantined) and its dedupe key are the same row, so they commit together.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite makes only "INTEGER PRIMARY KEY" an alias of the rowid; BIGINT there would add a second B-tree.
IdType = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Record status (oracle_records.status).
ACCEPTED = 1
QUARANTINED = 2
DISCARDED = 3  # quarantined, then rejected by an operator (or added by a correction the chain refused): id taken
VOIDED = 4  # accepted, then voided by a correction (oracle_record_voids says who, when, why): kept, not counted

STATUS_NAMES = {ACCEPTED: "accepted", QUARANTINED: "quarantined", DISCARDED: "discarded", VOIDED: "voided"}

# Report status (oracle_reports.status).
OPEN = "open"  # collecting records
PENDING = "pending"  # cut: root and totals fixed, no transaction yet
SUBMITTED = "submitted"  # signed transaction stored (and sent, unless a crash came first)
CONFIRMED = "confirmed"  # mined with status 1 and deep enough
FAILED = "failed"  # reverted or refused for good; reason in `error`
SKIPPED = "skipped"  # no meter increased (only zero quantities): nothing to put on-chain
SUPERSEDED = "superseded"  # a correction of its period covers it: never sent (or sent and refused as stale)

# Kinds of rows in oracle_reports: a usage report (reportUsage) or one meter of a correction (correctUsage).
USAGE = "usage"
CORRECTION = "correction"

# Correction status (oracle_corrections.status).
CORRECTION_PENDING = "pending"  # stored; its correctUsage transactions are not all confirmed yet
CORRECTION_CONFIRMED = "confirmed"  # every correctUsage of it is confirmed (or covered by a later correction)
CORRECTION_FAILED = "failed"  # the chain refused it (e.g. the period was settled first): undone in the books


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Source(Base):
    """An ERP, platform or IoT system that sends usage; record ids are unique per source."""

    __tablename__ = "oracle_sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApiKey(Base):
    """An API token of the shared model (:mod:`settle.auth.tokens`, ``stl_…``; keys made before it start ``so_``
    and keep working), stored as the SHA-256 of the token (256-bit random, so a plain hash suffices). ``scopes``:
    ``usage`` and/or ``read`` for a key bound to a source, ``operator`` for an operator key."""

    __tablename__ = "oracle_api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16))  # "ingest" (bound to a source) or "operator": kept for old readers
    source_id: Mapped[int | None] = mapped_column(ForeignKey("oracle_sources.id"))
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    scopes: Mapped[str] = mapped_column(String(64), default="", server_default="")  # comma-separated
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Agreement(Base):
    """An agreement the oracle reports for, with the parts of its terms and status the checks need."""

    __tablename__ = "oracle_agreements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(42), unique=True)  # checksummed
    label: Mapped[str] = mapped_column(String(200), default="")
    interval_kind: Mapped[int] = mapped_column(SmallInteger)
    interval: Mapped[int] = mapped_column(BigInteger)
    start: Mapped[int] = mapped_column(BigInteger)
    end: Mapped[int] = mapped_column(BigInteger, default=0)  # 0 = open-ended; also a scheduled termination
    grace_seconds: Mapped[int] = mapped_column(BigInteger, default=0)
    meter_count: Mapped[int] = mapped_column(SmallInteger)
    state: Mapped[int] = mapped_column(SmallInteger, default=1)  # AgreementState: 0 Proposed, 1 Active, 2 Paused, 3 Terminated
    next_period_to_settle: Mapped[int] = mapped_column(BigInteger, default=0)
    synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Pause(Base):
    """A time an agreement was paused (``AgreementPaused`` … ``AgreementResumed``): records that occurred in it are
    held in quarantine (``agreement_paused``). Times are the events' block times; a pause found already running
    when the agreement was registered starts at 0 (its start is unknown)."""

    __tablename__ = "oracle_pauses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("oracle_agreements.id"), index=True)
    paused_at: Mapped[int] = mapped_column(BigInteger)  # unix seconds (chain time)
    paused_block: Mapped[int | None] = mapped_column(BigInteger)  # the AgreementPaused event's block, once seen
    paused_by: Mapped[str | None] = mapped_column(String(42))
    resumed_at: Mapped[int | None] = mapped_column(BigInteger)  # None while it lasts
    resumed_block: Mapped[int | None] = mapped_column(BigInteger)


class Meter(Base):
    """How an ERP meter name maps to a meter index of an agreement, with its unit and decimals.

    ``decimals`` scales decimal quantities to the integer units counted on-chain: with 3, "1.5" GB is 1500.
    """

    __tablename__ = "oracle_meters"
    __table_args__ = (UniqueConstraint("agreement_id", "meter"), UniqueConstraint("agreement_id", "name"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("oracle_agreements.id"))
    meter: Mapped[int] = mapped_column(SmallInteger)
    name: Mapped[str] = mapped_column(String(100))
    unit: Mapped[str] = mapped_column(String(32))
    decimals: Mapped[int] = mapped_column(SmallInteger, default=0)


class Reference(Base):
    """An ERP customer or contract reference for an agreement; ``scope`` is a source name or '' for all sources."""

    __tablename__ = "oracle_references"
    __table_args__ = (UniqueConstraint("scope", "ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(64), default="")
    ref: Mapped[str] = mapped_column(String(200))
    agreement_id: Mapped[int] = mapped_column(ForeignKey("oracle_agreements.id"))


class Batch(Base):
    """One delivery: an HTTP request, a file or a CLI run. Every stored record names the batch it came in."""

    __tablename__ = "oracle_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("oracle_sources.id"))
    kind: Mapped[str] = mapped_column(String(16))  # http | file | cli
    name: Mapped[str] = mapped_column(String(300), default="")
    sha256: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)


Index("ix_oracle_batches_file", Batch.source_id, Batch.sha256)


class Record(Base):
    """One usage record, accepted or quarantined. Ids are assigned by the oracle in blocks (oracle_counters); a
    released record gets a fresh id. The record's Merkle leaf is kept with its open report (``ReportLeaves``) and
    then in the report's tree, not here: a proof recomputes it from these fields."""

    __tablename__ = "oracle_records"
    __table_args__ = (UniqueConstraint("source_id", "record_id", name="uq_oracle_records_source_record"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=False)
    source_id: Mapped[int] = mapped_column(Integer)
    record_id: Mapped[str] = mapped_column(String(128))
    batch_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[int] = mapped_column(SmallInteger)
    agreement_id: Mapped[int | None] = mapped_column(Integer)
    meter: Mapped[int | None] = mapped_column(SmallInteger)
    period: Mapped[int | None] = mapped_column(BigInteger)
    units: Mapped[int | None] = mapped_column(BigInteger)  # quantity in the meter's integer units
    occurred_at: Mapped[int] = mapped_column(BigInteger)  # microseconds since the epoch, UTC
    report_id: Mapped[int | None] = mapped_column(BigInteger)  # oracle_reports.id
    correction_id: Mapped[int | None] = mapped_column(Integer)  # oracle_corrections.id that added it (a replacement)


class QuarantineEntry(Base):
    """Why a record is held, the record as it was sent, and the operator's decision."""

    __tablename__ = "oracle_quarantine"
    __table_args__ = (UniqueConstraint("source_id", "record_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(Integer)
    record_id: Mapped[str] = mapped_column(String(128))
    code: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    agreement_ref: Mapped[str] = mapped_column(String(200))
    meter_ref: Mapped[str] = mapped_column(String(100))
    quantity: Mapped[str] = mapped_column(String(80))
    unit: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[str] = mapped_column(String(40))  # RFC 3339 UTC as normalised
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decision: Mapped[str | None] = mapped_column(String(16))  # released | rejected
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)


Index("ix_oracle_quarantine_open", QuarantineEntry.decision, QuarantineEntry.id)


class Total(Base):
    """Running sums per agreement, meter and period: accepted so far, cut into reports, confirmed on-chain."""

    __tablename__ = "oracle_totals"

    agreement_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meter: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    period: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    accepted_units: Mapped[int] = mapped_column(BigInteger, default=0)
    accepted_count: Mapped[int] = mapped_column(BigInteger, default=0)
    reported_units: Mapped[int] = mapped_column(BigInteger, default=0)
    confirmed_units: Mapped[int] = mapped_column(BigInteger, default=0)


class Report(Base):
    """A usage report for one agreement and period, from collecting records to a confirmed transaction; or
    (``kind`` correction) one meter of a correction: a ``correctUsage`` transaction through the same crash-safe
    path, with ``usages`` ``[[meter, corrected]]``, ``root`` the correction's records root and no report id."""

    __tablename__ = "oracle_reports"
    __table_args__ = (
        UniqueConstraint("agreement_id", "period", "seq"),
        Index(
            "uq_oracle_reports_open",
            "agreement_id",
            "period",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_oracle_reports_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    agreement_id: Mapped[int] = mapped_column(Integer)
    period: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    record_count: Mapped[int] = mapped_column(Integer, default=0)
    first_record: Mapped[int | None] = mapped_column(BigInteger)  # lowest oracle_records.id in the report
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deadline: Mapped[int] = mapped_column(BigInteger)  # period end + grace (unix seconds): must be confirmed before
    cut_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    report_id: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    root: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    usages: Mapped[str | None] = mapped_column(Text)  # JSON [[meter, cumulative], ...] ascending
    signer: Mapped[str | None] = mapped_column(String(42))
    nonce: Mapped[int | None] = mapped_column(BigInteger)
    tx_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    raw_tx: Mapped[bytes | None] = mapped_column(LargeBinary)
    gas: Mapped[int | None] = mapped_column(BigInteger)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sends: Mapped[int] = mapped_column(Integer, default=0)  # broadcasts of the current signed transaction
    priced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # when its current fees were chosen
    reprices: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # same nonce, higher fees
    from_block: Mapped[int | None] = mapped_column(BigInteger)  # chain head when signed: where to look for its event
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    block_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)
    alerted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(16), default=USAGE, server_default=USAGE)
    correction_id: Mapped[int | None] = mapped_column(Integer)  # kind correction: its oracle_corrections row
    superseded_by: Mapped[int | None] = mapped_column(Integer)  # oracle_corrections.id of a later correction covering it


Index("ix_oracle_reports_signer_nonce", Report.signer, Report.nonce)


class Correction(Base):
    """One correction of one agreement and period, as an operator made it: who (``actor``, and the oracle key that
    sends it), when, why, and what it did. Its ``correctUsage`` transactions are ``oracle_reports`` rows of kind
    correction; the records it voided are in ``oracle_record_voids``, the ones it added name it in
    ``oracle_records.correction_id``. Never deleted."""

    __tablename__ = "oracle_corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(Integer)  # the command (oracle_batches, kind void or correct)
    agreement_id: Mapped[int] = mapped_column(Integer)
    period: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(16))  # void | correct
    actor: Mapped[str] = mapped_column(String(100))  # who ran the command
    signer: Mapped[str] = mapped_column(String(42))  # the oracle account that sends correctUsage
    reason: Mapped[str] = mapped_column(Text)  # also on-chain, in UsageCorrected
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    voided: Mapped[int] = mapped_column(Integer, default=0)
    added: Mapped[int] = mapped_column(Integer, default=0)
    leaf_count: Mapped[int] = mapped_column(BigInteger, default=0)  # accepted records of the period after it
    root: Mapped[bytes] = mapped_column(LargeBinary(32))  # Merkle root over them (zero when none is left)
    totals: Mapped[str] = mapped_column(Text)  # JSON [[meter, before, after], ...]: accepted units per meter
    status: Mapped[str] = mapped_column(String(16), default=CORRECTION_PENDING)
    error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


Index("ix_oracle_corrections_agreement", Correction.agreement_id, Correction.period)


class RecordVoid(Base):
    """A record voided by a correction: the reason given for it and the record that replaced it, if any. When the
    chain refused the correction, ``undone_at`` says since when the record counts again."""

    __tablename__ = "oracle_record_voids"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_pk: Mapped[int] = mapped_column(BigInteger, index=True)  # oracle_records.id
    correction_id: Mapped[int] = mapped_column(Integer, index=True)
    reason: Mapped[str] = mapped_column(Text)
    replaced_by: Mapped[int | None] = mapped_column(BigInteger)  # oracle_records.id of the replacement
    undone_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CorrectionTree(Base):
    """The Merkle tree of a correction: every record of its agreement and period that counts after it."""

    __tablename__ = "oracle_correction_trees"

    correction_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    leaf_count: Mapped[int] = mapped_column(Integer)
    tree: Mapped[bytes] = mapped_column(LargeBinary)


class ReportLeaves(Base):
    """Merkle leaves (docs/merkle.md) of an open report's records, 32 bytes each, concatenated: one row per report
    and ingest chunk, written in the transaction that stores the records. The cut builds the tree from them (and
    deletes them: the tree holds every leaf)."""

    __tablename__ = "oracle_report_leaves"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    report_pk: Mapped[int] = mapped_column(BigInteger, index=True)
    leaves: Mapped[bytes] = mapped_column(LargeBinary)


class ReportTree(Base):
    """The whole Merkle tree of a report: ``2n - 1`` nodes of 32 bytes in OpenZeppelin's array layout."""

    __tablename__ = "oracle_report_trees"

    report_pk: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    leaf_count: Mapped[int] = mapped_column(Integer)
    tree: Mapped[bytes] = mapped_column(LargeBinary)


class Counter(Base):
    """Named counters (record ids are allocated in blocks from ``record_id``)."""

    __tablename__ = "oracle_counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)

"""The read model: SQL rows that mirror what the chain says about agreements, terms versions, usage, settlements,
payment and service status, projected from the decoded events (:mod:`gateway.chain.events`).

Every applied log is stored in ``gw_chain_event`` in the same transaction as its effect, under the unique
``(chain id, block hash, log index)``: applying a batch again changes nothing. After a reorg
:func:`rollback` deletes the events of the abandoned blocks and rebuilds the affected agreements from the events
that remain; the listener then reads the new blocks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from gateway.chain.events import DecodedLog
from gateway.models import Agreement, ChainBlock, ChainEvent, Dispute, Settlement, TermsVersion, Usage, utcnow
from settle.chaintypes import AgreementState, PaymentStatus, ServiceStatus, TerminationReason
from settle.terms import Terms

log = logging.getLogger(__name__)

AGREEMENT_STATES = tuple(s.label for s in AgreementState)
PAYMENT_STATUSES = tuple(s.label for s in PaymentStatus)
SERVICE_STATUSES = tuple(s.label for s in ServiceStatus)
TERMINATION_REASONS = tuple(r.label for r in TerminationReason)
#: Settlements with something open that nobody contests.
OPEN_STATUSES = tuple(s.label for s in (PaymentStatus.DUE, PaymentStatus.PARTIALLY_PAID, PaymentStatus.RETURNED))
#: Settlements the keeper may pull tokens for: the open ones, and disputed ones for what is open beyond the disputed
#: amount (``Settlement.pullable``; the contract's ``collect`` pulls no more).
PULL_STATUSES = (*OPEN_STATUSES, PaymentStatus.DISPUTED.label)
ZERO_ADDRESS = "0x" + "00" * 20


def _name(table: Sequence[str], index: int) -> str:
    return table[index] if 0 <= index < len(table) else f"unknown({index})"


def _reason_code(value: str) -> str:
    """``0x414d3034`` → ``AM04`` (ISO codes are ASCII, right-padded with zero bytes)."""
    raw = bytes.fromhex(value[2:]).rstrip(b"\x00")
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        return value


class Projector:
    """Applies decoded logs of one chain to the read model in the caller's session (rows cached per batch)."""

    def __init__(self, session: Session, chain_id: int, factory: str):
        self.session = session
        self.chain_id = chain_id
        self.factory = factory.lower()
        self.agreements: dict[str, Agreement | None] = {}
        self.usage: dict[tuple[int, int, int], Usage] = {}
        self.settlements: dict[tuple[int, int], Settlement] = {}
        #: Domain events (usage.reported, settlement.created) of the logs applied, recorded by ``apply_all``.
        self.facts: list[dict[str, Any]] = []

    # -- loading ---------------------------------------------------------------------------------------------------

    def preload(self, logs: Sequence[DecodedLog]) -> None:
        """Fetch the rows a batch touches in a few queries instead of one per log."""
        addresses = {lg.address for lg in logs if lg.address != self.factory} - set(self.agreements)
        if addresses:
            found = {
                a.address: a
                for a in self.session.scalars(
                    select(Agreement).where(Agreement.chain_id == self.chain_id, Agreement.address.in_(addresses))
                )
            }
            for address in addresses:
                self.agreements[address] = found.get(address)
        ids = {a.id for a in self.agreements.values() if a is not None}
        periods = {int(lg.args["period"]) for lg in logs if "period" in lg.args}
        if not ids or not periods:
            return
        for row in self.session.scalars(select(Usage).where(Usage.agreement_id.in_(ids), Usage.period.in_(periods))):
            self.usage[(row.agreement_id, row.period, row.meter)] = row
        for srow in self.session.scalars(select(Settlement).where(Settlement.agreement_id.in_(ids), Settlement.period.in_(periods))):
            self.settlements[(srow.agreement_id, srow.period)] = srow

    def _agreement(self, address: str) -> Agreement | None:
        if address not in self.agreements:
            self.agreements[address] = self.session.scalar(
                select(Agreement).where(Agreement.chain_id == self.chain_id, Agreement.address == address)
            )
        return self.agreements[address]

    def _settlement(self, agreement: Agreement, period: int) -> Settlement | None:
        key = (agreement.id, period)
        if key not in self.settlements:
            row = self.session.scalar(select(Settlement).where(Settlement.agreement_id == agreement.id, Settlement.period == period))
            if row is None:
                return None
            self.settlements[key] = row
        return self.settlements[key]

    # -- applying --------------------------------------------------------------------------------------------------

    def apply_all(self, logs: Sequence[DecodedLog], *, store: bool = True) -> int:
        """Apply ``logs`` (in chain order); with ``store`` also record them in ``gw_chain_event``. Returns how many
        concern agreements of the followed factory."""
        if store and logs:
            seen = {
                (block_hash, log_index)
                for block_hash, log_index in self.session.execute(
                    select(ChainEvent.block_hash, ChainEvent.log_index).where(
                        ChainEvent.chain_id == self.chain_id,
                        ChainEvent.block_number >= min(lg.block_number for lg in logs),
                        ChainEvent.block_number <= max(lg.block_number for lg in logs),
                    )
                )
            }
            if seen:  # applied before (a range read again): applying twice must change nothing
                logs = [lg for lg in logs if (lg.block_hash, lg.log_index) not in seen]
        self.preload(logs)
        applied: list[DecodedLog] = []
        for lg in logs:
            if self.apply(lg):
                applied.append(lg)
        if store and applied:
            self.session.execute(
                insert(ChainEvent),
                [
                    {
                        "chain_id": self.chain_id,
                        "block_number": lg.block_number,
                        "block_hash": lg.block_hash,
                        "log_index": lg.log_index,
                        "tx_hash": lg.tx_hash,
                        "address": lg.address,
                        "event": lg.event,
                        "args": lg.args,
                    }
                    for lg in applied
                ],
            )
        if self.facts:
            from gateway.receivables.events import record_events

            # Keyed by the chain's facts, not by the log's position: a replay after a reorg (rollback) or a range read
            # twice records nothing new, and a transaction re-mined in another block is the same event.
            record_events(self.session, self.facts)
            self.facts = []
        self.session.flush()
        return len(applied)

    def apply(self, lg: DecodedLog) -> bool:
        """Apply one log; ``False`` if it is not about the followed factory or one of its agreements."""
        if lg.address == self.factory:
            if lg.event == "AgreementCreated":
                self._created(lg)
                return True
            return lg.event in ("TokenAllowed", "OracleSignerScheduled", "SignerDelayChanged")
        agreement = self._agreement(lg.address)
        if agreement is None:
            return False
        handler = getattr(self, f"_on_{lg.event}", None)
        if handler is not None:
            handler(agreement, lg.args, lg)
        agreement.updated_block = lg.block_number
        return True

    def _created(self, lg: DecodedLog) -> None:
        args = lg.args
        address = str(args["agreement"]).lower()
        if self._agreement(address) is not None:
            return
        packed = bytes.fromhex(str(args["terms"])[2:])
        terms = Terms.unpack(packed, validate=False)
        agreement = Agreement(
            chain_id=self.chain_id,
            address=address,
            factory=lg.address,
            payer=str(args["payer"]).lower(),
            payee=str(args["payee"]).lower(),
            state="proposed",
            service_status="active",
            terms_version=1,
            pending_version=1,
            token=str(terms.token).lower(),
            currency=terms.currency,
            minor_digits=terms.minor_digits,
            next_period_to_settle=0,
            end_period=0 if terms.end == 0 else int(terms.schedule.period_at(terms.end)),
            created_block=lg.block_number,
            created_tx=lg.tx_hash,
            updated_block=lg.block_number,
        )
        self.session.add(agreement)
        self.session.flush()
        self.agreements[address] = agreement
        self.session.add(
            TermsVersion(
                agreement_id=agreement.id,
                version=1,
                terms_hash=str(args["termsHash"]),
                packed=str(args["terms"]),
                status="pending",
                effective_from_period=0,
                proposed_block=lg.block_number,
                vat_category=terms.vat_category.code,
                vat_rate=terms.vat_rate,
            )
        )

    def _version(self, agreement: Agreement, version: int) -> TermsVersion | None:
        return self.session.scalar(select(TermsVersion).where(TermsVersion.agreement_id == agreement.id, TermsVersion.version == version))

    def _on_TermsAccepted(self, agreement: Agreement, args: dict[str, Any], lg: DecodedLog) -> None:  # noqa: N802
        row = self._version(agreement, int(args["version"]))
        party = str(args["party"]).lower()
        if row is not None and party not in (row.accepted_by or []):
            row.accepted_by = [*(row.accepted_by or []), party]  # a new list, so the JSON column is written

    def _on_AgreementActivated(self, agreement: Agreement, args: dict[str, Any], lg: DecodedLog) -> None:  # noqa: N802
        agreement.state = "active"
        agreement.pending_version = 0
        row = self._version(agreement, 1)
        if row is not None:
            row.status = "accepted"

    def _on_AmendmentProposed(self, agreement: Agreement, args: dict[str, Any], lg: DecodedLog) -> None:  # noqa: N802
        # Every proposal has a number of its own (never reused); a pending one it replaces stays on record as such.
        version = int(args["version"])
        if agreement.pending_version and agreement.pending_version != version:
            replaced = self._version(agreement, agreement.pending_version)
            if replaced is not None and replaced.status == "pending":
                replaced.status = "replaced"
        if self._version(agreement, version) is None:
            proposed = Terms.unpack(bytes.fromhex(str(args["terms"])[2:]), validate=False)
            self.session.add(
                TermsVersion(
                    agreement_id=agreement.id,
                    version=version,
                    terms_hash=str(args["termsHash"]),
                    packed=str(args["terms"]),
                    status="pending",
                    effective_from_period=0,
                    proposed_block=lg.block_number,
                    vat_category=proposed.vat_category.code,
                    vat_rate=proposed.vat_rate,
                )
            )
        agreement.pending_version = version

    def _on_AmendmentRejected(self, agreement: Agreement, args: dict[str, Any], lg: DecodedLog) -> None:  # noqa: N802
        row = self._version(agreement, int(args["version"]))
        if row is not None:
            row.status = "rejected"
        agreement.pending_version = 0

    def _on_TermsAmended(self, agreement: Agreement, args: dict[str, Any], lg: DecodedLog) -> None:  # noqa: N802
        version = int(args["version"])
        row = self._version(agreement, version)
        if row is not None:
            row.status = "accepted"
            row.effective_from_period = int(args["effectiveFromPeriod"])
        # An amendment's end is not taken from its terms: the contract emits TerminationScheduled when the end
        # actually changes (an end set by notice or consent stays unless the amendment brings it forward).
        agreement.terms_version = version
        agreement.pending_version = 0

    def _on_AgreementPaused(self, agreement: Agreement, args: dict[str, Any], lg: DecodedLog) -> None:  # noqa: N802
        agreement.state = "paused"

    def _on_AgreementResumed(self, agreement: Agreement, args: dict[str, Any], lg: DecodedLog) -> None:  # noqa: N802
        agreement.state = "active"

    def _on_TerminationScheduled(self, agreement: Agreement, args: dict[str, Any], lg: DecodedLog) -> None:  # noqa: N802
        reason = _name(TERMINATION_REASONS, int(args["reason"]))
        agreement.termination_reason = reason
        agreement.end_period = int(args["endPeriod"])
        if reason == "cancelled":
            agreement.state = "terminated"

    def _on_UsageReported(self, agreement: Agreement, args: dict[str, Any], lg: DecodedLog) -> None:  # noqa: N802
        period, meter, cumulative = int(args["period"]), int(args["meter"]), int(args["cumulative"])
        self._set_usage(agreement, period, meter, cumulative, args, lg)
        report = str(args.get("reportId") or lg.tx_hash)
        previous = int(args.get("previous", 0))
        # Usage totals and the report's id are on-chain already (docs/security.md): nothing private is added here.
        self._fact(
            agreement,
            "usage.reported",
            f"usage.reported:{self.chain_id}:{agreement.address}:{period}:{meter}:{report}",
            period,
            {
                "meter": meter,
                "previous": previous,
                "cumulative": cumulative,
                "quantity": cumulative - previous,
                "report_id": report,
                "tx": lg.tx_hash,
            },
        )

    def _on_UsageCorrected(self, agreement: Agreement, args: dict[str, Any], lg: DecodedLog) -> None:  # noqa: N802
        self._set_usage(agreement, int(args["period"]), int(args["meter"]), int(args["corrected"]), args, lg)

    def _set_usage(self, agreement: Agreement, period: int, meter: int, value: int, args: dict[str, Any], lg: DecodedLog) -> None:
        key = (agreement.id, period, meter)
        row = self.usage.get(key)
        if row is None:
            row = Usage(agreement_id=agreement.id, period=period, meter=meter, cumulative=value, records_root=str(args["recordsRoot"]))
            self.session.add(row)
            self.usage[key] = row
        row.cumulative = value
        row.records_root = str(args["recordsRoot"])
        row.report_id = str(args["reportId"]) if "reportId" in args else None
        row.updated_block = lg.block_number

    def _on_SettlementTriggered(self, agreement: Agreement, args: dict[str, Any], lg: DecodedLog) -> None:  # noqa: N802
        period = int(args["period"])
        amount = int(args["amount"])
        if self._settlement(agreement, period) is not None:
            return
        row = Settlement(
            agreement_id=agreement.id,
            period=period,
            amount=amount,
            net=int(args["net"]),
            vat=int(args["vat"]),
            paid=0,
            due_at=datetime.fromtimestamp(int(args["dueDate"]), UTC),
            terms_version=int(args["termsVersion"]),
            status="paid" if amount == 0 else "due",
            token_pull_failures=0,
            settled_block=lg.block_number,
            settled_tx=lg.tx_hash,
            seen_at=utcnow(),
            updated_block=lg.block_number,
        )
        self.session.add(row)
        self.settlements[(agreement.id, period)] = row
        agreement.next_period_to_settle = max(agreement.next_period_to_settle, period + 1)
        self._fact(
            agreement,
            "settlement.created",
            f"settlement.created:{self.chain_id}:{agreement.address}:{period}",
            period,
            {
                "amount": amount,
                "net": int(args["net"]),
                "vat": int(args["vat"]),
                "currency": agreement.currency,
                "due_at": row.due_at.isoformat(),
                "terms_version": row.terms_version,
                "tx": lg.tx_hash,
            },
        )

    def _fact(self, agreement: Agreement, kind: str, key: str, period: int, payload: dict[str, Any]) -> None:
        self.facts.append(
            {
                "kind": kind,
                "key": key,
                "chain_id": self.chain_id,
                "agreement": agreement.address,
                "period": period,
                "payer": agreement.payer,
                "payee": agreement.payee,
                "payload": payload,
            }
        )

    def _settlement_for(self, agreement: Agreement, args: dict[str, Any], lg: DecodedLog) -> Settlement | None:
        row = self._settlement(agreement, int(args["period"]))
        if row is None:
            log.warning(
                "%s for unsettled period %s of %s in block %d: ignored", lg.event, args.get("period"), agreement.address, lg.block_number
            )
            return None
        row.updated_block = lg.block_number
        return row

    def _on_PaymentConfirmed(self, agreement: Agreement, args: dict[str, Any], lg: DecodedLog) -> None:  # noqa: N802
        # The event carries only the payment; the status follows the contract's rule (a rebuild after a reorg
        # replays every event from the agreement's start, so adding up is exact).
        row = self._settlement_for(agreement, args, lg)
        if row is not None:
            row.paid += int(args["amount"])
            if row.status != "disputed":
                row.status = "paid" if row.paid == row.amount else "partially_paid"

    def _on_PaymentReturned(self, agreement: Agreement, args: dict[str, Any], lg: DecodedLog) -> None:  # noqa: N802
        row = self._settlement_for(agreement, args, lg)
        if row is not None:
            row.paid = max(row.paid - int(args["amount"]), 0)
            row.status = _name(PAYMENT_STATUSES, int(args["status"]))
            row.last_return_reason = _reason_code(str(args["reasonCode"]))[:4]

    def _on_TokenPullFailed(self, agreement: Agreement, args: dict[str, Any], lg: DecodedLog) -> None:  # noqa: N802
        row = self._settlement_for(agreement, args, lg)
        if row is not None:
            row.token_pull_failures += 1

    def _on_SettlementDisputed(self, agreement: Agreement, args: dict[str, Any], lg: DecodedLog) -> None:  # noqa: N802
        from gateway.chain.disputes import attach_pending

        row = self._settlement_for(agreement, args, lg)
        if row is None:
            return
        period, amount, by, reason_hash = int(args["period"]), int(args["amount"]), str(args["by"]).lower(), str(args["reasonHash"])
        row.status, row.disputed = "disputed", amount
        self.session.add(
            Dispute(
                agreement_id=agreement.id,
                period=period,
                amount=amount,
                billed=row.amount,
                opened_by=by,
                reason_hash=reason_hash,
                opened_block=lg.block_number,
                opened_tx=lg.tx_hash,
                seen_at=utcnow(),
                status="open",
            )
        )
        attach_pending(
            self.session,
            self.chain_id,
            agreement.address,
            party=by,
            tx_hash=lg.tx_hash,
            block=lg.block_number,
            kind="dispute",
            period=period,
            text_hash=reason_hash,
        )

    def _open_dispute(self, agreement: Agreement, period: int) -> Dispute | None:
        return self.session.scalar(
            select(Dispute)
            .where(Dispute.agreement_id == agreement.id, Dispute.period == period, Dispute.status == "open")
            .order_by(Dispute.id.desc())
        )

    def _on_DisputeResolved(self, agreement: Agreement, args: dict[str, Any], lg: DecodedLog) -> None:  # noqa: N802
        from gateway.chain.disputes import attach_pending

        row = self._settlement_for(agreement, args, lg)
        if row is None:
            return
        agreed, arbiter = int(args["agreedAmount"]), str(args["arbiter"]).lower()
        row.amount, row.disputed = agreed, 0
        row.status = _name(PAYMENT_STATUSES, int(args["status"]))
        decided = arbiter != ZERO_ADDRESS
        dispute = self._open_dispute(agreement, row.period)
        if dispute is not None:
            dispute.status = "decided" if decided else "resolved"
            dispute.agreed_amount, dispute.arbiter = agreed, arbiter if decided else None
            dispute.closed_block, dispute.closed_tx = lg.block_number, lg.tx_hash
        if decided:
            attach_pending(
                self.session,
                self.chain_id,
                agreement.address,
                party=arbiter,
                tx_hash=lg.tx_hash,
                block=lg.block_number,
                kind="decide",
                period=row.period,
                amount=agreed,
            )

    def _on_SettlementWrittenOff(self, agreement: Agreement, args: dict[str, Any], lg: DecodedLog) -> None:  # noqa: N802
        row = self._settlement_for(agreement, args, lg)
        if row is None:
            return
        row.status, row.disputed = "written_off", 0
        dispute = self._open_dispute(agreement, row.period)
        if dispute is not None:
            dispute.status, dispute.written_off = "written_off", int(args["writtenOff"])
            dispute.closed_block, dispute.closed_tx = lg.block_number, lg.tx_hash

    def _on_ConsentGiven(self, agreement: Agreement, args: dict[str, Any], lg: DecodedLog) -> None:  # noqa: N802
        # A consent names its action only by hash; a text prepared for it knows that hash (gateway.chain.disputes).
        from gateway.chain.disputes import attach_pending

        attach_pending(
            self.session,
            self.chain_id,
            agreement.address,
            party=str(args["party"]),
            tx_hash=lg.tx_hash,
            block=lg.block_number,
            action_hash=str(args["action"]),
        )

    def _on_ServiceStatusChanged(self, agreement: Agreement, args: dict[str, Any], lg: DecodedLog) -> None:  # noqa: N802
        agreement.service_status = _name(SERVICE_STATUSES, int(args["status"]))


# -- reorgs ------------------------------------------------------------------------------------------------------------


def _as_log(row: ChainEvent) -> DecodedLog:
    return DecodedLog(row.block_number, row.block_hash, row.log_index, row.tx_hash, row.address, row.event, dict(row.args))


def rollback(session: Session, chain_id: int, factory: str, after_block: int) -> list[str]:
    """Forget everything read from blocks after ``after_block`` and rebuild the agreements those blocks touched
    from the events that remain. Returns the addresses of the rebuilt agreements."""
    factory = factory.lower()
    dropped = list(
        session.scalars(
            select(ChainEvent).where(ChainEvent.chain_id == chain_id, ChainEvent.block_number > after_block).order_by(ChainEvent.id)
        )
    )
    affected: set[str] = set()
    for row in dropped:
        if row.address == factory:
            if row.event == "AgreementCreated":
                affected.add(str(row.args["agreement"]).lower())
        else:
            affected.add(row.address)
    session.execute(delete(ChainEvent).where(ChainEvent.chain_id == chain_id, ChainEvent.block_number > after_block))
    session.execute(delete(ChainBlock).where(ChainBlock.chain_id == chain_id, ChainBlock.number > after_block))
    if not affected:
        return []
    from gateway.chain.disputes import detach_after

    detach_after(session, chain_id, after_block)  # before the drop below empties the session
    _drop_agreements(session, chain_id, affected)
    remaining = [
        _as_log(row)
        for row in session.scalars(
            select(ChainEvent)
            .where(ChainEvent.chain_id == chain_id, ChainEvent.address.in_(affected | {factory}))
            .order_by(ChainEvent.block_number, ChainEvent.log_index)
        )
    ]
    replay = [
        lg
        for lg in remaining
        if lg.address in affected or (lg.event == "AgreementCreated" and str(lg.args["agreement"]).lower() in affected)
    ]
    Projector(session, chain_id, factory).apply_all(replay, store=False)
    return sorted(affected)


def _drop_agreements(session: Session, chain_id: int, addresses: Iterable[str]) -> None:
    ids = list(session.scalars(select(Agreement.id).where(Agreement.chain_id == chain_id, Agreement.address.in_(list(addresses)))))
    if not ids:
        return
    for model in (Usage, Settlement, TermsVersion, Dispute):
        session.execute(delete(model).where(model.agreement_id.in_(ids)))
    session.execute(delete(Agreement).where(Agreement.id.in_(ids)))
    # Core deletes bypass the identity map; SQLite may hand the freed ids to the rebuilt rows. The caller
    # reloads whatever it holds after a rollback.
    session.expunge_all()


# -- queries -----------------------------------------------------------------------------------------------------------


def terms_versions(session: Session, agreement: Agreement) -> list[tuple[TermsVersion, Terms]]:
    """Accepted versions with their decoded terms, oldest first."""
    rows = session.scalars(
        select(TermsVersion)
        .where(TermsVersion.agreement_id == agreement.id, TermsVersion.status == "accepted")
        .order_by(TermsVersion.version)
    )
    return [(row, Terms.unpack(bytes.fromhex(row.packed[2:]), validate=False)) for row in rows]


def terms_for_period(versions: Sequence[tuple[TermsVersion, Terms]], period: int) -> Terms | None:
    """The terms that price ``period``: the latest accepted version effective from it or earlier."""
    chosen: Terms | None = None
    for row, terms in versions:
        if row.version == 1 or row.effective_from_period <= period:
            chosen = terms
    return chosen


def find_agreement(session: Session, chain_id: int, address: str) -> Agreement | None:
    return session.scalar(select(Agreement).where(Agreement.chain_id == chain_id, Agreement.address == address.lower()))

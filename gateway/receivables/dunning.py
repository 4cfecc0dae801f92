"""The dunning pass: every open settlement walks its agreement's dunning levels on its own, and the agreement's
service status on-chain follows the worst of them.

Per open item (one settlement of one period, fiat or token), on the banking date ``today``:

* nothing before or on the due date; the level is the last one whose ``days`` after the due date have passed;
* paused — it stays at its level and counts for no restriction — while it is disputed on-chain (status disputed or
  a disputed part), while a statement line suggested for it waits in the review queue, while its direct debit is
  being collected (an instruction pending, in a file or sent — a re-presentation after AM04 too: the payee is about
  to have the money, a reminder would ask the payer for what it is already paying), and while the payee's grace
  (``hold_until``, that day included) runs;
* reaching a level records ``DunningItem.level`` / ``level_at`` once, charges the flat fee once per claim (the first
  time a reached level carries ``fee``) and records ``dunning.level_reached`` (level, name, actions, open amount,
  fee, default interest to date). An item that jumps levels (after a hold, or a gateway that was down) gets one
  event for the level it lands on, naming the levels it skipped: one letter, not three;
* what is open is what the reconciliation counts (:func:`gateway.reconciliation.booking.payable_items`): the chain's
  open amount, less what the gateway booked and the chain does not show yet, less write-offs — a partial payment
  keeps the rest dunning; once nothing is open (paid, written off) the item stops: ``dunning.stopped`` once,
  ``stopped_at``. A settlement that opens again (a returned payment) resumes at its level.

The agreement's target status is the worst service status the levels of its non-paused open items call for
(``restrict`` → Restricted, ``suspend`` → Suspended, otherwise Active). When the read model shows another status,
``setServiceStatus(status, keccak256(reason))`` is queued once per (agreement, status, reason) — the reason text
is in the payload — and ``service.restricted`` / ``service.restored`` is recorded. The chain-transaction worker
runs again at the end of the round, so a payment booked by the bank worker lifts the restriction in the same round.

Performance: everything is loaded with a handful of bulk queries, decided in memory, and only changes are written
(bulk inserts and updates with their history rows).
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.models import (
    Agreement,
    DomainEvent,
    DunningItem,
    HistoryRecord,
    InstructionState,
    IssuedInvoice,
    LineAllocation,
    LineState,
    OutboxItem,
    OutboxState,
    PaymentInstruction,
    PaymentMethodKind,
    Settlement,
    StatementLine,
)
from gateway.receivables.bulk import bulk_insert, bulk_insert_lines, existing, json_text, new_ids
from gateway.receivables.events import record_event
from gateway.receivables.interest import BaseRateTable, InterestError, flat_fee, interest_factor, interest_on
from gateway.receivables.policy import SpecPolicies, ensure_assignments
from settle.dunning import SERVICE_STATUSES, Policy
from settle.keccak import keccak

__all__ = ["OPEN_STATUSES", "SERVICE_KIND", "DunningResult", "fee_minor", "open_amounts", "run_dunning", "service_reason"]


#: The outbox kind of ``setServiceStatus`` (carried out by gateway.chain.chaintx).
SERVICE_KIND = "set_service_status"
#: Settlement statuses with something open (the read model's).
OPEN_STATUSES = ("due", "partially_paid", "returned", "disputed")
_ITEM = "{chain}:{agreement}:{period}"
_CHUNK = 5_000
#: Rows fetched at a time by the bulk reads.
_PAGE = 500


@dataclass
class DunningResult:
    """What one pass did."""

    items: int = 0
    levels: list[tuple[str, int, int]] = field(default_factory=list)  # (agreement, period, level)
    fees: int = 0
    stopped: list[tuple[str, int, str]] = field(default_factory=list)  # (agreement, period, reason)
    paused: int = 0
    services: list[tuple[str, str, str]] = field(default_factory=list)  # (agreement, status, reason)
    problems: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.levels or self.stopped or self.services)


#: An open item as the pass reads it: (agreement id, amount, paid, disputed, due date, status) — a plain tuple of plain
#: values, which the garbage collector stops tracking (a pass holds 100,000 of them).
_Item = tuple[int, int, int, int, date, str]
_AMOUNT: Final = 1
_PAID: Final = 2
_DUE: Final = 4
_STATUS: Final = 5
#: A dunning row as the pass reads it: (id, level, fee, hold_until, stopped_at).
_Dunned = tuple[int, int, int, date | None, datetime | None]


def fee_minor(policy: Policy, currency: str, digits: int) -> int:
    """The flat fee in minor units of an agreement's currency: the policy's amount, or the statutory 40 EUR (none in
    another currency)."""
    if policy.fee is None:
        statutory = flat_fee(currency)  # cents
        return statutory * 10 ** (digits - 2) if digits >= 2 else statutory // 10 ** (2 - digits)
    return int((policy.fee * 10**digits).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def service_reason(status: str, detail: str) -> tuple[str, str]:
    """The short reason text kept off-chain and its keccak256 (the ``reasonHash`` on-chain)."""
    text = f"dunning: {status}: {detail}"[:200]
    return text, "0x" + keccak(text=text).hex()


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def open_amounts(session: Session, chain_id: int, items: Mapping[tuple[str, int], _Item], fiat: set[str]) -> dict[tuple[str, int], int]:
    """What is open on each item, by the reconciliation's rule (see :func:`gateway.reconciliation.booking.payable_items`
    — the same helpers, in bulk): the chain's open amount; for a fiat item, at most what its payment instruction
    still expects or, without one, the billed amount less what the gateway booked; less write-offs. Token items:
    the chain's open amount. Unlike the matching engine's open items, a disputed part is not taken off: a disputed
    item is paused, not closed."""
    from gateway.reconciliation import booking, openitems

    result: dict[tuple[str, int], int] = {}
    for key, item in items.items():
        open_on_chain = 0 if item[_STATUS] in ("paid", "written_off") else item[_AMOUNT] - item[_PAID]
        result[key] = max(open_on_chain, 0)
    fiat_keys = [key for key in items if key[0] in fiat]
    if not fiat_keys:
        return result
    instructions = {
        (agreement, period): amount - paid + returned
        for agreement, period, amount, paid, returned in session.execute(
            select(
                PaymentInstruction.agreement,
                PaymentInstruction.period,
                PaymentInstruction.amount,
                PaymentInstruction.paid_amount,
                PaymentInstruction.returned_amount,
            ).where(PaymentInstruction.chain_id == chain_id, PaymentInstruction.state != InstructionState.CANCELLED)
        )
    }
    # Only items with allocations need the booking's sums (the helpers take their ids).
    allocated = set(
        session.scalars(select(LineAllocation.item_id).where(LineAllocation.kind.in_(("payment", "return", "write_off"))).distinct())
    )
    # (no allocations at all: nothing booked or written off, only the instructions count)
    ids = {key: openitems.item_id(*key) for key in fiat_keys} if allocated else {}
    wanted = [item_id for item_id in ids.values() if item_id in allocated]
    booked: dict[str, int] = {}
    written: dict[str, int] = {}
    for chunk in _chunks(wanted):
        booked.update(booking.booked_amounts(session, chunk))
        written.update(booking.written_off_amounts(session, chunk))
    for key in fiat_keys:
        item_id = ids.get(key, "")
        amount = booking.open_by_rule(
            result[key],
            instruction_open=instructions.get(key),
            billed=items[key][_AMOUNT],
            booked=booked.get(item_id, 0),
            written=written.get(item_id, 0),
        )
        result[key] = max(amount, 0)
    return result


def _collecting(session: Session) -> set[str]:
    """Items whose direct debit is on its way: pending, in a file or sent to the bank."""
    rows = session.execute(
        select(PaymentInstruction.agreement, PaymentInstruction.period).where(
            PaymentInstruction.method == PaymentMethodKind.SEPA_DIRECT_DEBIT,
            PaymentInstruction.state.in_((InstructionState.PENDING, InstructionState.IN_FILE, InstructionState.SENT)),
        )
    ).all()
    return {f"{agreement}:{int(period)}" for agreement, period in rows}


def _in_review(session: Session) -> set[str]:
    ids: set[str] = set()
    for suggestion in session.scalars(select(StatementLine.suggestion).where(StatementLine.match_state == LineState.REVIEW)):
        ids.update(str(s.get("item_id")) for s in suggestion or () if isinstance(s, Mapping))
    return ids


def _history(session: Session, rows: list[tuple[int, str, str | None, str]], actor: str, now: datetime) -> None:
    """History rows of dunning items: (id, action, old values, new values), the values as JSON text."""
    if rows:
        entity = DunningItem.__tablename__
        bulk_insert_lines(
            session,
            HistoryRecord,
            _HISTORY_COLUMNS,
            [(entity, row_id, action, actor, now, old, new) for row_id, action, old, new in rows],
            json_written=("old_values", "new_values"),
        )


#: The columns of the history rows and the events the pass writes, in the order of its tuples.
_HISTORY_COLUMNS = ("entity", "entity_id", "action", "actor", "changed_at", "old_values", "new_values")
_EVENT_COLUMNS = ("kind", "key", "chain_id", "agreement", "period", "payer", "payee", "payload", "occurred_at", "created_at")


def _record_events(session: Session, events: list[tuple[Any, ...]]) -> int:
    """Record events (tuples in the order of :data:`_EVENT_COLUMNS`, the payload as JSON text) in bulk, each once by
    key (a key recorded already is left as it is); returns how many are new."""
    if not events:
        return 0
    present = existing(session, DomainEvent.key, [e[1] for e in events])
    new = [e for e in events if e[1] not in present] if present else events
    if not new:
        return 0
    try:
        with session.begin_nested():
            bulk_insert_lines(session, DomainEvent, _EVENT_COLUMNS, new, json_written=("payload",))
    except IntegrityError:
        # another worker recorded some of them meanwhile: one by one, theirs stand
        fields = [dict(zip(_EVENT_COLUMNS, e, strict=True)) for e in new]
        return sum(
            record_event(session, **{k: json.loads(v) if k == "payload" else v for k, v in f.items() if k != "created_at"})[1]
            for f in fields
        )
    return len(new)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


class _Facts:
    """What one policy says, worked out once per pass (policies are shared between agreements): the level after a
    number of days, and per level its name, actions, service status (and its rank), whether the flat fee is due by
    then; the first level with default interest."""

    __slots__ = ("actions", "after", "charges", "interest_from", "margin", "names", "policy", "rank", "skipped", "status")

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        count = len(policy.levels)
        self.names = [lv.name for lv in policy.levels]
        self.actions = [tuple(lv.actions) for lv in policy.levels]
        self.status = [policy.service_status(level) for level in range(count + 1)]
        self.rank = [SERVICE_STATUSES.index(status) for status in self.status]
        self.charges = [policy.charges_fee_by(level) for level in range(count + 1)]
        self.interest_from = policy.interest_from()
        self.margin = str(policy.interest_margin)
        self.after: dict[int, int] = {}
        self.skipped: dict[tuple[int, int], tuple[str, ...]] = {}

    def level_after(self, days: int) -> int:
        found = self.after.get(days)
        if found is None:
            found = self.after[days] = self.policy.level_after(days)
        return found

    def skipped_between(self, level: int, target: int) -> tuple[str, ...]:
        found = self.skipped.get((level, target))
        if found is None:
            found = self.skipped[(level, target)] = tuple(self.names[level : target - 1])
        return found


def run_dunning(
    session: Session,
    chain_id: int,
    *,
    today: date,
    now: datetime | None = None,
    rates: BaseRateTable,
    from_spec: SpecPolicies | None = None,
    actor: str = "dunning",
) -> DunningResult:
    """One dunning pass over every open item of ``chain_id`` (see the module docstring), in the caller's
    transaction."""
    moment = now or datetime.now(UTC)
    result = DunningResult()
    # the bulk reads go to the connection directly (plain rows, no ORM result machinery), after what the session
    # holds is flushed (as a query through the session would)
    session.flush()
    connection = session.connection()

    # -- load -----------------------------------------------------------------------------------------------------
    agreements = {
        row.id: row
        for row in connection.execute(
            select(
                Agreement.id,
                Agreement.address,
                Agreement.payer,
                Agreement.payee,
                Agreement.token,
                Agreement.currency,
                Agreement.minor_digits,
                Agreement.service_status,
            ).where(Agreement.chain_id == chain_id)
        )
    }
    address_of = {agreement_id: row.address for agreement_id, row in agreements.items()}
    by_address = {row.address: row for row in agreements.values()}
    fiat = {row.address for row in agreements.values() if int(row.token, 16) == 0}
    items: dict[tuple[str, int], _Item] = {}
    day_of: dict[datetime, date] = {}
    # The open settlements, kept to this chain's agreements here rather than by a join: without fresh statistics
    # (a table that just grew) PostgreSQL picks a nested loop over the status index for the join, seconds per pass.
    settlements = connection.execute(
        select(
            Settlement.agreement_id,
            Settlement.period,
            Settlement.amount,
            Settlement.paid,
            Settlement.disputed,
            Settlement.due_at,
            Settlement.status,
        ).where(Settlement.status.in_(OPEN_STATUSES))
    )
    # fetched a page at a time (row by row, the driver's per-call overhead is most of the read)
    for agreement_id, period, amount, paid, disputed, due_at, status in itertools.chain.from_iterable(settlements.partitions(_PAGE)):
        address = address_of.get(agreement_id)
        if address is None:
            continue  # another chain's
        due = day_of.get(due_at)
        if due is None:
            due = day_of[due_at] = due_at.date()
        items[(address, int(period))] = (agreement_id, int(amount), int(paid), int(disputed or 0), due, status)
    # A period settled (and invoiced) after its due date — a keeper that ran late — is due from the invoice's issue
    # date: the payer cannot be in default on a bill it could not have had (§ 286 (3) BGB), so no level is reached and
    # no interest runs before.
    if items:
        issued = connection.execute(
            select(IssuedInvoice.agreement, IssuedInvoice.period, IssuedInvoice.issue_date).where(
                IssuedInvoice.chain_id == chain_id, IssuedInvoice.kind == "settlement"
            )
        ).all()
        for address, period, issue_date in issued:
            item = items.get((address, int(period)))
            if item is not None and issue_date > item[_DUE]:
                agreement_id, amount, paid, disputed, _, status = item
                items[(address, int(period))] = (agreement_id, amount, paid, disputed, issue_date, status)
    dunned: dict[tuple[str, int], _Dunned] = {
        (agreement, int(period)): (row_id, int(level), int(fee), hold_until, stopped_at)
        for row_id, agreement, period, level, fee, hold_until, stopped_at in itertools.chain.from_iterable(
            connection.execute(
                select(
                    DunningItem.id,
                    DunningItem.agreement,
                    DunningItem.period,
                    DunningItem.level,
                    DunningItem.fee,
                    DunningItem.hold_until,
                    DunningItem.stopped_at,
                ).where(DunningItem.chain_id == chain_id)
            ).partitions(_PAGE)
        )
    }
    open_now = open_amounts(session, chain_id, items, fiat)
    review = (_in_review(session) | _collecting(session)) if items else set()
    policies, problems = ensure_assignments(session, chain_id, {a for a, _ in items} | set(by_address), from_spec=from_spec)
    result.problems += problems

    # -- decide ---------------------------------------------------------------------------------------------------
    # new items: (agreement, period, level, fee, fee_at) and the new values of their history rows
    inserts: list[tuple[str, int, int, int, datetime | None]] = []
    inserted_values: list[str] = []
    updates: list[dict[str, Any]] = []
    # history rows and events as tuples of plain values, their documents as JSON text: 100,000s of them, which the
    # garbage collector then need not look at again and again
    history: list[tuple[int, str, str | None, str]] = []
    events: list[tuple[Any, ...]] = []  # in the order of _EVENT_COLUMNS
    worst: dict[str, tuple[int, str]] = {}  # agreement → (status rank, why)
    # Per pass, computed once: what a policy says (policies are shared between agreements), the flat fee per policy
    # and currency, the default interest on one minor unit per (due date, margin) — exact fractions, so the same as
    # per item — and each due date's days overdue and ISO form.
    facts_of: dict[int, _Facts] = {}
    fees: dict[tuple[int, str, int], int] = {}
    factors: dict[tuple[date, Decimal], Fraction | InterestError] = {}
    overdue: dict[date, tuple[int, str]] = {}
    moment_text = moment.isoformat()
    level_event = "dunning.level_reached"
    item_prefix = f"{level_event}:{chain_id}:"
    levels_reached = result.levels
    counted = paused = fees_charged = 0

    for key, item in items.items():
        amount = open_now.get(key, 0)
        if amount <= 0:
            continue  # closed: stopped below
        counted += 1
        agreement, period = key
        policy = policies.get(agreement)
        if policy is None:
            continue  # its policy cannot be read (a problem says so)
        row = dunned.get(key)
        level = row_fee = 0
        hold_until = None
        if row is not None:
            row_id, level, row_fee, hold_until, stopped_at = row
            if stopped_at is not None:
                # it was closed and is open again (a returned payment): dunning resumes at its level
                updates.append({"id": row_id, "stopped_at": None, "stop_reason": None})
                history.append((row_id, "update", json_text({"stopped_at": _plain(stopped_at)}), json_text({"stopped_at": None})))
        agreement_id, _, _, disputed, due, status = item
        known = overdue.get(due)
        if known is None:
            known = overdue[due] = ((today - due).days, due.isoformat())
        days = known[0]
        if days <= 0:
            continue
        if (
            status == "disputed"
            or disputed > 0
            or (hold_until is not None and today <= hold_until)
            or (review and f"{agreement}:{period}" in review)
        ):
            paused += 1
            continue
        facts = facts_of.get(id(policy))
        if facts is None:
            facts = facts_of[id(policy)] = _Facts(policy)
        target = facts.level_after(days)
        if target > level:
            meta = agreements[agreement_id]
            fee_now = 0
            if facts.charges[target] and row_fee == 0:
                fee_key = (id(policy), meta.currency, meta.minor_digits)
                fee_now = fees.get(fee_key, -1)
                if fee_now < 0:
                    fee_now = fees[fee_key] = fee_minor(policy, meta.currency, meta.minor_digits)
            fee_total = fee_now or row_fee
            interest: int | None = 0
            interest_note = None
            since = facts.interest_from
            if since is None:
                interest_note = "the policy charges no default interest"
            elif target < since:
                interest_note = f"default interest is charged from level {since} ({facts.names[since - 1]})"
            else:
                # default_interest(amount, due, today, …): from the day after the due date to today
                margin = policy.interest_margin
                factor = factors.get((due, margin))
                if factor is None:
                    try:
                        factor = interest_factor(due + timedelta(days=1), today, table=rates, margin=margin)
                    except InterestError as exc:
                        factor = exc
                    factors[(due, margin)] = factor
                if isinstance(factor, InterestError):
                    interest, interest_note = None, str(factor)
                else:
                    interest = interest_on(amount, factor)
            if fee_now:
                fees_charged += 1
            if row is None:
                inserts.append((agreement, period, target, fee_now, moment if fee_now else None))
                inserted_values.append(
                    json_text(
                        {
                            "chain_id": chain_id,
                            "agreement": agreement,
                            "period": period,
                            "level": target,
                            "level_at": moment_text,
                            "fee": fee_now,
                            "fee_at": moment_text if fee_now else None,
                        }
                    )
                )
            else:
                changes: dict[str, Any] = {"level": target, "level_at": moment}
                if fee_now:
                    changes |= {"fee": fee_now, "fee_at": moment}
                updates.append({"id": row_id, **changes})
                history.append(
                    (
                        row_id,
                        "update",
                        json_text({"level": level, **({"fee": 0} if fee_now else {})}),
                        json_text({k: _plain(v) for k, v in changes.items()}),
                    )
                )
            payload = {
                "policy": policy.name,
                "level": target,
                "name": facts.names[target - 1],
                "actions": facts.actions[target - 1],
                "skipped": facts.skipped_between(level, target),
                "due_date": known[1],
                "days_overdue": days,
                "open_amount": amount,
                "currency": meta.currency,
                "minor_digits": meta.minor_digits,
                "fee": fee_total,
                "fee_charged": bool(fee_now),
                "interest": interest,
                "interest_margin": facts.margin,
                "service_status": facts.status[target],
            }
            if interest_note:
                payload["interest_note"] = interest_note
            events.append(
                (
                    level_event,
                    f"{item_prefix}{agreement}:{period}:{target}",
                    chain_id,
                    agreement,
                    period,
                    meta.payer,
                    meta.payee,
                    json_text(payload),
                    moment,
                    moment,
                )
            )
            levels_reached.append((agreement, period, target))
            level = target
        rank = facts.rank[level]
        if rank and rank > worst.get(agreement, (0, ""))[0]:
            worst[agreement] = (rank, f"period {period} at {facts.names[level - 1]}, {days} days overdue")
    result.items += counted
    result.paused += paused
    result.fees += fees_charged

    # -- stop what is closed ------------------------------------------------------------------------------------------
    closing = [(key, row) for key, row in dunned.items() if row[4] is None and open_now.get(key, 0) <= 0]
    if closing:
        statuses = _closed_statuses(session, chain_id, {key for key, _ in closing})
        for (agreement, period), (row_id, level, fee, _, _) in closing:
            reason = statuses.get((agreement, period), "paid")
            updates.append({"id": row_id, "stopped_at": moment, "stop_reason": reason})
            history.append(
                (row_id, "update", json_text({"stopped_at": None}), json_text({"stopped_at": moment.isoformat(), "stop_reason": reason}))
            )
            result.stopped.append((agreement, period, reason))
            owner = by_address.get(agreement)
            if level > 0 and owner is not None:
                events.append(
                    (
                        "dunning.stopped",
                        f"dunning.stopped:{_ITEM.format(chain=chain_id, agreement=agreement, period=period)}:{today.isoformat()}",
                        chain_id,
                        agreement,
                        period,
                        owner.payer,
                        owner.payee,
                        json_text({"reason": reason, "level": level, "fee": fee}),
                        moment,
                        moment,
                    )
                )

    # -- service status -----------------------------------------------------------------------------------------------
    pending = {
        (str(payload.get("agreement", "")).lower(), str(payload.get("status_name")))
        for payload in session.scalars(
            select(OutboxItem.payload).where(
                OutboxItem.kind == SERVICE_KIND, OutboxItem.state.in_((OutboxState.PENDING, OutboxState.PROCESSING))
            )
        )
    }
    outbox_rows: list[dict[str, Any]] = []
    wall = datetime.now(UTC)
    for agreement, meta in by_address.items():
        rank, why = worst.get(agreement, (0, "no open item calls for a restriction"))
        target_status = SERVICE_STATUSES[rank]
        if target_status == meta.service_status or (agreement, target_status) in pending:
            continue
        reason, reason_hash = service_reason(target_status, f"{why} ({today.isoformat()})")
        outbox_rows.append(
            {
                "kind": SERVICE_KIND,
                "idempotency_key": f"{SERVICE_KIND}:{chain_id}:{agreement}:{target_status}:{reason_hash}",
                "payload": {
                    "agreement": agreement,
                    "status": rank,
                    "status_name": target_status,
                    "previous": meta.service_status,
                    "reason": reason,
                    "reason_hash": reason_hash,
                },
                "state": OutboxState.PENDING,
                "attempts": 0,
                "max_attempts": 10,
                "available_at": wall,  # the outbox runs on the wall clock, whatever the banking date
                "created_at": wall,
                "updated_at": wall,
            }
        )
        kind = "service.restored" if rank == 0 else "service.restricted"
        events.append(
            (
                kind,
                f"{kind}:{chain_id}:{agreement}:{target_status}:{reason_hash}",
                chain_id,
                agreement,
                None,
                meta.payer,
                meta.payee,
                json_text({"status": target_status, "previous": meta.service_status, "reason": reason, "reason_hash": reason_hash}),
                moment,
                moment,
            )
        )
        result.services.append((agreement, target_status, reason))

    # -- write --------------------------------------------------------------------------------------------------------
    if inserts:
        ids = new_ids(session, DunningItem, len(inserts))
        names = ["chain_id", "agreement", "period", "level", "level_at", "fee", "fee_at", "created_at", "updated_at"]
        lines: list[tuple[Any, ...]] = [
            (chain_id, agreement, period, level, moment, fee, fee_at, moment, moment) for agreement, period, level, fee, fee_at in inserts
        ]
        if ids is not None:
            # ids from the sequence: nothing to read back
            bulk_insert_lines(session, DunningItem, ["id", *names], [(row_id, *line) for row_id, line in zip(ids, lines, strict=True)])
        else:
            # a plain executemany (RETURNING over many rows is slow on SQLite), then the new ids by key
            bulk_insert_lines(session, DunningItem, names, lines)
            new_keys = {(agreement, period) for agreement, period, *_ in inserts}
            ids_of = {
                (agreement, int(period)): row_id
                for row_id, agreement, period in connection.execute(
                    select(DunningItem.id, DunningItem.agreement, DunningItem.period).where(
                        DunningItem.chain_id == chain_id, DunningItem.created_at == moment
                    )
                )
                if (agreement, int(period)) in new_keys
            }
            ids = [ids_of[(agreement, period)] for agreement, period, *_ in inserts]
        history.extend((row_id, "insert", None, values) for row_id, values in zip(ids, inserted_values, strict=True))
    if updates:
        merged: dict[int, dict[str, Any]] = defaultdict(dict)
        for change in updates:
            merged[change["id"]].update(change)
        # one statement per set of columns: a bulk update by primary key
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        for change in merged.values():
            change["updated_at"] = moment
            by_columns[tuple(sorted(change))].append(change)
        for group in by_columns.values():
            session.execute(update(DunningItem), group)
    _history(session, history, actor, moment)
    _record_events(session, events)
    if outbox_rows:
        present = existing(session, OutboxItem.idempotency_key, [r["idempotency_key"] for r in outbox_rows])
        fresh = [r for r in outbox_rows if r["idempotency_key"] not in present]
        if fresh:
            bulk_insert(session, OutboxItem, fresh)
    return result


def _closed_statuses(session: Session, chain_id: int, keys: set[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """Why each closed item closed: ``written_off`` or ``paid`` (the chain's status; booked but not on-chain yet: paid)."""
    agreements = {a for a, _ in keys}
    periods = {p for _, p in keys}
    found: dict[tuple[str, int], str] = {}
    for chunk in _chunks(sorted(agreements)):
        for address, period, status in session.execute(
            select(Agreement.address, Settlement.period, Settlement.status)
            .join(Settlement, Settlement.agreement_id == Agreement.id)
            .where(Agreement.chain_id == chain_id, Agreement.address.in_(chunk), Settlement.period.in_(sorted(periods)))
        ):
            if (address, int(period)) in keys and status == "written_off":
                found[(address, int(period))] = "written_off"
    return found


def hold(session: Session, chain_id: int, agreement: str, period: int, *, until: date, reason: str, by: str) -> DunningItem:
    """A grace the payee gives: the item is not dunned up to and including ``until`` (its level stays; it counts for
    no restriction meanwhile). Recorded in ``gw_history``."""
    from gateway.errors import ConflictError

    if not reason.strip():
        raise ConflictError("a hold needs a reason (--reason): it is shown in the item's history")
    row = _item_row(session, chain_id, agreement, period)
    row.hold_until, row.hold_reason, row.hold_by = until, reason.strip(), by
    session.flush()
    return row


def release(session: Session, chain_id: int, agreement: str, period: int, *, by: str) -> DunningItem:
    """End a hold now: the next pass duns the item at the level of the day."""
    from gateway.errors import ConflictError

    row = session.scalar(
        select(DunningItem).where(
            DunningItem.chain_id == chain_id, DunningItem.agreement == agreement.lower(), DunningItem.period == period
        )
    )
    if row is None or row.hold_until is None:
        raise ConflictError(f"period {period} of {agreement} is not on hold")
    row.hold_until, row.hold_reason, row.hold_by = None, None, by
    session.flush()
    return row


def _item_row(session: Session, chain_id: int, agreement: str, period: int) -> DunningItem:
    from gateway.errors import NotFoundError

    settled = session.scalar(
        select(Settlement.id)
        .join(Agreement, Agreement.id == Settlement.agreement_id)
        .where(Agreement.chain_id == chain_id, Agreement.address == agreement.lower(), Settlement.period == period)
    )
    if settled is None:
        raise NotFoundError(f"period {period} of {agreement} is not settled (no such open item)")
    row = session.scalar(
        select(DunningItem).where(
            DunningItem.chain_id == chain_id, DunningItem.agreement == agreement.lower(), DunningItem.period == period
        )
    )
    if row is None:
        row = DunningItem(chain_id=chain_id, agreement=agreement.lower(), period=period, level=0, fee=0)
        session.add(row)
    return row

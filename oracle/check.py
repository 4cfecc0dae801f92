"""Checks that need no database: fields (done by ``oracle.records``), the mapping, the unit, the period window,
in-delivery repeats; and the Merkle leaf of every record that passes.

A :class:`Checker` is picklable, so a worker process can check a large file while the main process stores the
previous chunk (two cores: about twice the throughput). Its output, :class:`Checked`, is columnar for the same
reason: a few lists and one bytes object pickle far faster than a million small tuples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from _pysha3 import keccak_256

from oracle import records as rec
from oracle.merkle import LeafEncoder
from oracle.snapshot import AgreementInfo, MeterInfo, Registry


@dataclass
class Issue:
    """A record that was not simply accepted, with the reason."""

    status: str  # duplicate | quarantined | rejected
    code: str
    reason: str
    record_id: str | None = None
    line: int | None = None
    stored: dict[str, Any] | None = None
    sent: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"record_id": self.record_id, "code": self.code, "reason": self.reason}
        if self.line is not None:
            out["line"] = self.line
        if self.stored is not None:
            out["stored"] = self.stored
            out["sent"] = self.sent
        return out


# A record held for quarantine: (record_id, agreement_id, meter, period, occurred_us, line, code, reason, parsed)
Held = tuple[str | None, int | None, int | None, int | None, int, int, str, str, rec.Parsed]


@dataclass
class Checked:
    """One checked chunk. Accepted records are columns of equal length; ``leaves`` is 32 bytes per record."""

    items: int = 0
    rids: list[str] = field(default_factory=list)
    agreements: list[int] = field(default_factory=list)
    meters: list[int] = field(default_factory=list)
    periods: list[int] = field(default_factory=list)
    units: list[int] = field(default_factory=list)
    times: list[int] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    leaves: bytes = b""
    held: list[Held] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    registry_version: int = 0
    # per (agreement, meter, period) of the accepted records: key, and per key sum, count and largest quantity
    keys: list[tuple[int, int, int]] = field(default_factory=list)
    key_of: list[int] = field(default_factory=list)
    key_sum: list[int] = field(default_factory=list)
    key_count: list[int] = field(default_factory=list)
    key_max: list[int] = field(default_factory=list)
    # per (agreement, period): pair, record count, index of its first record
    pairs: list[tuple[int, int]] = field(default_factory=list)
    pair_of: list[int] = field(default_factory=list)
    pair_count: list[int] = field(default_factory=list)
    pair_first: list[int] = field(default_factory=list)

    def summarize(self) -> None:
        """Fill the per-key and per-pair summaries (done in the checking process, so the storing one is lighter)."""
        key_index: dict[tuple[int, int, int], int] = {}
        pair_index: dict[tuple[int, int], int] = {}
        keys, key_of, key_sum, key_count, key_max = self.keys, self.key_of, self.key_sum, self.key_count, self.key_max
        pairs, pair_of, pair_count, pair_first = self.pairs, self.pair_of, self.pair_count, self.pair_first
        for i, (a, m, p, u) in enumerate(zip(self.agreements, self.meters, self.periods, self.units, strict=True)):
            key = (a, m, p)
            k = key_index.get(key)
            if k is None:
                k = key_index[key] = len(keys)
                keys.append(key)
                key_sum.append(u)
                key_count.append(1)
                key_max.append(u)
            else:
                key_sum[k] += u
                key_count[k] += 1
                if u > key_max[k]:
                    key_max[k] = u
            key_of.append(k)
            pair = (a, p)
            j = pair_index.get(pair)
            if j is None:
                j = pair_index[pair] = len(pairs)
                pairs.append(pair)
                pair_count.append(1)
                pair_first.append(i)
            else:
                pair_count[j] += 1
            pair_of.append(j)


def ts(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def span(seconds: int) -> str:
    seconds = abs(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def show(parsed: rec.Parsed) -> dict[str, Any]:
    _rid, ag_ref, meter_ref, qty, unit, us = parsed
    return {"agreement": ag_ref, "meter": meter_ref, "quantity": qty, "unit": unit, "occurred_at": rec.format_timestamp(us)}


def conflict(rid: str, line: int | None, stored: dict[str, Any], sent: dict[str, Any]) -> Issue:
    diff = ", ".join(f"{k} {stored[k]!r} → {sent[k]!r}" for k in stored if stored[k] != sent.get(k)) or "same fields, different meaning"
    return Issue(
        "rejected",
        "conflict",
        f"record_id '{rid}' was already received with different content ({diff}); "
        "record ids are unique for ever: send a new id for new usage",
        rid,
        line,
        stored,
        sent,
    )


def content(parsed: rec.Parsed, registry: Registry, source: str) -> tuple[Any, ...]:
    """What "the same content" means: the resolved meaning when the mapping knows it, else the fields as sent."""
    _rid, ag_ref, meter_ref, qty, unit, us = parsed
    ag = registry.resolve(ag_ref, source)
    if ag is not None:
        meter = ag.meter(meter_ref)
        if meter is not None:
            units = rec.to_units(qty, meter.decimals)
            if units is not None:
                return ("r", ag.id, meter.index, units, unit, us)
    return ("raw", ag_ref, meter_ref, qty, unit, us)


class Checker:
    """Checks records of one source against a registry snapshot at time ``now``."""

    def __init__(self, registry: Registry, source: str, future_tolerance: int):
        self.registry = registry
        self.source = source
        self.future_tolerance = future_tolerance
        self._encoder = LeafEncoder()

    def check(self, chunk: list[rec.Item], now: int) -> Checked:
        out = Checked(items=len(chunk), registry_version=self.registry.version)
        source = self.source
        src_part = self._encoder.source_part(source)
        future_limit = now + self.future_tolerance
        seen: dict[str, int] = {}  # record id → position in ``chunk`` of its first occurrence
        # (agreement ref, meter ref, unit) → (agreement, meter) when they resolve and the unit matches, else None
        resolved: dict[tuple[str, str, str], tuple[AgreementInfo, MeterInfo] | None] = {}
        prefixes: dict[tuple[int, int, int], bytes] = {}
        leaves: list[bytes] = []
        rows: list[tuple[str, int, int, int, int, int, int]] = []
        held, issues = out.held, out.issues
        to_units = rec.to_units
        for pos, (line, val) in enumerate(chunk):
            if len(val) == 2:  # (record_id, RecordError)
                bad_rid, err = val  # type: ignore[misc]
                issues.append(Issue("rejected", err.code, str(err), bad_rid, line))
                continue
            rid, ag_ref, meter_ref, qty, unit, us = val  # type: ignore[misc]
            first = seen.get(rid)
            if first is not None:
                issues.append(self._repeat(rid, line, chunk[first][1], val))  # type: ignore[arg-type]
                continue
            seen[rid] = pos
            triple = (ag_ref, meter_ref, unit)
            hit = resolved.get(triple, False)
            if hit is False:
                hit = resolved[triple] = self._resolve(ag_ref, meter_ref, unit)
            if hit is None:
                problem = self._unresolved(ag_ref, meter_ref, unit, qty)
                if problem[0] == "too_many_decimals":
                    issues.append(Issue("rejected", problem[0], problem[1], rid, line))
                    del seen[rid]
                else:
                    held.append((rid, problem[2], problem[3], None, us, line, problem[0], problem[1], val))  # type: ignore[arg-type]
                continue
            ag, meter = hit  # type: ignore[misc]
            units = to_units(qty, meter.decimals)
            if units is None:
                reason = f"quantity {qty} has more decimals than meter '{meter.name}' allows ({meter.decimals})"
                issues.append(Issue("rejected", "too_many_decimals", reason, rid, line))
                del seen[rid]
                continue
            if units > rec.MAX_UNITS:
                held.append(
                    (rid, ag.id, meter.index, None, us, line, "overflow", f"quantity {qty} exceeds the largest storable quantity", val)
                )  # type: ignore[arg-type]
                continue
            t = us // 1_000_000
            cached = ag._cached
            if cached[1] <= t < cached[2] and t <= future_limit and cached[0] >= ag.next_settle and now < cached[2] + ag.grace and ag.state:
                period = cached[0]  # fast path: same open period as the previous record of this agreement
            else:
                problem = self.window(ag, t, now, future_limit)
                if problem is not None:
                    held.append((rid, ag.id, meter.index, problem[2], us, line, problem[0], problem[1], val))  # type: ignore[arg-type]
                    continue
                period = ag.period_of(t)[0]
            pkey = (ag.id, meter.index, period)
            prefix = prefixes.get(pkey)
            if prefix is None:
                prefix = prefixes[pkey] = self._encoder.prefix(ag.address, meter.index, period)
            leaves.append(keccak_256(prefix + units.to_bytes(32, "big") + us.to_bytes(8, "big") + src_part + rid.encode()).digest())
            rows.append((rid, ag.id, meter.index, period, units, us, line))
        if rows:
            out.rids, out.agreements, out.meters, out.periods, out.units, out.times, out.lines = map(list, zip(*rows, strict=True))  # type: ignore[assignment]
        out.leaves = b"".join(leaves)
        out.summarize()
        return out

    def _resolve(self, ag_ref: str, meter_ref: str, unit: str) -> tuple[AgreementInfo, MeterInfo] | None:
        ag = self.registry.resolve(ag_ref, self.source)
        meter = ag.meter(meter_ref) if ag is not None else None
        if ag is None or meter is None or unit != meter.unit:
            return None
        return ag, meter

    def _unresolved(self, ag_ref: str, meter_ref: str, unit: str, qty: str) -> tuple[str, str, int | None, int | None]:
        """Why (agreement, meter, unit) does not resolve: (code, reason, agreement id, meter)."""
        ag = self.registry.resolve(ag_ref, self.source)
        if ag is None:
            return ("unknown_agreement", f"unknown agreement '{ag_ref}': {self.registry.agreement_hint(ag_ref, self.source)}", None, None)
        meter = ag.meter(meter_ref)
        if meter is None:
            return ("unknown_meter", f"unknown meter '{meter_ref}' on agreement {ag.address}: {ag.meter_hint(meter_ref)}", ag.id, None)
        if rec.to_units(qty, meter.decimals) is None:
            return (
                "too_many_decimals",
                f"quantity {qty} has more decimals than meter '{meter.name}' allows ({meter.decimals})",
                ag.id,
                meter.index,
            )
        return (
            "unit_mismatch",
            f"unit '{unit}' does not match meter '{meter.name}' of {ag.address}, which counts '{meter.unit}'",
            ag.id,
            meter.index,
        )

    def _repeat(self, rid: str, line: int, first: rec.Parsed, again: rec.Parsed) -> Issue:
        if content(first, self.registry, self.source) == content(again, self.registry, self.source):
            return Issue("duplicate", "duplicate", f"record_id '{rid}' appears more than once in this delivery", rid, line)
        return conflict(rid, line, show(first), show(again))

    def window(self, ag: AgreementInfo, t: int, now: int, future_limit: int) -> tuple[str, str, int | None] | None:
        """Whether ``t`` lies in an open period of ``ag``: (code, reason, period) if not."""
        if t > future_limit:
            return (
                "future",
                f"occurred_at {ts(t)} is {span(t - now)} ahead of the oracle's clock ({ts(now)}; "
                f"at most {span(self.future_tolerance)} allowed)",
                None,
            )
        if ag.state == 0:
            return ("agreement_inactive", f"agreement {ag.address} is not active yet (Proposed): usage counts from activation", None)
        if t < ag.schedule.start:
            return (
                "outside_period",
                f"occurred_at {ts(t)} is before agreement {ag.address} starts ({ts(ag.schedule.start)}): outside any open period",
                None,
            )
        if ag.end and t >= ag.end:
            return (
                "outside_period",
                f"occurred_at {ts(t)} is after agreement {ag.address} ended ({ts(ag.end)}): outside any open period",
                None,
            )
        period, _start, end = ag.period_of(t)
        if period < ag.next_settle:
            return (
                "late_settled",
                f"late for settled period {period} of {ag.address}: it belongs to a correction or the next period",
                period,
            )
        closes = end + ag.grace
        if now >= closes:
            return (
                "late_closed",
                f"late for period {period} of {ag.address}: its grace window closed at {ts(closes)} (outside any open period; "
                "it belongs to a correction or the next period)",
                period,
            )
        return None

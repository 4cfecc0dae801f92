"""Checks that need no database: fields (done by ``oracle.records``), the mapping, the unit, the period window,
in-delivery repeats; and the Merkle leaf of every record that passes.

A :class:`Checker` is picklable, so a worker process can check a large file while the main process stores the
previous chunk (two cores: about twice the throughput). Its output, :class:`Checked`, is columnar for the same
reason: a few lists and one bytes object pickle far faster than a million small tuples.
"""

from __future__ import annotations

import threading
from array import array
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import repeat
from operator import itemgetter, le, lt
from typing import Any, NamedTuple, cast

from _pysha3 import keccak_256

from oracle import records as rec
from oracle.merkle import LeafEncoder
from oracle.snapshot import STILL_PAUSED, AgreementInfo, MeterInfo, Registry
from settle.chaintypes import AgreementState


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


class Held(NamedTuple):
    """A record held for quarantine: what the checks resolved of it (None where they could not), and why."""

    record_id: str
    agreement_id: int | None
    meter: int | None
    period: int | None
    occurred_us: int
    line: int
    code: str
    reason: str
    record: rec.Parsed  # as it was sent, for the operator (and for a later release)


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
    lines: list[int] = field(default_factory=list)  # (line numbers: an array once unpickled, like the other integer columns)
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
    pair_leaves: list[bytes] = field(default_factory=list)  # the leaves of each pair's records, concatenated

    summarized: bool = False

    def summarize(self) -> None:
        """Per key: sum, count and largest quantity; per pair: record count, index of the first record, and the
        leaves of its records concatenated."""
        if self.summarized:
            return
        self.summarized = True
        nk, npairs = len(self.keys), len(self.pairs)
        key_sum, key_max = [0] * nk, [0] * nk
        groups: list[list[bytes]] = [[] for _ in range(npairs)]
        appends = [g.append for g in groups]
        blob = self.leaves
        for k, u, j, i in zip(self.key_of, self.units, self.pair_of, range(0, len(blob), 32), strict=True):
            key_sum[k] += u
            if u > key_max[k]:
                key_max[k] = u
            appends[j](blob[i : i + 32])
        counts = Counter(self.key_of)
        n = len(self.key_of)
        firsts = dict(zip(reversed(self.pair_of), range(n - 1, -1, -1), strict=True))
        self.key_sum, self.key_max, self.key_count = key_sum, key_max, [counts[k] for k in range(nk)]
        self.pair_count = list(map(len, groups))
        self.pair_first = [firsts[j] for j in range(npairs)]
        self.pair_leaves = list(map(b"".join, groups))

    # Compact pickling (a worker sends one per chunk): integer columns as machine arrays, record ids as one string
    # (they are printable: no newline), so the storing process unpickles a chunk with a few copies.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in _INT_COLUMNS:
            state[name] = array("q", state[name])
        state["rids"] = "\n".join(self.rids)
        state["n"] = len(self.rids)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        # the integer columns stay arrays (indexed and iterated like lists, a quarter of the memory)
        state["rids"] = state["rids"].split("\n") if state.pop("n") else []
        self.__dict__.update(state)


_INT_COLUMNS = ("agreements", "meters", "periods", "units", "times", "lines", "key_of", "pair_of")


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


def _paused(ag: AgreementInfo, t: int, pause: tuple[int, int]) -> str:
    since = f"since {ts(pause[0])}" if pause[0] else "since before the oracle registered it"
    when = f"{since}, still paused" if pause[1] == STILL_PAUSED else f"{since} until {ts(pause[1])}"
    return (
        f"occurred_at {ts(t)} is while agreement {ag.address} was paused ({when}): usage of a paused agreement is not "
        "reported; release it if it counts all the same, or reject it"
    )


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
    """Checks records of one source against a registry snapshot at time ``now``.

    Runs of records read as :class:`~oracle.records.Columns` are checked a column at a time (C-level passes
    over lists, the leaves hashed in one pass) when every record of the run is well-formed, new and plausible;
    a run where that fails is split, and the records of the parts that still fail are checked one by one, in
    order, with exactly the per-record rules. Both ways give the same outcome."""

    #: runs shorter than this are checked record by record once a column check failed
    MIN_RUN = 64

    def __init__(self, registry: Registry, source: str, future_tolerance: int, *, count_paused: bool = False):
        """``count_paused``: records that occurred while their agreement was paused count (an operator released
        them) instead of being held."""
        self.registry = registry
        self.source = source
        self.future_tolerance = future_tolerance
        self.count_paused = count_paused
        self._encoder = LeafEncoder()
        self._src = self._encoder.source_part(source)
        self._lock = threading.Lock()
        # caches for the column checks (they depend on the registry snapshot only)
        self._prefixes: dict[tuple[int, int, int], bytes] = {}
        self._reset_caches()

    def _reset_caches(self) -> None:
        # (agreement ref, meter ref, unit) as sent -> hit: index into the _hit_* lists, or -1 if it does not resolve
        self._triples: dict[tuple[Any, Any, Any], int] = {}
        self._hit_ag: list[AgreementInfo] = []
        self._hit_ag_id: list[int] = []
        self._hit_meter: list[int] = []
        self._hit_decimals: list[int] = []
        self._quantities: dict[Any, str | None] = {}
        self._units: dict[tuple[str, int], int | None] = {}
        self._reset_windows()

    def _reset_windows(self) -> None:
        # per hit: the open window of its agreement around ``now`` (start, end; empty if none), its period, leaf
        # prefix, key (agreement, meter, period) and pair (agreement, period); valid for ``now`` in
        # [_now_from, _now_until): within one period of every agreement the windows do not change
        self._now_from, self._now_until = -(2**63), 2**63
        self._windows: dict[int, tuple[int, int, int] | None] = {}
        self._w_start: list[int] = []
        self._w_end: list[int] = []
        self._w_period: list[int] = []
        self._w_prefix: list[bytes] = []
        self._w_key: list[tuple[int, int, int] | None] = []
        self._w_pair: list[tuple[int, int] | None] = []

    def _windows_for_hits(self, now: int) -> None:
        """Extend the per-hit window lists to every hit known now."""
        if not self._now_from <= now < self._now_until:
            self._reset_windows()
        windows = self._windows
        for h in range(len(self._w_start), len(self._hit_ag)):
            ag = self._hit_ag[h]
            if ag.id not in windows:
                windows[ag.id] = self._open_window(ag, now)
            w = windows[ag.id]
            meter = self._hit_meter[h]
            if w is None:
                self._w_start.append(0)
                self._w_end.append(0)  # empty: every record of this hit takes the other-period path
                self._w_period.append(-1)
                self._w_prefix.append(b"")
                self._w_key.append(None)
                self._w_pair.append(None)
            else:
                self._w_start.append(w[1])
                self._w_end.append(w[2])
                self._w_period.append(w[0])
                self._w_prefix.append(self.prefix(ag.id, meter, w[0]))
                self._w_key.append((ag.id, meter, w[0]))
                self._w_pair.append((ag.id, w[0]))

    def check(self, chunk: list[rec.Item], now: int) -> Checked:
        return self.check_segments([chunk], now)

    def check_segments(self, segments: list[rec.Segment], now: int) -> Checked:
        """Check a chunk given as runs of columns and of single records (one delivery's repeats are found
        across all of them)."""
        with self._lock:  # the caches are shared by the threads of a server (checking holds the GIL anyway)
            if len(self._triples) > 100_000 or len(self._quantities) > 200_000 or len(self._units) > 200_000:
                self._reset_caches()  # bounded memory for deliveries with ever new references or quantities
            if len(self._prefixes) > 100_000:
                self._prefixes.clear()
            run = _Run(self, now)
            for i, segment in enumerate(segments):
                run.last = i == len(segments) - 1
                if isinstance(segment, rec.Columns):
                    run.columns(segment, 0, len(segment))
                else:
                    run.items(segment)
            return run.finish()

    # -- column checks ----------------------------------------------------------------------------------------
    def _hit(self, triple: tuple[Any, Any, Any]) -> int:
        """The hit index of a triple as sent (-1: it does not resolve, or the unit does not match)."""
        ag_ref, meter_ref, unit = triple
        if ag_ref[:2] in ("0x", "0X") and rec._ADDRESS.fullmatch(ag_ref):
            ag_ref = ag_ref.lower()
        found = self._resolve(ag_ref, meter_ref, unit)
        if found is None:
            return -1
        ag, meter = found
        self._hit_ag.append(ag)
        self._hit_ag_id.append(ag.id)
        self._hit_meter.append(meter.index)
        self._hit_decimals.append(meter.decimals)
        return len(self._hit_ag) - 1

    def prefix(self, ag_id: int, meter: int, period: int) -> bytes:
        key = (ag_id, meter, period)
        found = self._prefixes.get(key)
        if found is None:
            found = self._prefixes[key] = self._encoder.prefix(self.registry.agreements[ag_id].address, meter, period)
        return found

    def _open_window(self, ag: AgreementInfo, now: int) -> tuple[int, int, int] | None:
        """(period, start, end) of the period of ``ag`` containing ``now`` if every time in [start, end) up to the
        future limit passes ``window`` (end cut at the agreement's end), else None. The answer holds for every
        ``now`` in the same period (narrows [_now_from, _now_until))."""
        schedule = ag.schedule
        if now < schedule.start:
            self._now_until = min(self._now_until, schedule.start)
            return None
        period = schedule.period_at(now)
        self._now_from = max(self._now_from, schedule.start_of(period))
        self._now_until = min(self._now_until, schedule.end_of(period))
        return self._valid_window(ag, period, now)

    def _valid_window(self, ag: AgreementInfo, period: int, now: int) -> tuple[int, int, int] | None:
        schedule = ag.schedule
        if ag.state == AgreementState.PROPOSED or period < ag.next_settle:
            return None
        start, end = schedule.start_of(period), schedule.end_of(period)
        if now >= end + ag.grace:
            return None
        if start < schedule.start:
            return None
        if ag.end:
            end = min(end, ag.end)
        if ag.pauses and not self.count_paused and ag.paused_within(start, end):
            return None  # its records are checked one by one: those in the pause are held
        return (period, start, end) if start < end else None

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
        if ag.state == AgreementState.PROPOSED:
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
        if ag.pauses and not self.count_paused:
            pause = ag.pause_at(t)
            if pause is not None:
                return ("agreement_paused", _paused(ag, t, pause), period)
        return None


def _only(column: list[Any], kind: type) -> bool:
    return not column or set(map(type, column)) == {kind}


def _lengths_ok(column: list[str], limit: int) -> bool:
    lengths = list(map(len, column))
    return min(lengths) > 0 and max(lengths) <= limit


class _Run:
    """The state of checking one chunk: repeats seen, outcomes so far (in record order)."""

    def __init__(self, checker: Checker, now: int):
        self.checker = checker
        self.now = now
        self.future_limit = now + checker.future_tolerance
        self.out = Checked(registry_version=checker.registry.version)
        self.position = 0  # records of the chunk so far
        self.last = True  # checking the chunk's last segment (its record ids need not be remembered at the end)
        self.seen: dict[str, int] = {}  # record id -> position of its first occurrence
        self.firsts: dict[int, rec.Parsed] = {}  # position -> parsed record (records checked one by one)
        self.fast: list[tuple[int, rec.Columns, int]] = []  # (first position, columns, first index): column runs
        self.digests: list[bytes] = []  # leaf of every accepted record
        # summaries of the accepted records, built as they are accepted (first appearance order)
        self.key_index: dict[tuple[int, int, int], int] = {}
        self.pair_index: dict[tuple[int, int], int] = {}
        self.key_of: list[int] = []
        self.pair_of: list[int] = []
        self.other_windows: dict[int, tuple[int, int, int]] = {}

    def _accepted(self, ag_id: int, meter: int, period: int) -> None:
        """Summaries for one more accepted record."""
        key_index, pair_index = self.key_index, self.pair_index
        self.key_of.append(key_index.setdefault((ag_id, meter, period), len(key_index)))
        self.pair_of.append(pair_index.setdefault((ag_id, period), len(pair_index)))

    # -- record by record -------------------------------------------------------------------------------------
    def items(self, chunk: list[rec.Item]) -> None:
        ck = self.checker
        out = self.out
        now, future_limit = self.now, self.future_limit
        src_part = ck._src
        seen, firsts = self.seen, self.firsts
        held, issues = out.held, out.issues
        to_units = rec.to_units
        resolved: dict[tuple[str, str, str], tuple[AgreementInfo, MeterInfo] | None] = {}
        base = self.position
        self.position += len(chunk)
        out.items += len(chunk)
        for pos, (line, val) in enumerate(chunk, start=base):
            if len(val) == 2:  # (record_id, RecordError)
                bad_rid, err = val
                issues.append(Issue("rejected", err.code, str(err), bad_rid, line))
                continue
            rid, ag_ref, meter_ref, qty, unit, us = val
            first = seen.get(rid)
            if first is not None:
                issues.append(ck._repeat(rid, line, self._parsed_at(first), val))
                continue
            seen[rid] = pos
            firsts[pos] = val
            triple = (ag_ref, meter_ref, unit)
            hit = resolved.get(triple, False)
            if hit is False:
                hit = resolved[triple] = ck._resolve(ag_ref, meter_ref, unit)
            if hit is None:
                problem = ck._unresolved(ag_ref, meter_ref, unit, qty)
                if problem[0] == "too_many_decimals":
                    issues.append(Issue("rejected", problem[0], problem[1], rid, line))
                    del seen[rid]
                else:
                    held.append(Held(rid, problem[2], problem[3], None, us, line, problem[0], problem[1], val))
                continue
            ag, meter = hit  # type: ignore[misc]  # a pair here: mypy keeps `True` of the bool default in the union
            units = to_units(qty, meter.decimals)
            if units is None:
                reason = f"quantity {qty} has more decimals than meter '{meter.name}' allows ({meter.decimals})"
                issues.append(Issue("rejected", "too_many_decimals", reason, rid, line))
                del seen[rid]
                continue
            if units > rec.MAX_UNITS:
                held.append(
                    Held(rid, ag.id, meter.index, None, us, line, "overflow", f"quantity {qty} exceeds the largest storable quantity", val)
                )
                continue
            t = us // 1_000_000
            outside = ck.window(ag, t, now, future_limit)
            if outside is not None:
                held.append(Held(rid, ag.id, meter.index, outside[2], us, line, outside[0], outside[1], val))
                continue
            period = ag.period_of(t)[0]
            prefix = ck.prefix(ag.id, meter.index, period)
            self.digests.append(keccak_256(prefix + units.to_bytes(32, "big") + us.to_bytes(8, "big") + src_part + rid.encode()).digest())
            out.rids.append(rid)
            out.agreements.append(ag.id)
            out.meters.append(meter.index)
            out.periods.append(period)
            out.units.append(units)
            out.times.append(us)
            out.lines.append(line)
            self._accepted(ag.id, meter.index, period)

    def _parsed_at(self, pos: int) -> rec.Parsed:
        """The parsed record at ``pos`` (a first occurrence)."""
        parsed = self.firsts.get(pos)
        if parsed is not None:
            return parsed
        for first, cols, index in reversed(self.fast):
            if first <= pos:
                return cols.item(index + pos - first)[1]  # type: ignore[return-value]
        raise KeyError(pos)

    # -- a column at a time -----------------------------------------------------------------------------------
    def columns(self, cols: rec.Columns, lo: int, hi: int) -> None:
        if hi <= lo:
            return
        if self._fast(cols, lo, hi):
            return
        if hi - lo <= self.checker.MIN_RUN:
            self.items(cols.items(lo, hi))
            return
        step = max(self.checker.MIN_RUN, -(-(hi - lo) // 8))
        for part in range(lo, hi, step):
            self.columns(cols, part, min(part + step, hi))

    def _fast(self, cols: rec.Columns, lo: int, hi: int) -> bool:
        """Check records ``lo:hi`` of ``cols`` a column at a time; False (and nothing changed) unless every one of
        them is well-formed, new in this delivery, resolves, and falls in an open period."""
        ck = self.checker
        n = hi - lo
        rid, ag, meter, qty, unit, at = cols.fields(lo, hi)
        # -- fields: the per-record fast path of ``records.parse_fields``, as whole columns (CSV gives strings)
        if cols.json:
            if not (_only(rid, str) and _only(ag, str) and _only(meter, str) and _only(unit, str) and _only(at, str)):
                return False
            if not set(map(type, qty)) <= {str, int}:
                return False
        if not (
            _lengths_ok(rid, rec.MAX_ID)
            and _lengths_ok(ag, rec.MAX_REF)
            and _lengths_ok(meter, rec.MAX_METER)
            and _lengths_ok(unit, rec.MAX_UNIT)
        ):
            return False
        if not ("".join(rid).isprintable() and "".join(ag).isprintable() and "".join(meter).isprintable() and "".join(unit).isprintable()):
            return False
        # -- new in this delivery
        if len(set(rid)) != n or not self.seen.keys().isdisjoint(rid):
            return False
        # -- mapping and unit
        triples = ck._triples
        try:
            hits = list(map(triples.__getitem__, zip(ag, meter, unit, strict=True)))  # zip's tuples are reused: no allocation
        except KeyError:
            for triple in set(zip(ag, meter, unit, strict=True)).difference(triples):
                triples[triple] = ck._hit(triple)
            hits = list(map(triples.__getitem__, zip(ag, meter, unit, strict=True)))
        if min(hits) < 0:
            return False
        # -- quantities
        quantities = ck._quantities
        try:
            maybe_texts = list(map(quantities.__getitem__, qty))
        except KeyError:
            for q in set(qty).difference(quantities):
                quantities[q] = _quantity_text(q)
            maybe_texts = list(map(quantities.__getitem__, qty))
        if None in maybe_texts:
            return False
        texts = cast("list[str]", maybe_texts)  # no None: refused just above
        unit_cache = ck._units
        decimals = ck._hit_decimals
        try:
            maybe_units = list(map(unit_cache.__getitem__, zip(texts, map(decimals.__getitem__, hits), strict=True)))
        except KeyError:
            for key in set(zip(texts, map(decimals.__getitem__, hits), strict=True)).difference(unit_cache):
                u = rec.to_units(*key)
                unit_cache[key] = u if u is not None and u <= rec.MAX_UNITS else None
            maybe_units = list(map(unit_cache.__getitem__, zip(texts, map(decimals.__getitem__, hits), strict=True)))
        if None in maybe_units:
            return False
        units = cast("list[int]", maybe_units)  # no None: refused just above
        # -- timestamps: "YYYY-MM-DDTHH:MM:SSZ" (the fast path of ``records.parse_timestamp``)
        if set(map(len, at)) != {20} or not _TS_SHAPE(at):
            return False
        try:
            secs = list(map(int, map(datetime.timestamp, map(datetime.fromisoformat, at))))
        except ValueError:
            return False
        if max(secs) > self.future_limit:
            return False
        # -- periods: the open window of each record's agreement around now (others record by record)
        ck._windows_for_hits(self.now)
        in_window = all(map(le, map(ck._w_start.__getitem__, hits), secs)) and all(map(lt, secs, map(ck._w_end.__getitem__, hits)))
        if in_window:
            periods = list(map(ck._w_period.__getitem__, hits))
            prefixes: Any = map(ck._w_prefix.__getitem__, hits)
        else:
            found = self._other_periods(hits, secs)
            if found is None:
                return False
            periods = found
            prefixes = map(ck.prefix, map(ck._hit_ag_id.__getitem__, hits), map(ck._hit_meter.__getitem__, hits), periods)
        # -- leaves
        times = list(map(_MUL, secs, repeat(1_000_000)))
        preimages = map(
            b"".join,
            zip(prefixes, map(int.to_bytes, units, repeat(32)), map(int.to_bytes, times, repeat(8)), repeat(ck._src), map(str.encode, rid)),
        )
        self.digests.extend(map(_DIGEST, map(keccak_256, preimages)))
        # -- accepted
        ag_ids = list(map(ck._hit_ag_id.__getitem__, hits))
        meters = list(map(ck._hit_meter.__getitem__, hits))
        if in_window:
            used = list(dict.fromkeys(hits))  # first appearance order
            self.key_of.extend(map(_indices(self.key_index, used, ck._w_key).__getitem__, hits))
            self.pair_of.extend(map(_indices(self.pair_index, used, ck._w_pair).__getitem__, hits))
        else:
            for a, m, p in zip(ag_ids, meters, periods, strict=True):
                self._accepted(a, m, p)
        out = self.out
        base = self.position
        self.fast.append((base, cols, lo))
        if not (self.last and hi == len(cols)):  # later records of this chunk are checked against these ids
            self.seen.update(zip(rid, range(base, base + n), strict=True))
        self.position += n
        out.items += n
        out.rids.extend(rid)
        out.agreements.extend(ag_ids)
        out.meters.extend(meters)
        out.periods.extend(periods)
        out.units.extend(units)
        out.times.extend(times)
        out.lines.extend(cols.lines[lo:hi])
        return True

    def _other_periods(self, hits: list[int], secs: list[int]) -> list[int] | None:
        """The periods of records some of which lie outside the open window around now (an earlier period
        still in its grace window, say); None if one of them is not in an open period."""
        ck = self.checker
        agreements = ck.registry.agreements
        others = self.other_windows
        w_start, w_end, w_period = ck._w_start, ck._w_end, ck._w_period
        periods = []
        for h, t in zip(hits, secs, strict=True):
            if w_start[h] <= t < w_end[h]:
                periods.append(w_period[h])
                continue
            a = ck._hit_ag_id[h]
            w = others.get(a)
            if w is None or not w[1] <= t < w[2]:
                info = agreements[a]
                if t < info.schedule.start:
                    return None
                w = ck._valid_window(info, info.schedule.period_at(t), self.now)
                if w is None or not w[1] <= t < w[2]:
                    return None
                others[a] = w
            periods.append(w[0])
        return periods

    def finish(self) -> Checked:
        """The chunk's outcome (the sums per key and the leaves per pair are left to ``Checked.summarize``, in
        the process that stores the chunk: the two processes share the work about evenly)."""
        out = self.out
        out.leaves = b"".join(self.digests)
        out.keys, out.key_of = list(self.key_index), self.key_of
        out.pairs, out.pair_of = list(self.pair_index), self.pair_of
        return out


_DIGEST = keccak_256.digest
_MUL = int.__mul__


def _indices(index: dict[Any, int], hits: list[int], hit_keys: list[Any]) -> dict[int, int]:
    """hit -> index in ``index`` of its key (new keys are added in the order of ``hits``)."""
    keys = list(map(hit_keys.__getitem__, hits))
    new = [k for k in dict.fromkeys(keys) if k not in index]
    if new:
        index.update(zip(new, range(len(index), len(index) + len(new)), strict=True))
    return dict(zip(hits, map(index.__getitem__, keys), strict=True))


def _TS_SHAPE(at: list[str]) -> bool:
    return (
        set(map(itemgetter(19), at)) == {"Z"}
        and set(map(itemgetter(10), at)) == {"T"}
        and set(map(itemgetter(7), at)) == {"-"}
        and set(map(itemgetter(13), at)) == {":"}
    )


def _quantity_text(value: Any) -> str | None:
    """The normalised quantity of a raw value as ``records.parse_fields`` gives it, None if it is rejected."""
    if type(value) is int:
        return str(value) if value >= 0 else None
    try:
        return rec.normalize_quantity(value)
    except rec.RecordError:
        return None

"""In-memory snapshot of the mappings (sources, agreements, references, meters) that the checks run against.

Kept free of SQLAlchemy so a checking worker process stays small; loading it from SQL is ``oracle.registry``'s.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from settle.calendar import Schedule

#: The end of a pause that still lasts.
STILL_PAUSED = 2**62


@dataclass(frozen=True)
class MeterInfo:
    index: int
    name: str
    unit: str
    decimals: int


@dataclass
class AgreementInfo:
    """One agreement as the checks see it, with a one-period cache for the hot path."""

    id: int
    address: str
    label: str
    schedule: Schedule
    end: int
    grace: int
    state: int
    next_settle: int
    meter_count: int
    meters_by_name: dict[str, MeterInfo] = field(default_factory=dict)
    meters_by_index: dict[int, MeterInfo] = field(default_factory=dict)
    #: Times it was paused: (from, until) in seconds, ``until`` = ``STILL_PAUSED`` while the pause lasts.
    pauses: tuple[tuple[int, int], ...] = ()
    _cached: tuple[int, int, int] = (-1, 0, -1)  # (period, start, end) in seconds

    def pause_at(self, t: int) -> tuple[int, int] | None:
        """The pause ``t`` falls in, if any."""
        for pause in self.pauses:
            if pause[0] <= t < pause[1]:
                return pause
        return None

    def paused_within(self, start: int, end: int) -> bool:
        """Whether a pause overlaps [start, end)."""
        return any(p_from < end and start < p_until for p_from, p_until in self.pauses)

    def period_of(self, t: int) -> tuple[int, int, int]:
        """(period, start, end) of the period containing ``t`` (seconds; ``t`` at or after the start)."""
        cached = self._cached
        if cached[1] <= t < cached[2]:
            return cached
        p = self.schedule.period_at(t)
        found = (p, self.schedule.start_of(p), self.schedule.end_of(p))
        self._cached = found
        return found

    def meter(self, ref: str) -> MeterInfo | None:
        info = self.meters_by_name.get(ref)
        if info is None and ref.isdigit() and ref.isascii():
            info = self.meters_by_index.get(int(ref))
        return info

    def meter_hint(self, ref: str) -> str:
        if not self.meters_by_name:
            return "no meters are mapped for it (add one with 'settle oracle map meter')"
        names = sorted(self.meters_by_name)
        close = difflib.get_close_matches(ref, names, n=1)
        known = ", ".join(f"{m.name} ({m.index})" for m in sorted(self.meters_by_name.values(), key=lambda m: m.index))
        return (f"did you mean '{close[0]}'? " if close else "") + f"known meters: {known}"


@dataclass
class Registry:
    """A snapshot of sources, agreements, references and meters."""

    version: int = 0
    sources: dict[str, int] = field(default_factory=dict)
    source_names: dict[int, str] = field(default_factory=dict)
    agreements: dict[int, AgreementInfo] = field(default_factory=dict)
    by_address: dict[str, AgreementInfo] = field(default_factory=dict)  # lower-case address
    refs: dict[tuple[str, str], int] = field(default_factory=dict)  # (scope, ref) -> agreement id

    @classmethod
    def load(cls, conn: Any) -> Registry:
        """A snapshot from the database (``conn``: a SQLAlchemy connection)."""
        from oracle.registry import load_registry

        return load_registry(conn)

    def resolve(self, ref: str, source: str) -> AgreementInfo | None:
        """An agreement by (lower-cased) address, or by ERP reference (the source's own first, then global)."""
        if ref.startswith("0x") and len(ref) == 42:
            return self.by_address.get(ref)
        agreement_id = self.refs.get((source, ref))
        if agreement_id is None:
            agreement_id = self.refs.get(("", ref))
        return self.agreements.get(agreement_id) if agreement_id is not None else None

    def agreement_hint(self, ref: str, source: str) -> str:
        if ref.startswith("0x"):
            return "no agreement with this address is registered (add it with 'settle oracle map agreement')"
        refs = sorted({r for (scope, r) in self.refs if scope in ("", source)})
        close = difflib.get_close_matches(ref, refs, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return hint + "no mapping for this reference (add one with 'settle oracle map ref')"

"""What a party sees of an agreement, read from the chain alone (no gateway database).

Every figure comes from the agreement's views at one block (so they are consistent with each other) and its
events; the running charge of each period is recomputed with the reference model (:mod:`settle.pricing`) and
compared with the contract's own ``previewAmount``. Names of parties and meters come from the local deployment
record when there is one; they are labels, never facts.

    view = read_agreement(chain, "0x…")
    print(json.dumps(view.to_json()))      # `settle status 0x… --json`
    render(view, console)                  # `settle status 0x…`
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Protocol

from settle.abi import ContractView
from settle.chain import Chain
from settle.chaintypes import (
    AgreementState,
    AgreementStatus,
    PaymentStatus,
    ServiceStatus,
    SettlementView,
    TerminationReason,
)
from settle.deployments import Deployments
from settle.errors import ChainError, ConfigError, ValidationError
from settle.keccak import keccak, to_checksum_address
from settle.money import format_minor
from settle.pricing import PeriodCharge, period_charge
from settle.spec import format_price, format_timestamp, terms_changes, terms_document
from settle.terms import Terms

__all__ = [
    "AgreementListing",
    "AgreementState",
    "AgreementView",
    "HistoryEntry",
    "PaymentStatus",
    "PeriodView",
    "ServiceStatus",
    "list_agreements",
    "read_agreement",
]


@dataclass(frozen=True)
class VersionView:
    """One terms version: its terms, hash and the first period it prices (0 for version 1 and for proposals not in
    force). ``state``: ``in force``, ``superseded`` (was in force, a later version prices from its start on),
    ``pending``, or ``not accepted`` (a rejected or replaced proposal: version numbers are never reused)."""

    version: int
    terms: Terms
    terms_hash: bytes
    effective_from_period: int
    pending: bool = False
    state: str = "in force"
    #: For the pending version: the parties (addresses) that have not accepted it yet, ...
    awaiting: tuple[str, ...] = ()
    #: ... the first period it would price if accepted now (0 for the first terms of a Proposed agreement) ...
    applies_from: int | None = None
    #: ... and what it changes against the version in force (spec notation, one line per field).
    changes: tuple[str, ...] = ()


@dataclass(frozen=True)
class HistoryEntry:
    """One event of the agreement, in chain order."""

    block: int
    timestamp: int
    tx_hash: str
    event: str
    args: dict[str, Any]
    summary: str


@dataclass(frozen=True)
class PeriodView:
    """One billing period: bounds, usage, the running (or final) charge and its settlement."""

    period: int
    start: int
    end: int
    version: int
    usage: tuple[int, ...]
    charge: PeriodCharge
    preview_amount: int
    due_date: int
    settled: bool
    amount: int
    paid: int
    settled_at: int
    payment_status: PaymentStatus
    settlement_version: int
    #: While Disputed: the part of the amount the payer disputes.
    disputed: int = 0
    #: Net amount and VAT of the settlement as its ``SettlementTriggered`` event carries them (their sum is what was
    #: billed at settlement); ``None`` while unsettled or when the event was not read.
    settled_net: int | None = None
    settled_vat: int | None = None

    @property
    def net(self) -> int:
        """The net amount: the settlement's (from its event) once settled, else the running charge's."""
        return self.charge.net if self.settled_net is None else self.settled_net

    @property
    def vat(self) -> int:
        """The VAT: the settlement's (from its event) once settled, else the running charge's."""
        return self.charge.vat if self.settled_vat is None else self.settled_vat

    @property
    def gross(self) -> int:
        """Net plus VAT (the amount billed at settlement; a resolved dispute may lower ``amount`` since)."""
        return self.net + self.vat

    @property
    def open_amount(self) -> int:
        if self.payment_status in (PaymentStatus.NONE, PaymentStatus.PAID, PaymentStatus.WRITTEN_OFF):
            return 0
        return self.amount - self.paid


@dataclass
class AgreementView:
    """Everything ``settle status`` shows, as read at ``block``."""

    address: str
    chain_id: int
    block: int
    timestamp: int
    factory: str
    payer: str
    payee: str
    state: AgreementState
    service_status: ServiceStatus
    version: int
    pending_version: int
    current_period: int
    current_period_start: int
    current_period_end: int
    next_period_to_settle: int
    end_period: int
    outstanding: int
    usage_epoch: int
    terms: Terms
    versions: list[VersionView]
    history: list[HistoryEntry]
    periods: list[PeriodView]
    names: dict[str, str] = field(default_factory=dict)
    meter_names: list[str] = field(default_factory=list)
    meter_units: list[str | None] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def time_left(self) -> int:
        return max(self.current_period_end - self.timestamp, 0)

    def money(self, minor: int) -> str:
        return format_minor(minor, self.terms.minor_digits, self.terms.currency)

    def meter_name(self, index: int) -> str:
        return self.meter_names[index] if index < len(self.meter_names) and self.meter_names[index] else f"meter {index}"

    def to_json(self) -> dict[str, Any]:
        """The view as plain JSON types: amounts as decimal strings plus exact minor units, times as ISO and unix."""
        digits = self.terms.minor_digits

        def amount(minor: int) -> dict[str, Any]:
            return {"minor_units": minor, "value": format_minor(minor, digits)}

        def moment(ts: int) -> dict[str, Any]:
            return {"unix": ts, "utc": format_timestamp(ts)}

        periods = []
        for p in self.periods:
            charge_terms = self.version_terms(p.version)
            periods.append(
                {
                    "period": p.period,
                    "start": moment(p.start),
                    "end": moment(p.end),
                    "terms_version": p.version,
                    "usage": [
                        {
                            "meter": i,
                            "name": self.meter_name(i),
                            "quantity": q,
                            "charge": format_price(p.charge.meter_amounts[i], charge_terms),
                        }
                        for i, q in enumerate(p.usage)
                    ],
                    "running_charge": {
                        "subtotal": format_price(p.charge.subtotal, charge_terms),
                        "rounded": amount(p.charge.rounded),
                        "minimum_applied": p.charge.minimum_applied,
                        "cap_applied": p.charge.cap_applied,
                        "net": amount(p.charge.net),
                        "vat": amount(p.charge.vat),
                        "gross": amount(p.charge.gross),
                        "amount": amount(p.charge.amount),
                        "contract_preview": amount(p.preview_amount),
                        "matches_contract": p.charge.amount == p.preview_amount,
                    },
                    "settlement": None
                    if not p.settled
                    else {
                        "net": amount(p.net),
                        "vat": amount(p.vat),
                        "gross": amount(p.gross),
                        "amount": amount(p.amount),
                        "paid": amount(p.paid),
                        "open": amount(p.open_amount),
                        "status": p.payment_status.label,
                        "disputed": amount(p.disputed) if p.payment_status is PaymentStatus.DISPUTED else None,
                        "settled_at": moment(p.settled_at),
                        "due_date": moment(p.due_date),
                        "overdue": p.open_amount > 0 and self.timestamp > p.due_date,
                        "terms_version": p.settlement_version,
                    },
                    "due_date": moment(p.due_date),
                }
            )
        return {
            "agreement": self.address,
            "chain_id": self.chain_id,
            "read_at": {"block": self.block, **moment(self.timestamp)},
            "factory": self.factory,
            "parties": {
                "payer": {"address": self.payer, "name": self.names.get("payer")},
                "payee": {"address": self.payee, "name": self.names.get("payee")},
            },
            "state": self.state.label,
            "service_status": self.service_status.label,
            "terms_version": self.version,
            "pending_version": self.pending_version or None,
            "terms": {**terms_document(self.terms), "hash": "0x" + self.versions_by_number()[self.version or 1].terms_hash.hex()},
            "versions": [
                {
                    "version": v.version,
                    "terms_hash": "0x" + v.terms_hash.hex(),
                    "effective_from_period": v.effective_from_period,
                    "pending": v.pending,
                    "state": v.state,
                    **(
                        {"awaiting": list(v.awaiting), "applies_from_period": v.applies_from, "changes": list(v.changes)}
                        if v.pending
                        else {}
                    ),
                    "terms": terms_document(v.terms),
                }
                for v in self.versions
            ],
            "current_period": {
                "period": self.current_period,
                "start": moment(self.current_period_start),
                "end": moment(self.current_period_end),
                "seconds_left": self.time_left,
            },
            "next_period_to_settle": self.next_period_to_settle,
            "last_period": self.end_period - 1 if self.end_period else None,
            "outstanding": amount(self.outstanding),
            "usage_epoch": self.usage_epoch,
            "warnings": self.warnings,
            "periods": periods,
            "history": [
                {
                    "block": h.block,
                    "time": format_timestamp(h.timestamp),
                    "tx": h.tx_hash,
                    "event": h.event,
                    "summary": h.summary,
                    "args": {k: _jsonable(v) for k, v in h.args.items()},
                }
                for h in self.history
            ],
        }

    def versions_by_number(self) -> dict[int, VersionView]:
        return {v.version: v for v in self.versions}

    def version_terms(self, version: int) -> Terms:
        found = self.versions_by_number().get(version)
        return found.terms if found else self.terms


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


# -- reading ----------------------------------------------------------------------------------------------------------
# Every read goes through Chain.read_many (JSON-RPC batches of eth_call, decoded with settle.abi) and Chain.get_logs:
# no web3, so `settle status` loads none of it, and a status takes a handful of round trips instead of one per view.

_CREATED_TOPIC = "0x" + keccak(text="AgreementCreated(address,address,address,bytes32,bytes32,bytes)").hex()
#: What each shown period reads, in this order (see :func:`_period`).
_PERIOD_VIEWS = ("periodBounds", "versionForPeriod", "usageOf", "previewAmount", "settlement", "dueDate")
#: Terms versions asked for at once beyond the highest one ``status()`` names (rejected and replaced proposals).
_VERSION_PROBES = 4


class _HasAddress(Protocol):
    @property
    def address(self) -> str: ...


def _address_topic(address: str) -> str:
    return "0x" + "00" * 12 + to_checksum_address(address)[2:].lower()


def _agreement_view(chain: Chain, agreement: _HasAddress) -> ContractView:
    return chain.view("IBillingAgreement", agreement.address)


def packed_terms_from_events(chain: Chain, agreement: _HasAddress, *, to_block: int | str = "latest") -> dict[bytes, Terms]:
    """Every terms version the chain's events carry for ``agreement`` (AgreementCreated, AmendmentProposed), by hash.

    ``agreement``: anything with its ``address`` (a :class:`~settle.abi.ContractView`, a web3 contract)."""
    view = _agreement_view(chain, agreement)
    factory = chain.view("IAgreementFactory", chain.read(view.call("factory")))
    found: dict[bytes, Terms] = {}
    created = chain.get_logs({"address": factory.address, "topics": [_CREATED_TOPIC, _address_topic(view.address)]}, to_block=to_block)
    packed = [bytes(factory.abi.events["AgreementCreated"].decode(log)["terms"]) for log in created]
    from_block = int(created[0]["blockNumber"]) if created else 0
    proposed = view.abi.events["AmendmentProposed"]
    for log in chain.get_logs({"address": view.address, "topics": ["0x" + proposed.topic.hex()]}, from_block=from_block, to_block=to_block):
        packed.append(bytes(proposed.decode(log)["terms"]))
    for data in packed:
        found[keccak(data)] = Terms.unpack(data, validate=False)
    return found


def read_version(
    chain: Chain, agreement: _HasAddress, version: int, *, block: int | str = "latest", from_events: dict[bytes, Terms] | None = None
) -> tuple[VersionView, str | None]:
    """Terms ``version`` from ``termsAt``, checked against its hash; the events' packed terms if the struct does not match.

    ``agreement``: anything with its ``address`` (a :class:`~settle.abi.ContractView`, a web3 contract). Returns the
    version and, when the events had to stand in, a warning saying so.
    """
    view = _agreement_view(chain, agreement)
    answer = chain.read(view.call("termsAt", version), block=block)
    return _checked_version(chain, view, version, answer, block=block, events=from_events)


def _checked_version(
    chain: Chain, agreement: ContractView, version: int, answer: Any, *, block: int | str, events: dict[bytes, Terms] | None
) -> tuple[VersionView, str | None]:
    """``termsAt(version)``'s ``answer`` as a version (see :func:`read_version`)."""
    raw, terms_hash, effective = answer
    terms_hash = bytes(terms_hash)
    terms = Terms.from_abi(raw)
    try:
        matches = terms.terms_hash() == terms_hash
    except ValidationError:
        matches = False
    warning = None
    if not matches:
        events = events if events is not None else packed_terms_from_events(chain, agreement, to_block=block)
        if terms_hash not in events:
            raise ChainError(
                f"termsAt({version}) of {agreement.address} returned terms that do not hash to its termsHash 0x{terms_hash.hex()}"
            )
        terms = events[terms_hash]
        warning = (
            f"termsAt({version}) returned terms that do not hash to its termsHash 0x{terms_hash.hex()[:12]}…; "
            "shown instead: the packed terms from the chain's events, which do"
        )
    return VersionView(version, terms, terms_hash, int(effective)), warning


def read_agreement(
    chain: Chain,
    address: str,
    *,
    period: int | None = None,
    recent: int = 12,
    block: int | None = None,
    deployments: Deployments | None = None,
) -> AgreementView:
    """Read the agreement at ``address`` at one block (default: the latest).

    Periods shown: ``period`` alone if given, else the ``recent`` latest up to the current one plus every earlier
    period that still has something open.
    """
    address = to_checksum_address(address)
    header = chain.block_header("latest" if block is None else block)
    at, timestamp = int(header["number"], 16), int(header["timestamp"], 16)
    if chain.code(address, at) in (b"", b"\x00"):
        if block is None:
            raise ConfigError(f"no contract at {address} on chain {chain.chain_id}: check the address and --network")
        raise ConfigError(f"no contract at {address} on chain {chain.chain_id} at block {at}: check the address, --network and --block")
    agreement = chain.view("IBillingAgreement", address)

    factory_address, parties, raw_status = chain.read_many(
        [agreement.call("factory"), agreement.call("parties"), agreement.call("status")], block=at, errors="return"
    )
    if isinstance(factory_address, ChainError):
        raise ConfigError(f"{address} does not answer as a Settle BillingAgreement (factory() failed)") from None
    if int(factory_address, 16) == 0:
        raise ConfigError(f"{address} is not an initialized Settle agreement (factory() is zero)")
    for answer in (parties, raw_status):
        if isinstance(answer, ChainError):
            raise chain.translate(answer)
    factory = chain.view("IAgreementFactory", factory_address)
    payer, payee = parties
    s = AgreementStatus.decode(raw_status)
    state, service, version, pending_version = s.state, s.service_status, s.version, s.pending_version
    current, cur_start, cur_end, next_settle = s.current_period, s.current_period_start, s.current_period_end, s.next_period_to_settle
    end_period, outstanding, epoch = s.end_period, s.outstanding, s.usage_epoch

    # Which periods to show: the recent ones (or the one asked for) are known now; earlier ones only if still open.
    last_period = current
    if end_period:
        last_period = min(last_period, end_period - 1)
    if period is not None:
        shown, earlier = [period], []
    else:
        first_recent = max(last_period - recent + 1, 0)
        shown, earlier = list(range(first_recent, last_period + 1)), list(range(0, first_recent))
        if next_settle > last_period and next_settle not in shown and (not end_period or next_settle < end_period):
            shown.append(next_settle)

    # One batch for the rest: every terms version (and a few numbers beyond, see below), who accepted the pending
    # one, the settlements of earlier periods, and the views of each period shown.
    in_force = version or 1
    highest = max(pending_version, in_force)
    calls = [agreement.call("termsAt", v) for v in range(1, highest + _VERSION_PROBES + 1)]
    accepted_at = len(calls)
    if pending_version:
        calls += [agreement.call("hasAccepted", party, pending_version) for party in (payer, payee)]
    earlier_at = len(calls)
    calls += [agreement.call("settlement", p) for p in earlier]
    periods_at = len(calls)
    calls += [agreement.call(name, p) for p in shown for name in _PERIOD_VIEWS]
    answers = chain.read_many(calls, block=at, errors="return")
    for answer in answers[:highest] + answers[accepted_at:]:
        if isinstance(answer, ChainError):
            raise chain.translate(answer)
    # Every proposal keeps its number (rejected and replaced ones too), so read up to the highest one proposed: the
    # pending one, or beyond the version in force until termsAt says the number is unknown.
    terms_at = answers[:accepted_at]
    while not isinstance(terms_at[-1], ChainError):
        more = range(len(terms_at) + 1, len(terms_at) + _VERSION_PROBES + 1)
        terms_at += chain.read_many([agreement.call("termsAt", v) for v in more], block=at, errors="return")
    known = next(i for i, answer in enumerate(terms_at) if isinstance(answer, ChainError))

    versions: list[VersionView] = []
    warnings: list[str] = []
    from_events: dict[bytes, Terms] | None = None
    for v in range(1, known + 1):
        found, warning = _checked_version(chain, agreement, v, terms_at[v - 1], block=at, events=from_events)
        if warning:
            warnings.append(warning)
            from_events = from_events or packed_terms_from_events(chain, agreement, to_block=at)
        if v == pending_version:
            version_state = "pending"
        elif v == in_force:
            version_state = "in force" if version else "pending"
        elif v == 1 or found.effective_from_period:
            version_state = "superseded" if v < in_force else "in force"
        else:
            version_state = "not accepted"
        versions.append(dataclasses.replace(found, pending=(v == pending_version), state=version_state))
    terms = {x.version: x for x in versions}[in_force].terms
    if pending_version:
        # Who still has to accept, from which period it would apply, and what it changes.
        pending = {x.version: x for x in versions}[pending_version]
        has_accepted = answers[accepted_at : accepted_at + 2]
        awaiting = tuple(party for party, done in zip((payer, payee), has_accepted, strict=True) if not done)
        applies_from = 0 if version == 0 else current + 1
        changes = () if version == 0 else tuple(terms_changes(terms, pending.terms))
        versions = [
            dataclasses.replace(x, awaiting=awaiting, applies_from=applies_from, changes=changes) if x.version == pending_version else x
            for x in versions
        ]

    history = _history(chain, agreement, factory, at, terms)

    views = dict(zip(shown, _chunks(answers[periods_at:], len(_PERIOD_VIEWS)), strict=True))
    earlier_open = [p for p, raw in zip(earlier, answers[earlier_at:periods_at], strict=True) if _is_open(raw)]
    if earlier_open:
        calls = [agreement.call(name, p) for p in earlier_open for name in _PERIOD_VIEWS]
        views.update(zip(earlier_open, _chunks(chain.read_many(calls, block=at), len(_PERIOD_VIEWS)), strict=True))
    terms_by_version = {v.version: v.terms for v in versions}
    periods = [_period(p, views[p], terms_by_version, in_force) for p in earlier_open + shown]
    # Net and VAT per settlement as the chain recorded them (SettlementTriggered), not recomputed.
    settled_split = {int(h.args["period"]): (int(h.args["net"]), int(h.args["vat"])) for h in history if h.event == "SettlementTriggered"}
    periods = [
        dataclasses.replace(p, settled_net=settled_split[p.period][0], settled_vat=settled_split[p.period][1])
        if p.settled and p.period in settled_split
        else p
        for p in periods
    ]

    view = AgreementView(
        address=address,
        chain_id=chain.chain_id,
        block=at,
        timestamp=timestamp,
        factory=to_checksum_address(factory_address),
        payer=payer,
        payee=payee,
        state=state,
        service_status=service,
        version=version,
        pending_version=pending_version,
        current_period=current,
        current_period_start=cur_start,
        current_period_end=cur_end,
        next_period_to_settle=next_settle,
        end_period=end_period,
        outstanding=outstanding,
        usage_epoch=epoch,
        terms=terms,
        versions=versions,
        history=history,
        periods=periods,
        warnings=warnings,
    )
    record = (deployments or Deployments(chain.chain_id)).agreements().get(address)
    if record:
        for party in ("payer", "payee"):
            info = record.get(party) or {}
            if info.get("name") and to_checksum_address(info.get("address", "0x" + "00" * 20)) == getattr(view, party):
                view.names[party] = info["name"]
        if record.get("name"):
            view.names["agreement"] = record["name"]
        view.meter_names = [m.get("name") for m in record.get("meters") or []]
        view.meter_units = [m.get("unit") for m in record.get("meters") or []]
    return view


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _is_open(raw: Any) -> bool:
    return SettlementView.decode(raw).open_amount > 0


def _period(p: int, answers: list[Any], terms_by_version: dict[int, Terms], fallback_version: int) -> PeriodView:
    """Period ``p`` from the answers of its :data:`_PERIOD_VIEWS`."""
    bounds, version_for, usage_of, preview, raw_settlement, due = answers
    start, end = (int(x) for x in bounds)
    version = int(version_for) or fallback_version
    usage = tuple(int(u) for u in usage_of)
    settlement = SettlementView.decode(raw_settlement)
    terms = terms_by_version.get(version) or terms_by_version[fallback_version]
    charge = period_charge(terms, list(usage), validate_terms=False)
    return PeriodView(
        period=p,
        start=start,
        end=end,
        version=version,
        usage=usage,
        charge=charge,
        preview_amount=int(preview),
        due_date=int(due),
        settled=settlement.settled,
        amount=settlement.amount,
        paid=settlement.paid,
        settled_at=settlement.settled_at,
        payment_status=settlement.status,
        settlement_version=settlement.terms_version,
        disputed=settlement.disputed,
    )


_EVENT_NAMES = (
    "TermsAccepted",
    "AgreementActivated",
    "AmendmentProposed",
    "AmendmentRejected",
    "TermsAmended",
    "AgreementPaused",
    "AgreementResumed",
    "TerminationScheduled",
    "ConsentGiven",
    "UsageReported",
    "UsageCorrected",
    "SettlementTriggered",
    "PaymentConfirmed",
    "TokenPullFailed",
    "PaymentReturned",
    "SettlementDisputed",
    "DisputeResolved",
    "SettlementWrittenOff",
    "ServiceStatusChanged",
)


def _history(chain: Chain, agreement: ContractView, factory: ContractView, to_block: int, terms: Terms) -> list[HistoryEntry]:
    """The agreement's events (and its AgreementCreated) in chain order, each with a one-line summary."""
    created = chain.get_logs({"address": factory.address, "topics": [_CREATED_TOPIC, _address_topic(agreement.address)]}, to_block=to_block)
    created_at = int(created[0]["blockNumber"]) if created else 0
    logs = chain.get_logs({"address": agreement.address}, from_block=created_at, to_block=to_block)
    creation = factory.abi.events["AgreementCreated"]
    decoded: list[tuple[Any, str, dict[str, Any]]] = [
        (log, "AgreementCreated", creation.decode(log)) for log in created if int(log["blockNumber"]) == created_at
    ]
    by_topic = {event.topic: event for name, event in agreement.abi.events.items() if name in _EVENT_NAMES}
    for log in logs:
        event = by_topic.get(bytes(log["topics"][0])) if log["topics"] else None
        if event is None:
            continue
        decoded.append((log, event.name, event.decode(log)))
    decoded.sort(key=lambda item: (int(item[0]["blockNumber"]), int(item[0]["logIndex"])))
    times = chain.block_times(int(log["blockNumber"]) for log, _, _ in decoded)
    return [
        HistoryEntry(
            block=int(log["blockNumber"]),
            timestamp=times[int(log["blockNumber"])],
            tx_hash="0x" + bytes(log["transactionHash"]).hex(),
            event=name,
            args=args,
            summary=_summary(name, args, terms),
        )
        for log, name, args in decoded
    ]


def _summary(name: str, a: dict[str, Any], terms: Terms) -> str:
    def money(x: int) -> str:
        return format_minor(int(x), terms.minor_digits, terms.currency)

    match name:
        case "AgreementCreated":
            return f"created between payer {a['payer']} and payee {a['payee']}, terms 0x{bytes(a['termsHash']).hex()[:12]}…"
        case "TermsAccepted":
            return f"{a['party']} accepted version {a['version']}"
        case "AgreementActivated":
            return "both parties accepted: active"
        case "AmendmentProposed":
            return f"{a['proposer']} proposed version {a['version']} (terms 0x{bytes(a['termsHash']).hex()[:12]}…)"
        case "AmendmentRejected":
            return f"{a['by']} rejected version {a['version']}"
        case "TermsAmended":
            return f"version {a['version']} in force from period {a['effectiveFromPeriod']}"
        case "AgreementPaused":
            return f"paused by {a['by']}"
        case "AgreementResumed":
            return f"resumed by {a['by']}"
        case "TerminationScheduled":
            reason = TerminationReason(int(a["reason"])).label
            if TerminationReason(int(a["reason"])) is TerminationReason.CANCELLED:
                return f"cancelled by {a['by']}"
            return f"ends before period {a['endPeriod']} ({reason.replace('_', ' ')}, by {a['by']})"
        case "ConsentGiven":
            return f"{a['party']} consented to action 0x{bytes(a['action']).hex()[:12]}…"
        case "UsageReported":
            return f"period {a['period']} meter {a['meter']}: usage {a['previous']} → {a['cumulative']}"
        case "UsageCorrected":
            return (
                f"period {a['period']} meter {a['meter']}: corrected {a['previous']} → {a['corrected']} ({a['reason']}); "
                f"usage epoch now {a['epoch']}"
            )
        case "SettlementTriggered":
            split = f" ({money(a['net'])} net + {money(a['vat'])} VAT)" if int(a["vat"]) else ""
            return f"period {a['period']} settled for {money(a['amount'])}{split}, due {format_timestamp(int(a['dueDate']))}"
        case "PaymentConfirmed":
            return f"period {a['period']}: payment of {money(a['amount'])}"
        case "TokenPullFailed":
            return f"period {a['period']}: pulling {money(a['amount'])} from the payer failed"
        case "PaymentReturned":
            code = bytes(a["reasonCode"]).decode("ascii", "replace").strip("\0")
            return f"period {a['period']}: {money(a['amount'])} returned ({code})"
        case "SettlementDisputed":
            return f"period {a['period']}: {money(a['amount'])} disputed by {a['by']}"
        case "DisputeResolved":
            how = "by both parties" if int(a["arbiter"], 16) == 0 else f"decided by arbiter {a['arbiter']}"
            return f"period {a['period']}: dispute resolved {how} at {money(a['agreedAmount'])} (was {money(a['previousAmount'])})"
        case "SettlementWrittenOff":
            return f"period {a['period']}: {money(a['writtenOff'])} written off"
        case "ServiceStatusChanged":
            return f"service {ServiceStatus(a['previous']).label} → {ServiceStatus(a['status']).label}"
    return name


# -- listing ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgreementListing:
    """One agreement of a party, from the factory's AgreementCreated events."""

    agreement: str
    role: str
    counterparty: str
    state: AgreementState
    terms_hash: str
    block: int
    created_at: int
    name: str | None = None
    #: What is open on all its settlements, in minor units of ``currency`` (``digits`` minor digits).
    outstanding: int = 0
    currency: str = ""
    digits: int = 0
    #: Due date of the next settlement to come (the next period to settle), if the agreement still bills.
    next_due: int | None = None

    def money(self, minor: int) -> str:
        return format_minor(minor, self.digits, self.currency)

    def to_json(self) -> dict[str, Any]:
        return {
            "agreement": self.agreement,
            "role": self.role,
            "counterparty": self.counterparty,
            "state": self.state.label,
            "terms_hash": self.terms_hash,
            "created": {"block": self.block, "utc": format_timestamp(self.created_at)},
            "name": self.name,
            "outstanding": {
                "minor_units": self.outstanding,
                "value": format_minor(self.outstanding, self.digits),
                "currency": self.currency,
            },
            "next_due": None if self.next_due is None else {"unix": self.next_due, "utc": format_timestamp(self.next_due)},
        }


def list_agreements(
    chain: Chain, factory_address: str, party: str, *, from_block: int = 0, deployments: Deployments | None = None
) -> list[AgreementListing]:
    """Agreements where ``party`` is payer or payee, from ``eth_getLogs`` on the indexed topics of AgreementCreated;
    each agreement's figures read at the same block, in two batches for all of them."""
    party = to_checksum_address(party)
    factory = chain.view("IAgreementFactory", factory_address)
    at = chain.head()
    party_topic = _address_topic(party)
    logs = []
    for topics in ([_CREATED_TOPIC, None, party_topic], [_CREATED_TOPIC, None, None, party_topic]):
        logs.extend(chain.get_logs({"address": factory.address, "topics": topics}, from_block=from_block, to_block=at))
    created: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for log in sorted(logs, key=lambda item: (int(item["blockNumber"]), int(item["logIndex"]))):
        args = factory.abi.events["AgreementCreated"].decode(log)
        created.setdefault(to_checksum_address(args["agreement"]), (log, args))
    agreements = {address: chain.view("IBillingAgreement", address) for address in created}
    answers = iter(chain.read_many([a.call(name) for a in agreements.values() for name in ("state", "status", "terms")], block=at))
    read = {address: (AgreementState(int(next(answers))), AgreementStatus.decode(next(answers)), next(answers)) for address in agreements}
    billing = [
        address
        for address, (state, status, _) in read.items()
        if state in (AgreementState.ACTIVE, AgreementState.PAUSED)
        and (not status.end_period or status.next_period_to_settle < status.end_period)
    ]
    dues = chain.read_many([agreements[a].call("dueDate", read[a][1].next_period_to_settle) for a in billing], block=at)
    due = dict(zip(billing, (int(d) for d in dues), strict=True))
    times = chain.block_times(int(log["blockNumber"]) for log, _ in created.values())
    records = (deployments or Deployments(chain.chain_id)).agreements()
    out = []
    for address, (log, args) in created.items():
        state, status, (raw_terms, _version) = read[address]
        terms = Terms.from_abi(raw_terms)
        role = "payer" if to_checksum_address(args["payer"]) == party else "payee"
        counterparty = to_checksum_address(args["payee"] if role == "payer" else args["payer"])
        block = int(log["blockNumber"])
        out.append(
            AgreementListing(
                agreement=address,
                role=role,
                counterparty=counterparty,
                state=state,
                terms_hash="0x" + bytes(args["termsHash"]).hex(),
                block=block,
                created_at=times[block],
                name=(records.get(address) or {}).get("name"),
                outstanding=status.outstanding,
                currency=terms.currency,
                digits=terms.minor_digits,
                next_due=due.get(address),
            )
        )
    return out

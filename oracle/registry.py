"""What the oracle knows about agreements and senders: sources and their API keys, agreements (with the parts of
their terms the checks need), ERP references and meter names, kept in SQL and loaded into memory for ingest.

Every change bumps the ``registry`` counter in the same transaction; ingest reloads its snapshot when the
counter moved, so a mapping added with the CLI applies to the next chunk of a running oracle.
"""

from __future__ import annotations

import difflib
import re
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, delete, select, update
from sqlalchemy.orm import Session

from oracle.models import Agreement, ApiKey, Counter, Meter, Pause, Reference, Source
from oracle.snapshot import STILL_PAUSED, AgreementInfo, MeterInfo, Registry
from settle.auth import principal, tokens
from settle.auth.principal import Principal
from settle.calendar import IntervalKind, Schedule
from settle.chaintypes import AgreementState
from settle.errors import ConfigError, ValidationError

_SOURCE_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_ADDRESS = re.compile(r"0[xX][0-9a-fA-F]{40}")
AGREEMENT_STATES = tuple(s.name.capitalize() for s in AgreementState)
#: The start of API keys made before the shared token model (``stl_``): they are still accepted.
KEY_PREFIX = "so_"


class MappingError(ConfigError):
    """A source, agreement, reference or meter mapping is missing, duplicated or invalid."""


class AuthError(ConfigError):
    """An API key is missing, unknown, revoked, or lacks the role for the call."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def bump_registry(session: Session) -> None:
    counter = session.get(Counter, "registry")
    if counter is None:
        session.add(Counter(name="registry", value=1))
    else:
        counter.value += 1


def registry_version(conn: Connection) -> int:
    # driver SQL: read on every ingest batch, so without building and compiling a statement each time
    value = conn.exec_driver_sql("SELECT value FROM oracle_counters WHERE name = 'registry'").scalar()
    return int(value or 0)


def load_registry(conn: Connection) -> Registry:
    """The mappings as they are in the database now."""
    reg = Registry(version=registry_version(conn))
    for sid, name in conn.execute(select(Source.id, Source.name)):
        reg.sources[name] = sid
        reg.source_names[sid] = name
    for a in conn.execute(select(Agreement)).all():
        info = AgreementInfo(
            id=a.id,
            address=a.address,
            label=a.label,
            schedule=Schedule(a.start, IntervalKind(a.interval_kind), a.interval),
            end=a.end,
            grace=a.grace_seconds,
            state=a.state,
            next_settle=a.next_period_to_settle,
            meter_count=a.meter_count,
        )
        reg.agreements[a.id] = info
        reg.by_address[a.address.lower()] = info
    pauses: dict[int, list[tuple[int, int]]] = {}
    for agreement_id, paused_at, resumed_at in conn.execute(
        select(Pause.agreement_id, Pause.paused_at, Pause.resumed_at).order_by(Pause.agreement_id, Pause.paused_at)
    ):
        pauses.setdefault(agreement_id, []).append((paused_at, STILL_PAUSED if resumed_at is None else resumed_at))
    for agreement_id, spans in pauses.items():
        if agreement_id in reg.agreements:
            reg.agreements[agreement_id].pauses = tuple(spans)
    for m in conn.execute(select(Meter)).all():
        owner = reg.agreements.get(m.agreement_id)
        if owner is not None:
            mi = MeterInfo(m.meter, m.name, m.unit, m.decimals)
            owner.meters_by_name[m.name] = mi
            owner.meters_by_index[m.meter] = mi
    for scope, ref, agreement_id in conn.execute(select(Reference.scope, Reference.ref, Reference.agreement_id)):
        reg.refs[(scope, ref)] = agreement_id
    return reg


# -- management ---------------------------------------------------------------------------------------------------


def checksum(address: str) -> str:
    from eth_utils import to_checksum_address

    if not _ADDRESS.fullmatch(address):
        raise MappingError(f"{address!r} is not an address (0x and 40 hex digits)")
    return str(to_checksum_address(address))


def get_source(session: Session, name: str, *, create: bool = False) -> Source:
    source = session.execute(select(Source).where(Source.name == name)).scalar_one_or_none()
    if source is None:
        if not create:
            known = [n for (n,) in session.execute(select(Source.name))]
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise MappingError(f"unknown source '{name}': create it with 'settle oracle source add {name}'.{hint}")
        if not _SOURCE_NAME.fullmatch(name):
            raise MappingError(f"source name {name!r}: use 1-64 lower-case letters, digits, '.', '_' or '-'")
        source = Source(name=name, created_at=utcnow())
        session.add(source)
        session.flush()
        bump_registry(session)
    return source


def hash_key(key: str) -> str:
    return tokens.hash_token(key)


#: Scopes an oracle key may carry: ``usage`` (deliver usage for its source; read that source's quarantine and
#: proofs), ``read`` (read its source's quarantine and proofs, deliver nothing: an auditing or reconciliation system
#: of the ERP), ``operator`` (everything, bound to no source). The oracle knows agreements by address but not their
#: payer and payee, so a party-bound ``read`` token (the gateway's sense) has nothing to check against here: oracle
#: keys are bound to a source, and a party downloads proofs through the source that delivered its records.
ORACLE_SCOPES = ("usage", "read", "operator")
SOURCE_SCOPES = frozenset({"usage", "read"})


def key_scopes(values: list[str] | tuple[str, ...] | None, *, operator: bool) -> frozenset[str]:
    """The scopes of a new key (default: ``usage`` for a source's key, ``operator`` for an operator's), checked."""
    if not values:
        return frozenset({"operator"}) if operator else frozenset({"usage"})
    scopes = tokens.parse_scopes(values)
    unknown = scopes - set(ORACLE_SCOPES)
    if unknown:
        raise MappingError(f"scope {', '.join(sorted(unknown))} is not one of the oracle's ({', '.join(ORACLE_SCOPES)})")
    if operator and scopes != {"operator"}:
        raise MappingError("an operator key has the scope operator only (it may do everything)")
    if not operator and "operator" in scopes:
        raise MappingError("a source's key cannot have the scope operator: create an operator key with --operator")
    return scopes


def create_api_key(
    session: Session,
    *,
    source: str | None = None,
    operator: bool = False,
    label: str = "",
    scopes: list[str] | tuple[str, ...] | None = None,
    expires_at: datetime | None = None,
) -> str:
    """A new API token (``stl_…``, returned once, stored only as its SHA-256): bound to ``source`` (scopes
    ``usage`` and/or ``read``, default ``usage``), or an operator's; optionally expiring at ``expires_at``."""
    if operator == (source is not None):
        raise MappingError("an API key is either for one source (ingest) or for an operator")
    granted = key_scopes(scopes, operator=operator)
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise MappingError("an expiry needs a time zone (e.g. 2027-06-30T00:00:00Z)")
        if expires_at <= utcnow():
            raise MappingError(f"expiry {expires_at.isoformat()} is in the past")
    source_row = get_source(session, source) if source is not None else None
    key = tokens.new_token(tokens.API)
    session.add(
        ApiKey(
            key_hash=hash_key(key),
            prefix=tokens.prefix(key),
            role="operator" if operator else "ingest",
            source_id=source_row.id if source_row else None,
            label=label,
            created_at=utcnow(),
            scopes=",".join(sorted(granted)),
            expires_at=expires_at,
        )
    )
    return key


def _as_utc(value: datetime | str | None) -> datetime | None:
    """A stored time as an aware UTC datetime (SQLite's driver hands back text or naive values)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _stored_scopes(scopes: str | None, role: str) -> frozenset[str]:
    found = frozenset(s for s in (scopes or "").split(",") if s)
    if found:
        return found
    # a row written by a version before 0006's backfill (or by hand): its role said what it may do
    return frozenset({"operator"}) if role == "operator" else frozenset({"usage"})


def principal_of(role: str, source: str | None, label: str, prefix: str, scopes: str | None) -> Principal:
    """The :class:`settle.auth.principal.Principal` of a key: an operator key → OPERATOR; a source's key → a
    MACHINE with its scopes and ``source`` (bound to no party: see :data:`ORACLE_SCOPES`). ``subject`` is the
    key's label (it names who decided in quarantine decisions, as before), else ``token:<prefix>``."""
    granted = _stored_scopes(scopes, role)
    return principal.for_token(label or f"token:{prefix}", None, granted if source is not None else granted & {"operator"}, source=source)


def _refuse(key: str | None) -> str:
    if not key:
        raise AuthError("missing API key: send it as 'Authorization: Bearer <key>' or 'X-API-Key'")
    kind = tokens.kind_of(key)
    if kind is not None and kind != tokens.API:
        what = "a web session token" if kind == tokens.SESSION else "an invitation token"
        raise AuthError(f"{what} ({kind}…) is not an API key: the oracle takes API tokens (stl_…) only")
    return key


def _check_row(revoked_at: object, expires_at: datetime | str | None) -> None:
    if revoked_at is not None:
        raise AuthError("unknown or revoked API key")
    expiry = _as_utc(expires_at)
    if expiry is not None and expiry <= utcnow():
        raise AuthError(f"API key expired at {expiry.isoformat()}: create a new one")


def authenticate(session: Session, key: str | None) -> Principal:
    key = _refuse(key)
    row = session.execute(select(ApiKey).where(ApiKey.key_hash == hash_key(key))).scalar_one_or_none()
    if row is None:
        raise AuthError("unknown or revoked API key")
    _check_row(row.revoked_at, row.expires_at)
    source = session.get_one(Source, row.source_id).name if row.source_id is not None else None
    return principal_of(row.role, source, row.label, row.prefix, row.scopes)


def authenticate_key(engine: Engine, key: str | None) -> Principal:
    """``authenticate`` for every HTTP request: one read on a pooled driver connection, outside any transaction
    (SQLite: no write lock is taken, so a request does not wait for another one's ingest to commit)."""
    key = _refuse(key)
    p = "?" if engine.dialect.name == "sqlite" else "%s"
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(
            "SELECT k.role, s.name, k.label, k.revoked_at, k.expires_at, k.prefix, k.scopes FROM oracle_api_keys k "
            f"LEFT JOIN oracle_sources s ON s.id = k.source_id WHERE k.key_hash = {p}",
            (hash_key(key),),
        )
        row = cursor.fetchone()
        cursor.close()
        raw.rollback()
    finally:
        raw.close()
    if row is None:
        raise AuthError("unknown or revoked API key")
    _check_row(row[3], row[4])
    return principal_of(row[0], row[1], row[2], row[5], row[6])


def revoke_api_key(session: Session, prefix: str) -> int:
    """Revoke the active keys that start with ``prefix`` (as ``settle oracle key list`` shows it: 12 characters of
    an ``stl_`` token, 10 of an old ``so_`` key; a longer start, or the whole key, also matches)."""
    if len(prefix) < 8:
        raise MappingError(f"prefix {prefix!r}: give at least the first 8 characters of the key")
    rows = session.execute(select(ApiKey).where(ApiKey.revoked_at.is_(None))).scalars().all()
    hits = [row for row in rows if prefix.startswith(row.prefix) or row.prefix.startswith(prefix)]
    for row in hits:
        row.revoked_at = utcnow()
    return len(hits)


def list_api_keys(session: Session) -> list[dict[str, object]]:
    """Every key by its prefix (never the key), with source, scopes, expiry and revocation."""
    out: list[dict[str, object]] = []
    for row in session.execute(select(ApiKey).order_by(ApiKey.id)).scalars():
        source = session.get_one(Source, row.source_id).name if row.source_id is not None else None
        out.append(
            {
                "prefix": row.prefix,
                "label": row.label,
                "source": source,
                "scopes": sorted(_stored_scopes(row.scopes, row.role)),
                "created_at": _as_utc(row.created_at),
                "expires_at": _as_utc(row.expires_at),
                "revoked_at": _as_utc(row.revoked_at),
            }
        )
    return out


def upsert_agreement(
    session: Session,
    address: str,
    *,
    start: int,
    interval_kind: int,
    interval: int,
    grace_seconds: int,
    meter_count: int,
    end: int = 0,
    state: int = 1,
    next_period_to_settle: int = 0,
    label: str | None = None,
    synced: bool = False,
) -> Agreement:
    """Register an agreement or refresh what the oracle knows of it (from the chain, or given in tests)."""
    address = checksum(address)
    Schedule(start, IntervalKind(interval_kind), interval)  # validates kind and interval
    row = session.execute(select(Agreement).where(Agreement.address == address)).scalar_one_or_none()
    if row is None:
        row = Agreement(address=address, label=label or "")
        session.add(row)
    elif label is not None:
        row.label = label
    row.start, row.interval_kind, row.interval, row.end = start, int(interval_kind), interval, end
    row.grace_seconds, row.meter_count, row.state, row.next_period_to_settle = grace_seconds, meter_count, state, next_period_to_settle
    if synced:
        row.synced_at = utcnow()
    session.flush()
    bump_registry(session)
    return row


def find_agreement(session: Session, ref: str, scope: str = "") -> Agreement:
    """An agreement by address or ERP reference."""
    if _ADDRESS.fullmatch(ref):
        row = session.execute(select(Agreement).where(Agreement.address == checksum(ref))).scalar_one_or_none()
        if row is None:
            raise MappingError(f"agreement {checksum(ref)} is not registered: add it with 'settle oracle map agreement {ref}'")
        return row
    for s in (scope, ""):
        agreement_id = session.execute(select(Reference.agreement_id).where(Reference.scope == s, Reference.ref == ref)).scalar()
        if agreement_id is not None:
            return session.get_one(Agreement, agreement_id)
    raise MappingError(f"no agreement is mapped to reference '{ref}'")


def set_meter(session: Session, agreement: str, index: int, *, name: str, unit: str, decimals: int = 0) -> Meter:
    """Map ERP meter ``name`` (with its unit and decimals) to meter ``index`` of an agreement."""
    row = find_agreement(session, agreement)
    if not 0 <= index < row.meter_count:
        raise MappingError(
            f"meter {index} does not exist on {row.address}: its terms have {row.meter_count} meter(s) (0 to {row.meter_count - 1})"
        )
    if not name or len(name) > 100 or not unit or len(unit) > 32:
        raise MappingError("meter name (1-100 characters) and unit (1-32 characters) are required")
    if not 0 <= decimals <= 18:
        raise MappingError(f"decimals {decimals}: choose 0 to 18")
    clash = session.execute(
        select(Meter).where(Meter.agreement_id == row.id, Meter.name == name, Meter.meter != index)
    ).scalar_one_or_none()
    if clash is not None:
        raise MappingError(f"meter name '{name}' is already used for meter {clash.meter} of {row.address}")
    meter = session.execute(select(Meter).where(Meter.agreement_id == row.id, Meter.meter == index)).scalar_one_or_none()
    if meter is None:
        meter = Meter(agreement_id=row.id, meter=index, name=name, unit=unit, decimals=decimals)
        session.add(meter)
    else:
        meter.name, meter.unit, meter.decimals = name, unit, decimals
    session.flush()
    bump_registry(session)
    return meter


def meters_from_spec(session: Session, agreement: str, spec_meters: list[dict[str, object]]) -> list[str]:
    """Map an agreement's meters by the names and units of its spec (``deployments/<chain-id>.json`` keeps them for
    every agreement ``settle agreement create`` made), with 0 decimals: each meter not mapped yet. Returns what was
    done, a line per meter."""
    row = find_agreement(session, agreement)
    mapped = {m.meter: m for m in session.execute(select(Meter).where(Meter.agreement_id == row.id)).scalars()}
    said = []
    for index in range(row.meter_count):
        spec = spec_meters[index] if index < len(spec_meters) else {}
        name, unit = spec.get("name"), spec.get("unit")
        if index in mapped:
            m = mapped[index]
            said.append(f"meter {index}: {m.name} [{m.unit}, {m.decimals} decimals] (mapped already)")
        elif isinstance(name, str) and name and isinstance(unit, str) and unit:
            set_meter(session, row.address, index, name=name, unit=unit)
            said.append(f"meter {index}: {name} [{unit}] (from the agreement's spec)")
        else:
            missing = "no name and no unit" if not name and not unit else ("no unit" if name else "no name")
            said.append(
                f"meter {index}: its spec gives {missing}: map it with "
                f"'settle oracle map meter {row.address} {index} --name {name or 'NAME'} --unit {unit or 'UNIT'}'"
            )
    return said


def add_reference(session: Session, ref: str, agreement: str, *, scope: str = "") -> Reference:
    """Map an ERP customer/contract reference to an agreement (for one source, or for all with scope '')."""
    if not ref or len(ref) > 200 or _ADDRESS.fullmatch(ref):
        raise MappingError(f"reference {ref!r}: 1-200 characters, and not an address")
    if scope:
        get_source(session, scope)
    row = find_agreement(session, agreement)
    existing = session.execute(select(Reference).where(Reference.scope == scope, Reference.ref == ref)).scalar_one_or_none()
    if existing is not None and existing.agreement_id != row.id:
        other = session.get_one(Agreement, existing.agreement_id)
        raise MappingError(f"reference '{ref}' already maps to {other.address}: remove it first")
    if existing is None:
        existing = Reference(scope=scope, ref=ref, agreement_id=row.id)
        session.add(existing)
    session.flush()
    bump_registry(session)
    return existing


def remove_reference(session: Session, ref: str, *, scope: str = "") -> None:
    result = session.execute(delete(Reference).where(Reference.scope == scope, Reference.ref == ref))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise MappingError(f"no reference '{ref}'" + (f" for source {scope}" if scope else ""))
    bump_registry(session)


def set_settled(session: Session, address: str, next_period_to_settle: int, state: int | None = None) -> None:
    values: dict[str, int] = {"next_period_to_settle": next_period_to_settle}
    if state is not None:
        values["state"] = state
    session.execute(update(Agreement).where(Agreement.address == checksum(address)).values(**values))
    bump_registry(session)


def describe(session: Session) -> list[dict[str, object]]:
    """Agreements with their references and meters, for 'settle oracle map list'."""
    out = []
    refs: dict[int, list[str]] = {}
    for scope, ref, agreement_id in session.execute(select(Reference.scope, Reference.ref, Reference.agreement_id)):
        refs.setdefault(agreement_id, []).append(f"{scope}:{ref}" if scope else ref)
    meters: dict[int, list[dict[str, object]]] = {}
    for m in session.execute(select(Meter).order_by(Meter.agreement_id, Meter.meter)).scalars():
        meters.setdefault(m.agreement_id, []).append({"index": m.meter, "name": m.name, "unit": m.unit, "decimals": m.decimals})
    for a in session.execute(select(Agreement).order_by(Agreement.id)).scalars():
        out.append(
            {
                "address": a.address,
                "label": a.label,
                "state": AGREEMENT_STATES[a.state] if 0 <= a.state < len(AGREEMENT_STATES) else str(a.state),
                "next_period_to_settle": a.next_period_to_settle,
                "references": sorted(refs.get(a.id, [])),
                "meters": meters.get(a.id, []),
            }
        )
    return out


def require_source(registry: Registry, name: str) -> int:
    try:
        return registry.sources[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(registry.sources), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ValidationError(f"unknown source '{name}': create it with 'settle oracle source add {name}'.{hint}") from None

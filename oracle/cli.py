"""``settle oracle …``: ingest usage, manage sources, keys and mappings, handle quarantine, cut and submit reports,
prove records, show status, and run everything together (``settle oracle run``).

Errors reach the ``settle`` entry point's one error boundary (``settle.cli.boundary``); :data:`app` runs inside it
on its own too (tests, ``python -c "from oracle.cli import app; app()"``)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from settle.cli.boundary import GuardedGroup
from settle.errors import ConfigError, ValidationError
from settle.logs import configure_logging

if TYPE_CHECKING:  # each command imports what it needs: ``settle oracle --help`` loads no database or chain code
    from oracle import ingest as ingest_mod
    from oracle.ingest import Pipeline
    from oracle.service import Oracle

app = typer.Typer(
    cls=GuardedGroup, help="Usage oracle: ingest ERP usage, check it, and report it on-chain with Merkle proofs.", no_args_is_help=True
)
source_app = typer.Typer(help="ERP sources (record ids are unique per source).", no_args_is_help=True)
key_app = typer.Typer(help="API keys (shown once, stored hashed).", no_args_is_help=True)
map_app = typer.Typer(help="Mappings: agreements, ERP references and meter names.", no_args_is_help=True)
q_app = typer.Typer(help="Quarantine: list, release, reject.", no_args_is_help=True)
app.add_typer(source_app, name="source")
app.add_typer(key_app, name="key")
app.add_typer(map_app, name="map")
app.add_typer(q_app, name="quarantine")

DbOpt = Annotated[
    str | None, typer.Option("--database", help="Database URL (default: SETTLE_ORACLE_DATABASE_URL, SETTLE_DATABASE_URL or SQLite).")
]
NetOpt = Annotated[str | None, typer.Option("--network", "-n", help="Network name from networks.yaml, or an RPC URL.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


RelayDevOpt = Annotated[
    int | None,
    typer.Option("--relay-dev-account", help="Send reports (and pay gas) from anvil's dev account N; the signer only signs them."),
]
RelayKeystoreOpt = Annotated[
    str | None,
    typer.Option(
        "--relay-keystore",
        help="Relayer keystore that sends reports signed by the oracle signer (password: SETTLE_RELAY_KEYSTORE_PASSWORD).",
    ),
]


def _oracle(database: str | None = None, network: str | None = None, **overrides: Any) -> Oracle:
    from oracle.config import load_settings
    from oracle.service import Oracle

    return Oracle(load_settings(**overrides), database_url=database, network_name=network)


def _in_range(option: str, value: int | None, setting: str) -> None:
    """Refuse a command-line value outside the range its setting allows, naming the option (the bounds are the
    setting's own, from ``OracleSettings``)."""
    if value is None:
        return
    from oracle.config import OracleSettings

    bounds = OracleSettings.model_fields[setting].metadata
    low = next(b.ge for b in bounds if hasattr(b, "ge"))
    high = next(b.le for b in bounds if hasattr(b, "le"))
    if not low <= value <= high:
        raise ValidationError(f"{option} {value} is out of range: choose {low} to {high}")


def _pipeline(oracle: Oracle) -> Pipeline:
    """The ingest pipeline, saying on stderr which clock judges the records (chain time or the system clock)."""
    pipeline = oracle.pipeline()
    if oracle.clock_in_use:
        typer.echo(f"clock: {oracle.clock_in_use}", err=True)
    return pipeline


def _print(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


# -- sources and keys -------------------------------------------------------------------------------------------


@source_app.command("add")
def source_add(name: str, database: DbOpt = None) -> None:
    """Register an ERP source."""
    from oracle import registry
    from settle.db import transaction

    with transaction(_oracle(database).factory) as s:
        registry.get_source(s, name, create=True)
    typer.echo(f"source {name} added; create its API key with 'settle oracle key create --source {name}'")


@source_app.command("list")
def source_list(database: DbOpt = None) -> None:
    """List sources."""
    oracle = _oracle(database)
    for name in sorted(oracle.pipeline().registry.sources):
        typer.echo(name)


def _expiry(value: str | None) -> Any:
    """``--expires``: an RFC 3339 time (``2027-06-30T00:00:00Z``), a date (midnight UTC) or a duration from now
    (``90d``, ``12h``)."""
    import re
    from datetime import UTC, datetime, timedelta

    if value is None:
        return None
    text = value.strip()
    duration = re.fullmatch(r"(\d+)\s*([dh])", text)
    if duration:
        amount = int(duration.group(1))
        return datetime.now(UTC) + (timedelta(days=amount) if duration.group(2) == "d" else timedelta(hours=amount))
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            f"--expires {value!r}: give a date (2027-06-30), a time with offset (2027-06-30T00:00:00Z) or 90d / 12h"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


@key_app.command("create")
def key_create(
    source: Annotated[str | None, typer.Option("--source", help="Key of this ERP source.")] = None,
    operator: Annotated[str | None, typer.Option("--operator", help="Operator key, labelled with this name.")] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope", help="usage (deliver usage; default for a source), read (its quarantine and proofs only); repeat or comma-separate."
        ),
    ] = None,
    expires: Annotated[
        str | None, typer.Option("--expires", help="Expiry: 2027-06-30, 2027-06-30T12:00:00Z or 90d / 12h from now.")
    ] = None,
    label: Annotated[str | None, typer.Option("--label", help="Name of the key (default: the source's or operator's name).")] = None,
    database: DbOpt = None,
) -> None:
    """Create an API token (stl_…); it is printed once and stored only as its SHA-256."""
    from oracle import registry
    from settle.db import transaction

    expires_at = _expiry(expires)
    with transaction(_oracle(database).factory) as s:
        key = registry.create_api_key(
            s, source=source, operator=operator is not None, label=label or operator or source or "", scopes=scope, expires_at=expires_at
        )
    typer.echo(key)
    typer.echo("store it now: it cannot be shown again", err=True)


@key_app.command("list")
def key_list(json_out: Annotated[bool, typer.Option("--json")] = False, database: DbOpt = None) -> None:
    """List API keys by prefix, with source, scopes, expiry and revocation (never the key)."""
    from oracle import registry
    from settle.db import transaction

    with transaction(_oracle(database).factory) as s:
        keys = registry.list_api_keys(s)
    if json_out:
        typer.echo(json.dumps(keys, indent=2, default=str))
        return
    for k in keys:
        state = f"revoked {k['revoked_at']}" if k["revoked_at"] else (f"expires {k['expires_at']}" if k["expires_at"] else "no expiry")
        owner = f"source {k['source']}" if k["source"] else "operator"
        typer.echo(f"{k['prefix']}  {owner}  {','.join(k['scopes'])}  {k['label']}  {state}")  # type: ignore[arg-type]


@key_app.command("revoke")
def key_revoke(
    prefix: Annotated[str, typer.Argument(help="The key's prefix as 'key list' shows it (or more of the key).")], database: DbOpt = None
) -> None:
    """Revoke API keys by prefix."""
    from oracle import registry
    from settle.db import transaction

    with transaction(_oracle(database).factory) as s:
        n = registry.revoke_api_key(s, prefix)
    if not n:
        raise ConfigError(f"no active key starts with {prefix!r}")
    typer.echo(f"revoked {n} key(s)")


# -- mappings -----------------------------------------------------------------------------------------------------


@map_app.command("agreement")
def map_agreement(
    address: str,
    ref: Annotated[list[str] | None, typer.Option("--ref", help="ERP customer/contract reference(s) for it.")] = None,
    label: Annotated[str | None, typer.Option("--label")] = None,
    database: DbOpt = None,
    network: NetOpt = None,
) -> None:
    """Register an agreement: its terms and status are read from the chain, its meters' names and units from its
    spec (as recorded in deployments/<chain-id>.json when it was created)."""
    from oracle import registry
    from oracle.chainsync import register
    from settle.db import transaction
    from settle.deployments import Deployments

    oracle = _oracle(database, network)
    chain = oracle.chain()
    with transaction(oracle.factory) as s:
        row = register(s, chain, address, label=label)
        for r in ref or []:
            registry.add_reference(s, r, row.address)
        record = Deployments(chain.chain_id)
        spec = record.agreements().get(row.address)
        meters = registry.meters_from_spec(s, row.address, list(spec.get("meters") or [])) if spec else []
    typer.echo(f"agreement {row.address}: {row.meter_count} meter(s), next period to settle {row.next_period_to_settle}")
    if spec is None:
        typer.echo(f"  no spec of it in {record.path}: map its meters with 'settle oracle map meter {row.address} INDEX --name N --unit U'")
    for line in meters:
        typer.echo(f"  {line}")


@map_app.command("meter")
def map_meter(
    agreement: Annotated[str, typer.Argument(help="Agreement address or ERP reference.")],
    index: Annotated[int, typer.Argument(help="Meter index in the terms (0-based).")],
    name: Annotated[str, typer.Option("--name", help="ERP meter name.")],
    unit: Annotated[str, typer.Option("--unit", help="Unit the ERP sends (must match exactly).")],
    decimals: Annotated[int, typer.Option("--decimals", help="Decimals of a quantity: on-chain units = quantity × 10^decimals.")] = 0,
    database: DbOpt = None,
) -> None:
    """Map an ERP meter name (with unit and decimals) to a meter of an agreement (or change the mapping 'map agreement'
    took from the agreement's spec)."""
    from oracle import registry
    from settle.db import transaction

    with transaction(_oracle(database).factory) as s:
        registry.set_meter(s, agreement, index, name=name, unit=unit, decimals=decimals)
    typer.echo(f"meter {index} of {agreement} is '{name}' in {unit} ({decimals} decimals)")


@map_app.command("ref")
def map_ref(
    ref: str,
    agreement: str,
    source: Annotated[str, typer.Option("--source", help="Only for this source (default: all sources).")] = "",
    database: DbOpt = None,
) -> None:
    """Map an ERP customer/contract reference to an agreement."""
    from oracle import registry
    from settle.db import transaction

    with transaction(_oracle(database).factory) as s:
        registry.add_reference(s, ref, agreement, scope=source)
    typer.echo(f"{ref} → {agreement}")


@map_app.command("unref")
def map_unref(ref: str, source: Annotated[str, typer.Option("--source")] = "", database: DbOpt = None) -> None:
    """Remove an ERP reference."""
    from oracle import registry
    from settle.db import transaction

    with transaction(_oracle(database).factory) as s:
        registry.remove_reference(s, ref, scope=source)
    typer.echo(f"removed {ref}")


@map_app.command("list")
def map_list(database: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Agreements with their references and meters."""
    from oracle import registry

    with _oracle(database).factory() as s:
        data = registry.describe(s)
    if as_json:
        _print(data)
        return
    for a in data:
        typer.echo(f"{a['address']} {a['state']} next-to-settle {a['next_period_to_settle']} refs {', '.join(a['references']) or '-'}")  # type: ignore[arg-type]
        for m in a["meters"]:  # type: ignore[attr-defined]
            typer.echo(f"  meter {m['index']}: {m['name']} [{m['unit']}, {m['decimals']} decimals]")


@map_app.command("sync")
def map_sync(database: DbOpt = None, network: NetOpt = None) -> None:
    """Re-read every registered agreement from the chain."""
    from oracle.chainsync import sync_all

    oracle = _oracle(database, network)
    typer.echo(f"{sync_all(oracle.factory, oracle.chain())} agreement(s) changed")


# -- ingest -------------------------------------------------------------------------------------------------------


@app.command("ingest")
def ingest(
    file: Annotated[str, typer.Argument(help="A CSV or JSONL file, or '-' for standard input.")],
    source: Annotated[str, typer.Option("--source", "-s", help="The ERP source the records come from.")],
    fmt: Annotated[str | None, typer.Option("--format", help="csv or jsonl (default: from the file name; required for '-').")] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Also write the full outcome as JSON here.")] = None,
    database: DbOpt = None,
    network: NetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ingest a file (streamed, bounded memory, progress on stderr) through the same checks as the HTTP API."""
    oracle = _oracle(database, network)
    pipeline = _pipeline(oracle)
    show_progress = sys.stderr.isatty()

    def progress(r: ingest_mod.IngestResult) -> None:
        if show_progress:
            typer.echo(f"\r{r.items:,} records, {r.accepted:,} accepted, {r.bytes_read / 1e6:,.1f} MB read", err=True, nl=False)

    if file == "-":
        if fmt is None:
            raise ConfigError("reading standard input needs --format csv or --format jsonl")
        result = pipeline.ingest_stream(source, sys.stdin.buffer, fmt, max_issues=10_000, progress=progress)
    else:
        path = Path(file)
        if not path.is_file():
            raise ConfigError(f"{file}: no such file")
        result = pipeline.ingest_file(source, path, fmt=fmt, kind="cli", progress=progress)
    if show_progress:
        typer.echo("", err=True)
    data = result.as_dict()
    if report is not None:
        report.write_text(json.dumps(data, indent=1, default=str))
    if as_json:
        _print(data)
        return
    c = result.counts()
    rate = f", {result.items / result.seconds:,.0f} records/s" if result.seconds else ""
    typer.echo(
        f"{result.items:,} records: {c['accepted']:,} accepted, {c['duplicate']:,} duplicate, "
        f"{c['quarantined']:,} quarantined, {c['rejected']:,} rejected{rate}"
    )
    for issue in result.issues[:50]:
        where = f"line {issue.line}: " if issue.line is not None else ""
        typer.echo(f"  {issue.status} {issue.record_id or '?'}: {where}{issue.reason}")
    if len(result.issues) > 50 or result.issues_dropped:
        typer.echo(f"  … {len(result.issues) - 50 + result.issues_dropped} more (use --report FILE or --json)")


# -- quarantine ------------------------------------------------------------------------------------------------


@q_app.command("list")
def q_list(
    source: Annotated[str | None, typer.Option("--source")] = None,
    code: Annotated[str | None, typer.Option("--code", help="Only this reason code (outlier, unknown_agreement, late_settled …).")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 100,
    database: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Records held in quarantine, with the reason."""
    from oracle import quarantine

    entries = quarantine.list_entries(_oracle(database).engine, source=source, code=code, limit=limit)
    if as_json:
        _print(entries)
        return
    if not entries:
        typer.echo("quarantine is empty")
    for e in entries:
        r = e["record"]
        typer.echo(
            f"{e['source']}:{e['record_id']} {r['quantity']} {r['unit']} of {r['meter']} on {r['agreement']} at {r['occurred_at']} "
            f"(held since {e['held_since']}) [{e['code']}] {e['reason']}"
        )


@q_app.command("release")
def q_release(
    source: str,
    record_ids: Annotated[list[str], typer.Argument(help="Record ids to release.")],
    next_period: Annotated[bool, typer.Option("--next-period", help="Count a late record in the first open period.")] = False,
    note: Annotated[str, typer.Option("--note")] = "",
    database: DbOpt = None,
    network: NetOpt = None,
) -> None:
    """Check records again and count them (an outlier release confirms the quantity)."""
    from oracle import quarantine

    pipeline = _pipeline(_oracle(database, network))
    for rid in record_ids:
        out = quarantine.release(pipeline, source, rid, next_period=next_period, by="cli", note=note)
        typer.echo(f"{rid}: accepted into period {out['period']} of {out['agreement']}")


@q_app.command("reject")
def q_reject(
    source: str,
    record_ids: Annotated[list[str], typer.Argument(help="Record ids to reject.")],
    note: Annotated[str, typer.Option("--note", help="Why.")] = "",
    database: DbOpt = None,
) -> None:
    """Reject records for good (their ids stay taken)."""
    from oracle import quarantine

    pipeline = _oracle(database).pipeline()
    for rid in record_ids:
        quarantine.reject(pipeline, source, rid, by="cli", note=note)
        typer.echo(f"{rid}: rejected")


# -- reports --------------------------------------------------------------------------------------------------


@app.command("cut")
def cut(
    force: Annotated[bool, typer.Option("--force", help="Cut every open report now.")] = False,
    database: DbOpt = None,
    network: NetOpt = None,
) -> None:
    """Cut due reports (by size, age or grace deadline) into Merkle trees."""
    from oracle.reports import cut_reports

    oracle = _oracle(database, network)
    done = cut_reports(oracle.engine, oracle.settings, _pipeline(oracle).clock.now(), force=force)
    typer.echo(f"cut {len(done)} report(s) with {sum(r.records for r in done):,} record(s)")


@app.command("submit")
def submit(
    once: Annotated[bool, typer.Option("--once", help="Stop when nothing is left to send or confirm.")] = False,
    dev_account: Annotated[int | None, typer.Option("--dev-account", help="Sign with anvil's dev account N (dev chains only).")] = None,
    keystore: Annotated[
        str | None, typer.Option("--keystore", help="Keystore file (password: SETTLE_KEYSTORE_PASSWORD or prompt).")
    ] = None,
    relay_dev_account: RelayDevOpt = None,
    relay_keystore: RelayKeystoreOpt = None,
    database: DbOpt = None,
    network: NetOpt = None,
) -> None:
    """Run the submitter alone: cut, sign, send, confirm (crash-safe; see docs/oracle.md)."""
    configure_logging()
    oracle = _oracle(
        database,
        network,
        dev_account=dev_account,
        keystore=keystore,
        relay_dev_account=relay_dev_account,
        relay_keystore=relay_keystore,
    )
    oracle.submitter().run(once=once)


# -- corrections ----------------------------------------------------------------------------------------------

ActorOpt = Annotated[str | None, typer.Option("--actor", help="Who makes the correction (default: the operating-system user).")]
OracleDevOpt = Annotated[int | None, typer.Option("--dev-account", help="The oracle key is anvil's dev account N (dev chains only).")]
OracleKeystoreOpt = Annotated[str | None, typer.Option("--keystore", help="The oracle key's keystore (only its address is read).")]


def _actor(actor: str | None) -> str:
    import getpass

    if actor is not None:
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (a container)
        return "unknown"


def _show_corrections(applied: list[Any], as_json: bool) -> None:
    if as_json:
        _print([a.as_dict() for a in applied])
        return
    for a in applied:
        typer.echo(
            f"correction {a.correction}: {a.agreement} period {a.period}: {a.voided} voided, {a.added} added, "
            f"{a.records:,} record(s) remain, root 0x{a.root.hex()}"
        )
        for m in a.meters:
            change = f"{m['before']} → {m['after']}"
            typer.echo(f"  meter {m['meter']}: {change}" + ("  (correctUsage queued)" if m["sent"] else ""))
    typer.echo("the submitter sends the corrections ('settle oracle run' or 'settle oracle submit --once')")


@app.command("void")
def void_cmd(
    record_ids: Annotated[list[str], typer.Argument(help="Record ids to void.")],
    source: Annotated[str, typer.Option("--source", "-s", help="The source the records came from.")],
    reason: Annotated[str, typer.Option("--reason", help="Why: kept with every record, and on-chain in UsageCorrected.")],
    actor: ActorOpt = None,
    dev_account: OracleDevOpt = None,
    keystore: OracleKeystoreOpt = None,
    database: DbOpt = None,
    network: NetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Void accepted records of periods not settled yet: the oracle corrects the totals on-chain (correctUsage)."""
    from oracle import corrections

    oracle = _oracle(database, network, dev_account=dev_account, keystore=keystore)
    pipeline = _pipeline(oracle)
    plan = corrections.plan_void(pipeline, source, record_ids, reason)
    signer = oracle.oracle_address()
    gate = corrections.ChainGate(oracle.chain(), signer)
    applied = corrections.apply(pipeline, plan, actor=_actor(actor), signer=signer, gate=gate, reason=reason)
    _show_corrections(applied, as_json)


@app.command("correct")
def correct_cmd(
    source: Annotated[str, typer.Option("--source", "-s", help="The source whose records are corrected.")],
    file: Annotated[Path, typer.Option("--file", help="Corrections: CSV (or JSONL) with replaces, reason and the record fields.")],
    fmt: Annotated[str | None, typer.Option("--format", help="csv or jsonl (default: from the file name).")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="The reason on-chain (default: the rows' reasons).")] = None,
    actor: ActorOpt = None,
    dev_account: OracleDevOpt = None,
    keystore: OracleKeystoreOpt = None,
    database: DbOpt = None,
    network: NetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Replace, add or void records of periods not settled yet from a file; the totals are corrected on-chain."""
    import hashlib

    from oracle import corrections
    from oracle.records import detect_format

    if not file.is_file():
        raise ConfigError(f"{file}: no such file")
    data = file.read_bytes()
    rows = corrections.read_rows(io.BytesIO(data), fmt or detect_format(file.name))
    oracle = _oracle(database, network, dev_account=dev_account, keystore=keystore)
    pipeline = _pipeline(oracle)
    plan = corrections.plan_correct(pipeline, source, rows, pipeline.clock.now())
    signer = oracle.oracle_address()
    gate = corrections.ChainGate(oracle.chain(), signer)
    applied = corrections.apply(
        pipeline,
        plan,
        actor=_actor(actor),
        signer=signer,
        gate=gate,
        reason=reason,
        file_name=file.name,
        sha256=hashlib.sha256(data).hexdigest(),
    )
    _show_corrections(applied, as_json)


@app.command("corrections")
def corrections_cmd(
    agreement: Annotated[str | None, typer.Option("--agreement", help="Only this agreement (address).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
    database: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every correction, newest first: who, when, why, what it voided and added, and its transactions."""
    from oracle import corrections

    with _oracle(database).engine.connect() as conn:
        data = corrections.history(conn, agreement=agreement, limit=limit)
    if as_json:
        _print(data)
        return
    if not data:
        typer.echo("no corrections")
    for c in data:
        typer.echo(
            f"correction {c['correction']} [{c['status']}] {c['agreement']} period {c['period']}: {c['action']} by {c['actor']} "
            f"(oracle {c['signer']}) at {c['created_at']}: {c['reason']}"
        )
        for v in c["voided"]:
            replaced = f", replaced by {v['replaced_by']}" if v["replaced_by"] else ""
            undone = " (undone: the chain refused the correction)" if v["undone"] else ""
            typer.echo(f"  voided {v['source']}:{v['record_id']}: {v['reason']}{replaced}{undone}")
        if c["added"]:
            typer.echo(f"  added {c['added']} record(s)")
        for t in c["totals"]:
            typer.echo(f"  meter {t['meter']}: {t['before']} → {t['after']}")
        for t in c["transactions"]:
            typer.echo(
                f"  correctUsage meter {t['meter']} = {t['corrected']}: {t['status']} {t['tx_hash'] or ''} {t['error'] or ''}".rstrip()
            )
        if c["error"]:
            typer.echo(f"  {c['error']}")


@app.command("prove")
def prove_cmd(
    record_id: str,
    source: Annotated[str, typer.Option("--source", "-s")],
    database: DbOpt = None,
    network: NetOpt = None,
    offline: Annotated[bool, typer.Option("--offline", help="Check against the stored root only.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """The inclusion proof of a record, checked against the root in the chain's UsageReported event."""
    from oracle.proofs import VoidedRecordError, prove

    oracle = _oracle(database, network)
    try:
        data = prove(oracle.engine, None if offline else oracle.rpc(), source, record_id)
    except VoidedRecordError as exc:
        if as_json:
            _print({"source": source, "record_id": record_id, "voided": exc.void, "verified": False, "message": str(exc)})
        else:
            typer.echo(str(exc))
        raise typer.Exit(3) from None
    if as_json:
        _print(data)
    else:
        typer.echo(f"record {source}:{record_id} → leaf {data['leaf']}")
        if data["covered_by"] == "correction":
            typer.echo(f"correction {data['correction']} ({data['report_status']}), root {data['root']}, {data['leaf_count']} leaves")
        else:
            typer.echo(f"report {data['report_id']} ({data['report_status']}), root {data['root']}, {data['leaf_count']} leaves")
        for i, node in enumerate(data["proof"]):
            typer.echo(f"  proof[{i}] {node}")
        typer.echo(
            f"on-chain root {data['onchain_root'] or '-'}: {'VERIFIED' if data['verified'] else 'NOT verified'}"
            + (f" ({data['note']})" if data.get("note") else "")
        )
    if not data["verified"] and not offline:
        raise typer.Exit(2)


@app.command("status")
def status_cmd(database: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Backlog, quarantine, paused agreements, held reports and the last confirmed report per agreement."""
    from oracle.status import status

    data = status(_oracle(database).engine)
    if as_json:
        _print(data)
        return
    typer.echo(f"agreements: {data['agreements']}")
    backlog = data["backlog"]
    typer.echo("backlog: " + (", ".join(f"{k} {v['reports']} report(s)/{v['records']:,} record(s)" for k, v in backlog.items()) or "none"))
    typer.echo(f"confirmed: {data['confirmed']['reports']} report(s), {data['confirmed']['records']:,} record(s)")
    typer.echo("quarantine: " + (", ".join(f"{k} {v}" for k, v in data["quarantine"].items()) or "empty"))
    if data["corrections"]:
        typer.echo("corrections: " + ", ".join(f"{k} {v}" for k, v in sorted(data["corrections"].items())))
    for f in data["failed"]:
        what = "correction" if f["kind"] == "correction" else "report"
        typer.echo(f"FAILED {what} {f['report']} {f['agreement']} period {f['period']}: {f['error']}")
    for w in data["waiting"]:
        why = w["error"] or "waiting for inclusion"
        typer.echo(f"WAITING report {w['report']} {w['agreement']} period {w['period']} ({w['reprices']} fee bump(s)): {why}")
    for p in data["paused"]:
        since = f"since {p['since']}" if p["since"] else "since before the oracle registered it"
        typer.echo(f"PAUSED {p['agreement']} {since}" + (f" by {p['by']}" if p["by"] else "") + ": records from then on are held")
    for h in data["held"]:
        typer.echo(f"HELD report {h['report']} {h['agreement']} period {h['period']} ({h['records']:,} record(s)): {h['reason']}")
    for last in data["last_confirmed"]:
        typer.echo(f"{last['agreement']}: period {last['period']} report #{last['seq']} block {last['block']} tx {last['tx_hash']}")


@app.command("run")
def run_cmd(
    host: Annotated[str | None, typer.Option("--host", help="Address the HTTP API listens on (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port of the HTTP API (default 8600).")] = None,
    inbox: Annotated[Path | None, typer.Option("--inbox", help="Watched folder (<inbox>/<source>/*.csv|jsonl).")] = None,
    dev_account: Annotated[int | None, typer.Option("--dev-account", help="Sign with anvil's dev account N (dev chains only).")] = None,
    keystore: Annotated[str | None, typer.Option("--keystore")] = None,
    no_submit: Annotated[bool, typer.Option("--no-submit", help="Ingest only (no chain needed).")] = False,
    relay_dev_account: RelayDevOpt = None,
    relay_keystore: RelayKeystoreOpt = None,
    api_workers: Annotated[
        int | None, typer.Option("--api-workers", help="HTTP API processes, 1 to 64 (default 1; one per CPU for heavy HTTP ingest).")
    ] = None,
    database: DbOpt = None,
    network: NetOpt = None,
) -> None:
    """HTTP API, folder watcher and submitter together, with structured (JSON lines) logs on stderr."""
    from oracle.service import run

    _in_range("--api-workers", api_workers, "api_workers")
    configure_logging()
    oracle = _oracle(
        database,
        network,
        host=host,
        port=port,
        inbox=inbox,
        dev_account=dev_account,
        keystore=keystore,
        relay_dev_account=relay_dev_account,
        relay_keystore=relay_keystore,
        api_workers=api_workers,
    )
    run(oracle, submit=not no_submit, sync=not no_submit)


@app.command("init")
def init(database: DbOpt = None) -> None:
    """Create or upgrade the oracle's tables."""
    oracle = _oracle(database)
    typer.echo(f"oracle database ready: {oracle.engine.url.render_as_string(hide_password=True)}")

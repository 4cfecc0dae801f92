"""``settle agreement …``: write and check specs, deploy the factory, create, accept, amend, pause, terminate, roles,
and disputes (dispute, resolve, decide, write-off).

Every command that sends a transaction takes ``--network`` (a name from networks.yaml or an RPC URL),
``--dry-run`` (print the decoded call and its gas estimate, send nothing), and a signer: ``--keystore FILE``
(password from ``SETTLE_KEYSTORE_PASSWORD`` or a prompt) or ``--dev-account N`` on a development chain.
The scripts in ``scripts/`` run these same commands (:func:`settle_cli.scripts.run_script`). Each command imports
what it needs when it runs: loading this group stays cheap (``settle agreement --help``, ``validate``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from settle.errors import ConfigError

if TYPE_CHECKING:
    from settle import operator

app = typer.Typer(
    help="Agreements: check a spec, deploy the factory, create, accept, amend, pause, terminate, manage roles; disputes.",
    no_args_is_help=True,
)

NetworkOpt = Annotated[
    str | None,
    typer.Option("--network", "-n", help="Network name from networks.yaml, or an RPC URL (default: SETTLE_NETWORK or anvil)."),
]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Print the decoded call and its gas estimate; send nothing.")]
KeystoreOpt = Annotated[
    Path | None,
    typer.Option("--keystore", help="Encrypted key file (password from SETTLE_KEYSTORE_PASSWORD or a prompt).", dir_okay=False),
]
DevAccountOpt = Annotated[int | None, typer.Option("--dev-account", help="Use anvil's public dev account N (dev chains only).", min=0)]
FactoryOpt = Annotated[str | None, typer.Option("--factory", help="Factory address (default: the one in deployments/<chain-id>.json).")]
AgreementArg = Annotated[str, typer.Argument(help="Agreement address, or its name or reference in deployments/<chain-id>.json.")]
SpecArg = Annotated[Path, typer.Argument(help="Agreement spec (YAML), see docs/agreement-spec.md.", dir_okay=False)]


def _session(network: str | None, keystore: Path | None, dev_account: int | None, dry_run: bool = False) -> operator.Session:
    from settle import operator

    return operator.Session.open(network, keystore=keystore, dev_account=dev_account, dry_run=dry_run, say=typer.echo)


# -- specs -------------------------------------------------------------------------------------------------------------


@app.command("validate")
def validate_command(
    spec: SpecArg,
    network: Annotated[
        str | None, typer.Option("--network", "-n", help="Resolve token symbols on this network's deployment record.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the terms as JSON.")] = False,
) -> dict[str, Any]:
    """Check a spec without sending anything: print the on-chain terms it becomes and their hash."""
    from settle.spec import load_spec, terms_document

    loaded = load_spec(spec)
    resolver = None
    if network is not None:
        from settle import operator

        resolver = operator.Session.open(network, need_signer=False, say=typer.echo).token_resolver()
    terms = loaded.to_terms(resolver)
    dunning = loaded.dunning_policy()  # an unknown policy name fails here, with the known ones
    shown_terms = terms_document(terms)
    document = {
        "name": loaded.name,
        "reference": loaded.reference,
        "payer": loaded.parties.payer.address,
        "payee": loaded.parties.payee.address,
        "salt": "0x" + loaded.salt().hex(),
        "terms_hash": "0x" + terms.terms_hash().hex(),
        "packed_terms": "0x" + terms.pack().hex(),
        "terms": shown_terms,
        "dunning": dunning.document() if dunning is not None else None,
    }
    if as_json:
        typer.echo(json.dumps(document, indent=2))
    else:
        typer.echo(f"{spec}: valid")
        typer.echo(f"  payer {loaded.parties.payer.address} ({loaded.parties.payer.name})")
        typer.echo(f"  payee {loaded.parties.payee.address} ({loaded.parties.payee.name})")
        typer.echo(f"  terms hash {document['terms_hash']} ({len(terms.pack())} bytes packed)")
        for key, value in shown_terms.items():
            if key == "meters":
                for i, (meter, named) in enumerate(zip(value, loaded.meters, strict=True)):
                    typer.echo(f"  meters[{i}] {named.name}: {json.dumps(meter)}")
            else:
                typer.echo(f"  {key}: {json.dumps(value) if isinstance(value, dict) else value}")
        if dunning is None:
            typer.echo("  dunning: none given (the gateway's default policy applies) — off-chain")
        else:
            steps = "; ".join(f"{lv.name} at {lv.days} days: {', '.join(lv.actions)}" for lv in dunning.levels)
            typer.echo(f"  dunning: {dunning.name} — {steps} (off-chain)")
    return document


@app.command("schema")
def schema_command(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
    check: Annotated[bool, typer.Option("--check", help="Fail if --output differs from the current schema (for CI).")] = False,
) -> None:
    """Print the JSON Schema of agreement specs (published as docs/agreement-spec.schema.json)."""
    from settle.spec import json_schema

    text = json_schema()
    if output is None:
        typer.echo(text, nl=False)
        return
    if check:
        if not output.is_file() or output.read_text() != text:
            raise ConfigError(f"{output} is stale: regenerate it with 'settle agreement schema --output {output}'")
        typer.echo(f"{output} is current")
        return
    output.write_text(text)
    typer.echo(f"wrote {output}")


# -- factory and roles -------------------------------------------------------------------------------------------------


@app.command("deploy-factory")
def deploy_factory_command(
    network: NetworkOpt = None,
    keystore: KeystoreOpt = None,
    dev_account: DevAccountOpt = None,
    dry_run: DryRunOpt = False,
    admin: Annotated[str | None, typer.Option("--admin", help="Holder of the admin role (default: the sender).")] = None,
    operators: Annotated[
        list[str] | None, typer.Option("--operator", help="Grant the operator role to this account (default: the sender).")
    ] = None,
    with_test_token: Annotated[
        bool, typer.Option("--with-test-token", help="Dev chains: also deploy TestToken EURT and allow-list it.")
    ] = False,
) -> dict[str, Any]:
    """Deploy AgreementFactory (with its BillingAgreement implementation) and record it in deployments/<chain-id>.json."""
    from settle import operator

    session = _session(network, keystore, dev_account, dry_run)
    outcome = operator.deploy_factory(session, admin=admin, operators=operators, with_test_token=with_test_token)
    return outcome.result


@app.command("allow-token")
def allow_token_command(
    token: Annotated[str, typer.Argument(help="Token address, or its symbol in deployments/<chain-id>.json.")],
    network: NetworkOpt = None,
    keystore: KeystoreOpt = None,
    dev_account: DevAccountOpt = None,
    dry_run: DryRunOpt = False,
    disallow: Annotated[bool, typer.Option("--disallow", help="Remove the token from the allow-list.")] = False,
    factory: FactoryOpt = None,
) -> None:
    """Allow (or disallow) agreements paid in an ERC-20 token. Admin only."""
    from settle import operator

    operator.allow_token(_session(network, keystore, dev_account, dry_run), token, allowed=not disallow, factory=factory)


RoleArg = Annotated[str, typer.Argument(help="admin, operator, oracle or gateway.")]
AccountArg = Annotated[str, typer.Argument(help="Account address.")]


@app.command("grant-role")
def grant_role_command(
    role: RoleArg,
    account: AccountArg,
    network: NetworkOpt = None,
    keystore: KeystoreOpt = None,
    dev_account: DevAccountOpt = None,
    dry_run: DryRunOpt = False,
    factory: FactoryOpt = None,
) -> None:
    """Grant a factory role to an account. Admin only."""
    from settle import operator

    operator.grant_role(_session(network, keystore, dev_account, dry_run), role, account, factory=factory)


@app.command("revoke-role")
def revoke_role_command(
    role: RoleArg,
    account: AccountArg,
    network: NetworkOpt = None,
    keystore: KeystoreOpt = None,
    dev_account: DevAccountOpt = None,
    dry_run: DryRunOpt = False,
    factory: FactoryOpt = None,
) -> None:
    """Revoke a factory role from an account (an oracle signer stops at once). Admin only."""
    from settle import operator

    operator.revoke_role(_session(network, keystore, dev_account, dry_run), role, account, factory=factory)


# -- agreements --------------------------------------------------------------------------------------------------------


@app.command("create")
def create_command(
    spec: SpecArg,
    network: NetworkOpt = None,
    keystore: KeystoreOpt = None,
    dev_account: DevAccountOpt = None,
    dry_run: DryRunOpt = False,
    factory: FactoryOpt = None,
) -> dict[str, Any]:
    """Create the agreement a spec describes (state Proposed). Operator only."""
    from settle import operator
    from settle.spec import load_spec

    loaded = load_spec(spec)  # an invalid spec fails here, before any connection
    loaded.dunning_policy()  # so does a dunning policy name nobody knows
    session = _session(network, keystore, dev_account, dry_run)
    return operator.create_agreement(session, loaded, factory=factory, spec_path=str(spec)).result


@app.command("accept")
def accept_command(
    agreement: AgreementArg,
    network: NetworkOpt = None,
    keystore: KeystoreOpt = None,
    dev_account: DevAccountOpt = None,
    dry_run: DryRunOpt = False,
    spec: Annotated[Path | None, typer.Option("--spec", help="Accept only if the pending terms equal this spec's.", dir_okay=False)] = None,
    terms_hash: Annotated[str | None, typer.Option("--terms-hash", help="Accept only if the pending terms have this hash.")] = None,
    sign_to: Annotated[
        Path | None, typer.Option("--sign-to", help="Do not send: write an EIP-712 signed acceptance to this file for the other side.")
    ] = None,
    valid_for: Annotated[
        str | None, typer.Option("--valid-for", help="With --sign-to: validity, e.g. '7d' (default) or an ISO date.")
    ] = None,
    signature_file: Annotated[
        Path | None, typer.Option("--signature-file", help="Submit a party's signed acceptance written with --sign-to.", dir_okay=False)
    ] = None,
) -> dict[str, Any]:
    """Accept the pending terms (version 1, or a proposed amendment) as payer or payee."""
    from settle import operator
    from settle.spec import load_spec

    loaded = load_spec(spec) if spec is not None else None
    if sign_to is not None and signature_file is not None:
        raise ConfigError("--sign-to writes a signature and --signature-file submits one: choose one")
    session = _session(network, keystore, dev_account, dry_run)
    if sign_to is not None:
        deadline = operator.deadline_from(session, valid_for)
        return operator.sign_acceptance(session, agreement, sign_to, deadline=deadline, spec=loaded, terms_hash=terms_hash)
    if signature_file is not None:
        return operator.submit_signature(session, signature_file, agreement=agreement).result
    return operator.accept(session, agreement, spec=loaded, terms_hash=terms_hash).result


@app.command("amend")
def amend_command(
    agreement: AgreementArg,
    spec: SpecArg,
    network: NetworkOpt = None,
    keystore: KeystoreOpt = None,
    dev_account: DevAccountOpt = None,
    dry_run: DryRunOpt = False,
) -> dict[str, Any]:
    """Propose new terms from a spec (payer, payee or operator); they apply from the next period once both parties accept."""
    from settle import operator
    from settle.spec import load_spec

    loaded = load_spec(spec)
    return operator.amend(_session(network, keystore, dev_account, dry_run), agreement, loaded).result


@app.command("reject-amendment")
def reject_amendment_command(
    agreement: AgreementArg,
    network: NetworkOpt = None,
    keystore: KeystoreOpt = None,
    dev_account: DevAccountOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Drop the pending amendment (payer, payee or operator)."""
    from settle import operator

    operator.reject_amendment(_session(network, keystore, dev_account, dry_run), agreement)


@app.command("pause")
def pause_command(
    agreement: AgreementArg,
    network: NetworkOpt = None,
    keystore: KeystoreOpt = None,
    dev_account: DevAccountOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Pause an active agreement: no usage reports, no settlement (payee or operator)."""
    from settle import operator

    operator.pause(_session(network, keystore, dev_account, dry_run), agreement)


@app.command("resume")
def resume_command(
    agreement: AgreementArg,
    network: NetworkOpt = None,
    keystore: KeystoreOpt = None,
    dev_account: DevAccountOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Resume a paused agreement (payee or operator)."""
    from settle import operator

    operator.resume(_session(network, keystore, dev_account, dry_run), agreement)


@app.command("terminate")
def terminate_command(
    agreement: AgreementArg,
    network: NetworkOpt = None,
    keystore: KeystoreOpt = None,
    dev_account: DevAccountOpt = None,
    dry_run: DryRunOpt = False,
    notice: Annotated[
        bool, typer.Option("--notice", help="Give notice (payer or payee): ends with the period the notice expires in.")
    ] = False,
    consent: Annotated[
        int | None, typer.Option("--consent", metavar="END_PERIOD", help="Consent to end before this period; both parties must.", min=1)
    ] = None,
    cancel: Annotated[bool, typer.Option("--cancel", help="Withdraw an agreement not yet accepted by both (parties or operator).")] = False,
) -> dict[str, Any]:
    """End an agreement: by notice, by both parties' consent, or cancel it before it is active."""
    from settle import operator

    session = _session(network, keystore, dev_account, dry_run)
    return operator.terminate(session, agreement, notice=notice, consent_end_period=consent, cancel=cancel).result


# -- disputes ----------------------------------------------------------------------------------------------------------

PeriodArg = Annotated[int, typer.Argument(help="The settled period (0 is the first).", min=0, max=2**32 - 1)]
NoteOpt = Annotated[
    str | None,
    typer.Option(
        "--note",
        "--reason",
        help="A text that goes with it: kept off-chain (your record, the gateway), its keccak256 hash rides in the transaction.",
    ),
]


@app.command("dispute")
def dispute_command(
    agreement: AgreementArg,
    period: PeriodArg,
    amount: Annotated[str, typer.Option("--amount", help="The disputed part, in the agreement's currency (e.g. '40.00').")],
    reason: Annotated[
        str, typer.Option("--reason", help="Why: kept off-chain (your record, the gateway); keccak256 of the text goes on-chain.")
    ],
    network: NetworkOpt = None,
    keystore: KeystoreOpt = None,
    dev_account: DevAccountOpt = None,
    dry_run: DryRunOpt = False,
) -> dict[str, Any]:
    """Dispute part of a settlement (payer, within the dispute window); the rest stays due."""
    from settle import operator

    session = _session(network, keystore, dev_account, dry_run)
    return operator.dispute(session, agreement, period, amount=amount, reason=reason).result


@app.command("resolve")
def resolve_command(
    agreement: AgreementArg,
    period: PeriodArg,
    amount: Annotated[str, typer.Option("--amount", help="The amount both parties agree the period costs (e.g. '35.00').")],
    note: NoteOpt = None,
    network: NetworkOpt = None,
    keystore: KeystoreOpt = None,
    dev_account: DevAccountOpt = None,
    dry_run: DryRunOpt = False,
) -> dict[str, Any]:
    """Consent to end a dispute at an amount (payer or payee); it takes effect when both consented to the same."""
    from settle import operator

    session = _session(network, keystore, dev_account, dry_run)
    return operator.resolve_dispute(session, agreement, period, amount=amount, note=note).result


@app.command("decide")
def decide_command(
    agreement: AgreementArg,
    period: PeriodArg,
    amount: Annotated[str, typer.Option("--amount", help="The amount the period costs, between the undisputed part and the billed.")],
    note: NoteOpt = None,
    network: NetworkOpt = None,
    keystore: KeystoreOpt = None,
    dev_account: DevAccountOpt = None,
    dry_run: DryRunOpt = False,
) -> dict[str, Any]:
    """Decide a dispute the parties did not resolve (the terms' arbiter, or an operator), once the window has closed."""
    from settle import operator

    session = _session(network, keystore, dev_account, dry_run)
    return operator.decide_dispute(session, agreement, period, amount=amount, note=note).result


@app.command("write-off")
def write_off_command(
    agreement: AgreementArg,
    period: PeriodArg,
    note: NoteOpt = None,
    network: NetworkOpt = None,
    keystore: KeystoreOpt = None,
    dev_account: DevAccountOpt = None,
    dry_run: DryRunOpt = False,
) -> dict[str, Any]:
    """Consent to write off what is open on a settlement (payer or payee); it takes effect when both consented."""
    from settle import operator

    session = _session(network, keystore, dev_account, dry_run)
    return operator.write_off(session, agreement, period, note=note).result


@app.command("register-note")
def register_note_command(
    records: Annotated[list[Path], typer.Argument(help="Records written by dispute, resolve, decide or write-off.", dir_okay=False)],
    network: NetworkOpt = None,
) -> None:
    """Hand the texts of recorded dispute actions to the gateway (SETTLE_GATEWAY_API_URL or its database), which
    keeps each one after finding its hash in the transaction."""
    from settle import operator

    session = operator.Session.open(network, need_signer=False, say=typer.echo)
    failed = [str(path) for path in records if not operator.register_record(session, path)["registered"]]
    if failed:
        raise ConfigError(f"the gateway did not take {len(failed)} of {len(records)} text(s): {', '.join(failed)}")

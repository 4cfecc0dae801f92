"""`settle status` and `settle agreements` against an agreement with usage, one settled-and-paid period, one
settled-and-unpaid period, a running period and an amendment: every printed figure equals the contract's views."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from eth_utils import keccak
from operator_support import (
    GATEWAY,
    OPERATOR,
    ORACLE,
    PAYEE,
    PAYER,
    STRANGER,
    active,
    chain_now,
    cli_env,
    create_agreement,
    deployments_dir,
    factory,
    make_spec,
    operator_session,
    proposed,
    sessions,
    settle_cli,
)

from settle.money import format_minor
from settle.operator import accept, amend, grant_role
from settle.status import AgreementState, PaymentStatus, list_agreements, read_agreement
from settle.toolchain import npm_tool

__all__ = ["active", "cli_env", "deployments_dir", "factory", "operator_session", "proposed", "sessions"]

USAGE = {0: [(0, 2_500), (1, 40)], 1: [(0, 500), (1, 10)], 2: [(0, 12_000), (1, 3)]}


@dataclass
class Billed:
    address: str
    amounts: dict[int, int]


@pytest.fixture()
def billed(chain, sessions, active) -> Billed:
    """Usage in periods 0-2; period 0 settled and paid, period 1 settled and unpaid, period 2 running; an amendment
    (minimum 20.00 EUR from period 3) accepted by both."""
    accounts = chain.dev_accounts(6)
    grant_role(sessions[OPERATOR], "oracle", accounts[ORACLE].address)
    grant_role(sessions[OPERATOR], "gateway", accounts[GATEWAY].address)
    agreement = chain.contract("IBillingAgreement", active)
    for period, usages in USAGE.items():
        report = agreement.functions.reportUsage(period, keccak(text=f"report-{period}"), keccak(text=f"root-{period}"), 0, usages)
        chain.transact(report, accounts[ORACLE])
    amounts = {}
    for period in (0, 1):
        chain.transact(agreement.functions.settle(period), accounts[STRANGER])
        amounts[period] = chain.call(agreement.functions.settlement(period))[0]
    chain.transact(agreement.functions.confirmPayment(0, amounts[0], keccak(text="BANKREF-0001")), accounts[GATEWAY])
    start = int(chain.call(agreement.functions.periodBounds(0))[0])
    amend(sessions[PAYER], active, make_spec(start, minimum_commitment="20.00"))
    accept(sessions[PAYEE], active)
    return Billed(active, amounts)


def views(chain, address: str, period: int) -> dict:
    agreement = chain.contract("IBillingAgreement", address)
    amount, paid, settled_at, status, version, _disputed = chain.call(agreement.functions.settlement(period))
    start, end = chain.call(agreement.functions.periodBounds(period))
    return {
        "usage": list(chain.call(agreement.functions.usageOf(period))),
        "preview": chain.call(agreement.functions.previewAmount(period)),
        "amount": amount,
        "paid": paid,
        "status": PaymentStatus(status),
        "due": chain.call(agreement.functions.dueDate(period)),
        "start": start,
        "end": end,
        "version": chain.call(agreement.functions.versionForPeriod(period)),
    }


def test_read_agreement_equals_the_contract_views(chain, billed):
    view = read_agreement(chain, billed.address)
    agreement = chain.contract("IBillingAgreement", billed.address)
    status = chain.call(agreement.functions.status())
    assert view.state is AgreementState.ACTIVE and view.version == status[2] == 2 and view.pending_version == 0
    assert (view.current_period, view.current_period_start, view.current_period_end) == tuple(
        chain.call(agreement.functions.currentPeriod())
    )
    assert view.outstanding == chain.call(agreement.functions.outstanding()) == billed.amounts[1] > 0
    assert view.next_period_to_settle == 2
    assert [v.version for v in view.versions] == [1, 2] and view.versions[1].effective_from_period == view.current_period + 1
    assert view.versions[1].terms.minimum_commitment == 2_000
    assert [p.period for p in view.periods] == [0, 1, 2]
    for p in view.periods:
        expected = views(chain, billed.address, p.period)
        assert list(p.usage) == expected["usage"] == [q for _, q in USAGE[p.period]]
        assert p.preview_amount == expected["preview"] == p.charge.amount  # reference model == contract
        assert (p.amount, p.paid, p.payment_status, p.due_date) == (
            expected["amount"],
            expected["paid"],
            expected["status"],
            expected["due"],
        )
        assert (p.start, p.end, p.version) == (expected["start"], expected["end"], expected["version"])
    paid, unpaid, running = view.periods
    assert paid.payment_status is PaymentStatus.PAID and paid.open_amount == 0
    assert unpaid.payment_status is PaymentStatus.DUE and unpaid.open_amount == billed.amounts[1]
    assert not running.settled
    events = [h.event for h in view.history]
    assert events[:4] == ["AgreementCreated", "TermsAccepted", "TermsAccepted", "AgreementActivated"]
    for name in ("UsageReported", "SettlementTriggered", "PaymentConfirmed", "AmendmentProposed", "TermsAmended"):
        assert name in events
    assert view.meter_names == ["api_calls", "storage"] and view.names["payer"] == "Payer GmbH"


def test_status_json_as_a_user_runs_it(chain, billed, cli_env):
    proc = settle_cli("status", billed.address, "--json", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    agreement = chain.contract("IBillingAgreement", billed.address)
    assert data["agreement"] == billed.address and data["state"] == "active" and data["service_status"] == "active"
    assert data["terms_version"] == 2 and [v["version"] for v in data["versions"]] == [1, 2]
    assert data["outstanding"]["minor_units"] == chain.call(agreement.functions.outstanding())
    assert data["outstanding"]["value"] == format_minor(chain.call(agreement.functions.outstanding()), 2)
    assert data["current_period"]["period"] == chain.call(agreement.functions.currentPeriod())[0]
    # "terms" is the latest accepted version (the contract's terms()); each period names the version that prices it
    assert data["terms"]["minimum_commitment"] == "20.00" and data["versions"][0]["terms"]["minimum_commitment"] == "10.00"
    assert [p["terms_version"] for p in data["periods"]] == [1, 1, 1]
    for period in data["periods"]:
        expected = views(chain, billed.address, period["period"])
        assert [u["quantity"] for u in period["usage"]] == expected["usage"]
        assert [u["name"] for u in period["usage"]] == ["api_calls", "storage"]
        assert period["running_charge"]["amount"]["minor_units"] == expected["preview"]
        assert period["running_charge"]["contract_preview"]["minor_units"] == expected["preview"]
        assert period["running_charge"]["matches_contract"] is True
        assert period["due_date"]["unix"] == expected["due"]
        if expected["status"] is PaymentStatus.NONE:
            assert period["settlement"] is None
        else:
            settlement = period["settlement"]
            assert settlement["amount"]["minor_units"] == expected["amount"]
            assert settlement["paid"]["minor_units"] == expected["paid"]
            assert settlement["status"] == expected["status"].name.lower()
            assert settlement["due_date"]["unix"] == expected["due"]
    statuses = [p["settlement"] and p["settlement"]["status"] for p in data["periods"]]
    assert statuses == ["paid", "due", None]
    assert "PaymentConfirmed" in [h["event"] for h in data["history"]]


def test_status_table_shows_the_same_figures(chain, billed, cli_env):
    proc = settle_cli("status", billed.address, env={**cli_env, "COLUMNS": "220"})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    agreement = chain.contract("IBillingAgreement", billed.address)
    assert f"outstanding     {format_minor(chain.call(agreement.functions.outstanding()), 2, 'EUR')}" in out
    assert "Payer GmbH" in out and "api_calls 2,500, storage 40" in out
    for period in (0, 1, 2):
        preview = format_minor(chain.call(agreement.functions.previewAmount(period)), 2)
        assert preview in out
    assert " paid " in out.replace("│", " ") and " due " in out.replace("│", " ") and "running" in out
    assert "version 2 in force from period" in out


def test_status_of_one_period_details_the_charge(chain, billed, cli_env):
    proc = settle_cli("status", billed.address, "--period", "1", "--json", env=cli_env)
    data = json.loads(proc.stdout)
    assert [p["period"] for p in data["periods"]] == [1]
    expected = views(chain, billed.address, 1)
    charge = data["periods"][0]["running_charge"]
    assert charge["amount"]["minor_units"] == expected["amount"] == expected["preview"]
    table = settle_cli("status", billed.address, "--period", "1", env=cli_env).stdout
    assert "Charge of period 1 (reference model)" in table and "subtotal" in table


def test_status_of_a_proposed_agreement(chain, proposed):
    view = read_agreement(chain, proposed)
    assert view.state is AgreementState.PROPOSED and view.version == 0 and view.pending_version == 1
    assert view.outstanding == 0 and view.to_json()["terms"]["currency"] == "EUR"


def test_status_errors_are_one_line(chain, cli_env, factory):
    empty = settle_cli("status", "0x" + "12" * 20, env=cli_env)
    assert empty.returncode == 1 and empty.stderr.startswith("error: no contract at 0x1212") and empty.stderr.count("\n") == 1
    unknown = settle_cli("status", "no-such-plan", env=cli_env)
    assert unknown.returncode == 1 and "is neither an address nor an agreement recorded in" in unknown.stderr


def test_agreements_of_a_party(chain, billed, sessions, cli_env):
    accounts = chain.dev_accounts(6)
    listings = list_agreements(chain, sessions[OPERATOR].deployments.require_factory(), accounts[PAYER].address)
    assert [(item.agreement, item.role, item.counterparty, item.state) for item in listings] == [
        (billed.address, "payer", accounts[PAYEE].address, AgreementState.ACTIVE)
    ]
    (item,) = listings
    agreement = chain.contract("IBillingAgreement", billed.address)
    next_settle = chain.call(agreement.functions.status())[7]
    assert item.outstanding == billed.amounts[1] == chain.call(agreement.functions.outstanding())
    assert item.next_due == chain.call(agreement.functions.dueDate(next_settle)) and (item.currency, item.digits) == ("EUR", 2)
    proc = settle_cli("agreements", "--party", accounts[PAYEE].address, "--json", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    (listed,) = json.loads(proc.stdout)
    assert (listed["agreement"], listed["role"], listed["state"]) == (billed.address, "payee", "active")
    assert listed["outstanding"] == {"minor_units": item.outstanding, "value": format_minor(item.outstanding, 2), "currency": "EUR"}
    assert listed["next_due"]["unix"] == item.next_due
    table = settle_cli("agreements", "--party", accounts[PAYEE].address, env={**cli_env, "COLUMNS": "220"})
    assert format_minor(item.outstanding, 2, "EUR") in table.stdout and "next due" in table.stdout
    none = settle_cli("agreements", "--party", accounts[STRANGER].address, env=cli_env)
    assert none.returncode == 0 and "no agreements with" in none.stdout


def test_the_cast_commands_of_the_docs_work(chain, billed, rpc_url):
    """docs/reading-with-cast.md: every view signature in its table, and the party filter of `cast logs`, run."""
    import re
    import subprocess

    from operator_support import ROOT

    cast = npm_tool("cast")  # the binary itself: the npm wrapper drops the exit status
    doc = (ROOT / "docs" / "reading-with-cast.md").read_text()
    terms_type = re.search(r"^T='([^']+)'$", doc, re.M).group(1)  # type: ignore[union-attr]
    section = doc.split("## Function signatures", 1)[1].split("## Reading the facts", 1)[0]
    calls = re.findall(r'^\| [^|]+ \| `("[^"]+")([^`]*)`', section, re.M)
    assert len(calls) >= 14
    payer = chain.dev_accounts(2)[PAYER].address
    agreement = chain.contract("IBillingAgreement", billed.address)
    terms_hash = "0x" + bytes(chain.call(agreement.functions.termsAt(1))[1]).hex()
    outputs = {}
    for signature, args in calls:
        signature = signature.strip('"').replace("$T", terms_type)
        values = [{"N": "1", "V": "1", "PARTY": payer, "HASH": terms_hash, "DEADLINE": "4102444800"}[a] for a in args.split()]
        proc = subprocess.run([cast, "call", billed.address, signature, *values, "--rpc-url", rpc_url], capture_output=True, text=True)
        assert proc.returncode == 0, (signature, proc.stderr)
        outputs[signature.split("(")[0]] = proc.stdout.split()
    assert int(outputs["outstanding"][0]) == chain.call(agreement.functions.outstanding())
    assert int(outputs["usageEpoch"][0]) == chain.call(agreement.functions.status())[10] == 0
    assert outputs["acceptDigest"][0] == "0x" + bytes(chain.call(agreement.functions.acceptDigest(payer, 1, terms_hash, 4102444800))).hex()
    assert int(outputs["previewAmount"][0]) == chain.call(agreement.functions.previewAmount(1))
    assert outputs["parties"] == [payer, chain.dev_accounts(3)[PAYEE].address]
    factory = chain.call(agreement.functions.factory())
    created = "AgreementCreated(address indexed,address indexed,address indexed,bytes32,bytes32,bytes)"
    logs = subprocess.run(
        [cast, "logs", "--json", "--from-block", "0", "--address", factory, created, "", payer, "--rpc-url", rpc_url],
        capture_output=True,
        text=True,
    )
    assert logs.returncode == 0, logs.stderr
    assert [entry["topics"][1][-40:] for entry in json.loads(logs.stdout)] == [billed.address[2:].lower()]


def test_a_pending_amendment_says_who_must_accept_from_when_and_what_changes(chain, sessions, active, cli_env):
    """The review found `settle status` showing a pending version "from period 0" and nothing else."""
    accounts = chain.dev_accounts(6)
    agreement = chain.contract("IBillingAgreement", active)
    start = int(chain.call(agreement.functions.periodBounds(0))[0])
    amend(sessions[PAYER], active, make_spec(start, minimum_commitment="25.00"))  # the payer proposes (and accepts)
    view = read_agreement(chain, active)
    (pending,) = [v for v in view.versions if v.pending]
    assert pending.version == 2 and pending.state == "pending"
    assert pending.awaiting == (accounts[PAYEE].address,)
    assert pending.applies_from == view.current_period + 1
    assert [line for line in pending.changes if line.startswith("minimum_commitment")] == [
        f"minimum_commitment: {view.terms.format_amount(view.terms.minimum_commitment).split()[0]} → 25.00"
    ]
    document = view.to_json()
    (entry,) = [v for v in document["versions"] if v["pending"]]
    assert entry["awaiting"] == [accounts[PAYEE].address] and entry["applies_from_period"] == view.current_period + 1
    assert entry["changes"] == list(pending.changes)
    shown = settle_cli("status", active, env={**cli_env, "COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr
    waiting = next(line for line in shown.stdout.splitlines() if line.startswith("Version 2 awaits acceptance by"))
    assert accounts[PAYEE].address in waiting and accounts[PAYER].address not in waiting
    assert f"would price periods from {view.current_period + 1} on" in shown.stdout and "minimum_commitment" in shown.stdout


@pytest.fixture()
def vat_billed(chain, sessions) -> str:
    """An agreement at 19 % VAT (category S): period 0 settled (net + VAT), period 1 running."""
    start = chain_now(chain) - 86_400 - 43_200
    parties = {
        "payer": {"address": chain.dev_accounts(3)[PAYER].address, "name": "Payer GmbH", "vat_id": "DE811907980"},
        "payee": {"address": chain.dev_accounts(3)[PAYEE].address, "name": "Payee AG", "vat_id": "DE136695976"},
    }
    spec = make_spec(start, reference="VAT-1", parties=parties, tax={"category": "S", "rate": "19.00"})
    address = str(create_agreement(sessions[OPERATOR], spec, spec_path="vat.yaml").result["agreement"])
    accept(sessions[PAYER], address)
    accept(sessions[PAYEE], address)
    accounts = chain.dev_accounts(6)
    grant_role(sessions[OPERATOR], "oracle", accounts[ORACLE].address)
    agreement = chain.contract("IBillingAgreement", address)
    for period in (0, 1):
        usages = USAGE[period]
        chain.transact(
            agreement.functions.reportUsage(period, keccak(text=f"vat-{period}"), keccak(text="root"), 0, usages), accounts[ORACLE]
        )
    chain.transact(agreement.functions.settle(0), accounts[STRANGER])
    return address


def test_status_shows_net_vat_and_gross(chain, vat_billed, cli_env):
    agreement = chain.contract("IBillingAgreement", vat_billed)
    (event,) = agreement.events.SettlementTriggered().get_logs(from_block=0)
    net, vat, amount = event["args"]["net"], event["args"]["vat"], event["args"]["amount"]
    assert vat == (net * 1_900 + 5_000) // 10_000 > 0 and amount == net + vat == chain.call(agreement.functions.settlement(0))[0]

    view = read_agreement(chain, vat_billed)
    settled, running = view.periods
    assert (settled.net, settled.vat, settled.gross) == (net, vat, amount)
    assert (settled.settled_net, settled.settled_vat) == (net, vat)
    assert running.settled_net is None and running.gross == running.charge.gross == running.preview_amount
    assert running.vat == (running.net * 1_900 + 5_000) // 10_000

    data = json.loads(settle_cli("status", vat_billed, "--json", env=cli_env).stdout)
    first = data["periods"][0]["settlement"]
    assert (first["net"]["minor_units"], first["vat"]["minor_units"], first["gross"]["minor_units"]) == (net, vat, amount)
    assert data["terms"]["tax"] == {"category": "S", "rate": "19.00"}
    second = data["periods"][1]["running_charge"]
    assert (
        second["gross"]["minor_units"]
        == second["net"]["minor_units"] + second["vat"]["minor_units"]
        == second["contract_preview"]["minor_units"]
    )

    table = settle_cli("status", vat_billed, env={**cli_env, "COLUMNS": "220"}).stdout
    assert "tax             S 19.00 %" in table
    assert " net " in table.replace("│", " ") and " VAT " in table.replace("│", " ")
    row = next(line for line in table.splitlines() if line.startswith("│ 0 ") and "2,500" in line)
    cells = [c.strip() for c in row.split("│")]
    assert [format_minor(x, 2) for x in (amount, net, vat, amount)] == cells[6:10]
    settled_line = next(h.summary for h in view.history if h.event == "SettlementTriggered")
    assert f"({format_minor(net, 2, 'EUR')} net + {format_minor(vat, 2, 'EUR')} VAT)" in settled_line

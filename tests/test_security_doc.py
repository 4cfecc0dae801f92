"""docs/security.md, claim by claim: the events and the state-changing functions it lists are exactly those of the
contracts' ABIs, with their fields; and after a whole ``settle demo`` no party's legal name, street, e-mail, phone,
VAT id, IBAN, creditor id, mandate reference, ERP record, dispute text, invoice number or end-to-end id is in any
transaction's call data, any log's topics or data, or any contract's code — in UTF-8, UTF-16 or hex, and (where the
doc says so) not even as its keccak256. What the doc says is derivable is derived here from public data only.

One demo run serves the whole module (about 20 s): the inspect callback copies every block, transaction, receipt and
contract code off the chain before the demo stops it."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from settle.compiler import load_artifact
from settle.config import get_settings
from settle.keccak import keccak

DOC = Path(__file__).resolve().parents[1] / "docs" / "security.md"

#: The deployed contracts whose events a node sees (the agreements' extension runs by DELEGATECALL in their context).
EVENT_SOURCES = ("AgreementFactory", "BillingAgreement", "BillingAgreementExtension", "IAgreementFactory", "IBillingAgreement")
#: The interfaces whose state-changing functions are what transactions to Settle's contracts call.
FUNCTION_SOURCES = ("IAgreementFactory", "IBillingAgreement")


# -- the doc's tables ----------------------------------------------------------------------------------------------


def _section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"docs/security.md has no section '## {title}'"
    return match.group(1)


def _table(title: str) -> dict[str, list[str]]:
    """``name → fields`` of the rows ``| `name` | `field`, `field` … | …`` of a section's tables (in order)."""
    rows: dict[str, list[str]] = {}
    for line in _section(title).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("| `") else []
        if len(cells) >= 2:
            name = cells[0].strip("`")
            assert name not in rows, f"{title}: {name} is listed twice"
            rows[name] = re.findall(r"`([A-Za-z0-9_]+)`", cells[1])
    return rows


def _abi_items(sources: tuple[str, ...], kind: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for source in sources:
        for item in load_artifact(source)["abi"]:
            if item["type"] != kind or (kind == "function" and item["stateMutability"] in ("view", "pure")):
                continue
            names = [i["name"] for i in item["inputs"]]
            if item["name"] in found and not all(names):  # implementations may leave argument names out
                continue
            found[item["name"]] = names
    return found


def test_the_doc_lists_every_event_with_its_fields():
    listed = _table("Events every node sees")
    events = _abi_items(EVENT_SOURCES, "event")
    assert sorted(listed) == sorted(events), "docs/security.md must list exactly the contracts' events"
    for name, fields in events.items():
        assert listed[name] == fields, f"{name}: the doc lists {listed[name]}, the ABI has {fields}"


def test_the_doc_lists_every_state_changing_function_with_its_arguments():
    listed = _table("Transactions and their call data")
    functions = _abi_items(FUNCTION_SOURCES, "function")
    assert sorted(listed) == sorted(functions), "docs/security.md must list exactly the contracts' state-changing functions"
    for name, arguments in functions.items():
        assert listed[name] == arguments, f"{name}: the doc lists {listed[name]}, the ABI has {arguments}"


def test_the_doc_names_only_free_text_fields_that_are_strings_in_the_abi():
    """The doc says the only text a node can read is the correction's ``reason``: every other field of every
    event and function is a number, an address, a hash, a code or packed terms."""
    strings = sorted(
        f"{item['name']}.{i['name']}"
        for source in EVENT_SOURCES + FUNCTION_SOURCES
        for item in load_artifact(source)["abi"]
        if item["type"] in ("event", "function") and item.get("stateMutability") not in ("view", "pure")
        for i in item["inputs"]
        if i["type"] == "string" and i["name"]
    )
    assert sorted(set(strings)) == ["UsageCorrected.reason", "correctUsage.reason"]
    assert "`UsageCorrected.reason`" in DOC.read_text(encoding="utf-8")


# -- the chain after the demo ----------------------------------------------------------------------------------------


@dataclass
class Seen:
    """Everything a node of the demo's chain holds that a transaction or a log put there."""

    result: Any = None
    calldata: list[bytes] = field(default_factory=list)
    logs: list[bytes] = field(default_factory=list)  # topics and data of each log, concatenated
    code: list[bytes] = field(default_factory=list)
    decoded: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # event name → args, over all agreements
    chain_id: int = 0
    terms: dict[str, Any] = field(default_factory=dict)

    def everything(self) -> bytes:
        return b"\n".join([*self.calldata, *self.logs, *self.code])


def _copy_chain(result: Any, seen: Seen) -> None:
    from settle.chain import Chain

    chain = Chain.connect(result.rpc_url)
    w3 = chain.w3
    seen.result, seen.chain_id = result, result.chain_id
    addresses = set()
    for number in range(w3.eth.block_number + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        transactions: list[Any] = list(block["transactions"])
        for tx in transactions:
            seen.calldata.append(bytes(tx["input"]))
            receipt = w3.eth.get_transaction_receipt(tx["hash"])
            if receipt["contractAddress"]:
                addresses.add(receipt["contractAddress"])
            for log in receipt["logs"]:
                addresses.add(log["address"])
                seen.logs.append(b"".join(bytes(t) for t in log["topics"]) + bytes(log["data"]))
    seen.code = [bytes(w3.eth.get_code(a)) for a in sorted(addresses)]
    for key, plan in result.agreements.items():
        contract = chain.contract("IBillingAgreement", plan.address)
        events: Any = contract.events
        for event in events:
            for entry in event().get_logs(from_block=0):
                seen.decoded.setdefault(entry["event"], []).append({**entry["args"], "_agreement": plan.address, "_plan": key})
        seen.terms[key] = chain.call(contract.functions.terms())[0]


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory) -> Seen:
    from settle_cli.demo import run_demo

    copied = Seen()
    run_demo(tmp_path_factory.mktemp("security") / "demo", say=lambda _: None, inspect=lambda r: _copy_chain(r, copied), show_status=False)
    assert copied.calldata and copied.logs
    return copied


def _forms(text: str) -> list[bytes]:
    """The ways a text could sit in bytes: UTF-8 (compared case-insensitively), UTF-16 both ways, hex of UTF-8."""
    raw = text.encode("utf-8")
    return [raw.lower(), text.encode("utf-16-le"), text.encode("utf-16-be"), raw.hex().encode(), raw.hex().upper().encode()]


def _found(haystack: bytes, text: str, *, hashed: bool = True) -> list[str]:
    lowered = haystack.lower()
    where = [f"{text!r} as {form[:12]!r}…" for form in _forms(text) if (form.lower() if form.isascii() else form) in lowered]
    digest = keccak(text.encode("utf-8"))
    if hashed and digest in haystack:
        where.append(f"keccak256({text!r})")
    return where


def _erp_records() -> list[str]:
    with open(get_settings().root / "examples" / "erp-usage-export.csv", newline="") as handle:
        return [row["record_id"] for row in csv.DictReader(handle)]


def _master_data(seen: Seen) -> list[str]:
    from settle.spec import load_spec
    from settle_cli.demo import PARTY_DATA

    texts: set[str] = set()
    for name, data in PARTY_DATA.items():
        texts.add(name)
        texts.update(v for v in (data.street, data.city, data.postal_code, data.vat_id, data.iban, data.creditor_id) if v)
        # the contact's phone and e-mail; its name in the demo is a department ("Billing" is also in "BillingAgreement")
        texts.update(v for v in (data.buyer_reference, *(data.contact or ())[1:]) if v)
        if data.iban:  # the IBAN as printed, in groups of four
            texts.add(" ".join(data.iban[i : i + 4] for i in range(0, len(data.iban), 4)))
    for plan in seen.result.agreements.values():
        spec = load_spec(plan.spec_path)
        texts.update(v for v in (spec.name, spec.parties.payer.vat_id, spec.parties.payee.vat_id) if v)
        texts.update(meter.name for meter in spec.meters)
        if plan.payment == "sepa_dd":
            texts.add(f"{plan.reference}-DD")  # the demo's mandate reference
    # at least 5 bytes: a shorter text (the postal code "D02") turns up in 1 MB of hashes by chance
    return sorted(t for t in texts if len(t.encode()) >= 5)


def test_no_master_data_on_chain_not_even_hashed(seen):
    haystack = seen.everything()
    texts = _master_data(seen)
    assert {"Acme Manufacturing GmbH", "DE89370400440532013000", "ACME-2026-0042-DD", "ap@acme.example"} <= set(texts)
    leaks = [hit for text in texts for hit in _found(haystack, text)]
    assert leaks == []


def test_no_off_chain_texts_in_plain_on_chain(seen):
    """Dispute texts, invoice numbers, end-to-end ids and bank references, the ERP's contract numbers: their hashes
    are on-chain by design (reasonHash, numberHash, bankRefHash, salt), the texts never are."""
    from settle_cli.demo import DISPUTE_REASON, RESOLVE_NOTE

    result = seen.result
    texts = [DISPUTE_REASON, RESOLVE_NOTE, *set(result.invoices), result.returned_end_to_end_id, result.represented_end_to_end_id]
    texts += [*result.transfers, result.late_payment, *(p.reference for p in result.agreements.values())]
    assert all(texts) and len(texts) >= 10
    haystack = seen.everything()
    assert [hit for text in texts for hit in _found(haystack, text, hashed=False)] == []
    # ...but they are there as the hashes the doc names
    assert keccak(DISPUTE_REASON.encode()) in haystack and keccak(RESOLVE_NOTE.encode()) in haystack
    assert all(keccak(text=number) in haystack for number in result.invoices)


def test_erp_records_only_as_merkle_leaves(seen):
    """No ERP record id is on-chain, in any form, outside the one free-text field the doc names (a correction's
    reason, which carries what the operator writes: see the next test)."""
    reasons = [e["reason"] for e in seen.decoded.get("UsageCorrected", [])]
    assert reasons, "the demo corrects usage once"
    haystack = seen.everything()
    for reason in reasons:
        for form in _forms(reason):
            haystack = haystack.replace(form, b"")
        haystack = haystack.lower().replace(reason.encode().lower(), b"")
    records = _erp_records()
    assert len(records) > 20
    assert [hit for record in records for hit in _found(haystack, record)] == []


def test_correction_reasons_name_no_erp_record(seen):
    reasons = [e["reason"] for e in seen.decoded.get("UsageCorrected", [])]
    assert [r for r in reasons for record in _erp_records() if record.lower() in r.lower()] == []


def test_correction_reason_is_the_audit_row_and_a_hash_as_the_doc_says(seen):
    from oracle.corrections import onchain_reason
    from settle_cli.demo import VOID_REASON

    [corrected] = seen.decoded["UsageCorrected"]
    assert corrected["reason"] == onchain_reason(1, VOID_REASON)


def test_contract_reference_is_on_chain_as_its_keccak_salt(seen):
    """Derivable: whoever guesses an ERP contract number can check it against an agreement's salt."""
    from settle.spec import salt_for

    created = b"".join(seen.logs)
    for plan in seen.result.agreements.values():
        assert salt_for(plan.reference) == keccak(text=plan.reference) and keccak(text=plan.reference) in created


def test_payment_anchor_of_a_direct_debit_is_derivable_from_public_data(seen):
    """Derivable: the end-to-end id of a Settle debit comes from chain id, agreement and period, the amount is in
    the event, so a search over a few dates finds the value date behind bankRefHash — from the chain alone."""
    from gateway.banking.references import bank_reference_hash, end_to_end_id, payment_anchor

    api = seen.result.agreements["api"]
    terms = seen.terms["api"]
    currency = bytes(terms[1]).decode()
    triggered = {e["period"]: e for e in seen.decoded["SettlementTriggered"] if e["_agreement"] == api.address}
    found = []
    for event in (e for e in seen.decoded["PaymentConfirmed"] if e["_agreement"] == api.address):
        period, due = event["period"], datetime.fromtimestamp(triggered[event["period"]]["dueDate"], UTC).date()
        days = [due + timedelta(days=d) for d in range(-10, 60)]
        for attempt in range(3):
            e2e = end_to_end_id(seen.chain_id, api.address, period, attempt)
            for day in days:
                anchor = payment_anchor(e2e, event["amount"], terms[2], currency, day)
                if bank_reference_hash(anchor) == "0x" + bytes(event["bankRefHash"]).hex():
                    found.append((period, attempt, day))
    assert len(found) == 3 and all(isinstance(day, date) for _, _, day in found)  # periods 0, 1 and 1's re-presentation

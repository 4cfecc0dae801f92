#!/usr/bin/env python3
"""Gas per operation, measured on a fresh anvil (whole-transaction gas including the 21,000 base).

    python benchmarks/gas.py                  # table with targets
    python benchmarks/gas.py --json           # {"operation": gas, ...}
    python benchmarks/gas.py --write-snapshot # refresh benchmarks/gas-snapshot.json (committed; reviewed in diffs)
    python benchmarks/gas.py --check          # exit 1 if a figure differs from the snapshot or misses its target

Gas is deterministic for a given compiler, settings and source, so the snapshot changes only when the code does.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from settle.chain import Chain, DevChain
from settle.compiler import build
from settle.node import start_node
from settle.terms import IntervalKind, Meter, Terms, Tier, VatCategory

SNAPSHOT = Path(__file__).with_name("gas-snapshot.json")

#: Targets from the contracts issue (whole transaction, including the 21,000 base).
TARGETS = {
    "create_1m3t": 160_000,
    "create_3m": 230_000,
    "accept": 45_000,
    "report_first": 60_000,
    "report_next": 40_000,
    "report_3m": 80_000,
    "settle_fiat": 80_000,
    "settle_erc20": 120_000,
    "confirm": 40_000,
    "anchor_invoice": 32_000,
}

DESCRIPTIONS = {
    "create_1m3t": "createAgreement: 1 meter, 3 graduated tiers, fiat",
    "create_3m": "createAgreement: 3 meters (per-unit, 3 graduated tiers, package), fiat",
    "accept": "accept terms (the higher of payer and payee)",
    "report_first": "report usage, one meter, first report of the period",
    "report_next": "report usage, one meter, later report in the same period",
    "report_3m": "report usage covering 3 meters, first report of the period",
    "settle_fiat": "settle: fiat, 1 meter, 3 tiers",
    "settle_erc20": "settle: ERC-20 pull from the payer's allowance",
    "confirm": "confirmPayment (full amount)",
    "anchor_invoice": "anchorInvoice: the gateway anchors an invoice's number and XML hashes",
}

START = 1_893_456_000  # 2030-01-01T00:00:00Z: a fixed future date keeps calldata (and gas) the same every run
THREE_TIERS = (Tier(1_000, 0), Tier(10_000, 1_500), Tier(2**64 - 1, 1_000))


def one_meter_terms(token: str | None = None, digits: int = 2) -> Terms:
    return Terms(
        token=token or "0x" + "00" * 20,
        currency="EUR",
        minor_digits=digits,
        price_decimals=2,
        interval_kind=IntervalKind.CALENDAR_MONTH,
        interval=1,
        start=START,
        payment_terms_days=14,
        grace_seconds=3 * 86_400,
        dispute_window_seconds=30 * 86_400,
        minimum_commitment=50_000,
        vat_category=VatCategory.STANDARD,  # 19 % VAT: settlement computes it and bills net + VAT
        vat_rate=1_900,
        meters=(Meter.graduated(THREE_TIERS),),
    )


def three_meter_terms() -> Terms:
    return Terms(
        currency="EUR",
        minor_digits=2,
        price_decimals=2,
        interval_kind=IntervalKind.CALENDAR_MONTH,
        interval=1,
        start=START,
        payment_terms_days=14,
        grace_seconds=3 * 86_400,
        dispute_window_seconds=30 * 86_400,
        meters=(Meter.per_unit(250, included=100), Meter.graduated(THREE_TIERS), Meter.package(1_000, 4_900)),
    )


def measure() -> dict[str, int]:
    build()
    gas: dict[str, int] = {}
    with start_node("anvil") as node:
        chain = Chain.connect(node.url)
        dev = DevChain(chain)
        admin, payer, payee, oracle, gateway = chain.dev_accounts(5)
        factory = chain.deploy("AgreementFactory", admin.address, sender=admin)
        f = factory.functions
        chain.transact(f.setSignerDelay(0), admin)
        chain.transact(f.grantRole(chain.call(f.OPERATOR_ROLE()), admin.address), admin)
        chain.transact(f.grantRole(chain.call(f.ORACLE_ROLE()), oracle.address), admin)
        chain.transact(f.grantRole(chain.call(f.GATEWAY_ROLE()), gateway.address), admin)
        token = chain.deploy("TestToken", "Euro Test Token", "EURT", 2, sender=admin)
        chain.transact(token.functions.mint(payer.address, 10**12), admin)
        chain.transact(f.setTokenAllowed(token.address, True), admin)
        # The payee already holds tokens, as any running business does: a first-ever balance would add a
        # one-time 20,000 for the new storage slot that is not the agreement's cost.
        chain.transact(token.functions.mint(payee.address, 1), admin)

        def create(terms: Terms, salt: int) -> tuple[object, int]:
            receipt = chain.transact(f.createAgreement(payer.address, payee.address, terms.to_abi(), salt.to_bytes(32, "big")), admin)
            event = factory.events.AgreementCreated().process_receipt(receipt)[0]
            return chain.contract("BillingAgreement", event["args"]["agreement"]), receipt["gasUsed"]

        def activate(agreement, terms: Terms) -> list[int]:  # type: ignore[no-untyped-def]
            used = []
            for party in (payer, payee):
                used.append(chain.transact(agreement.functions.accept(1, terms.terms_hash()), party)["gasUsed"])
            return used

        fiat_terms = one_meter_terms()
        fiat, gas["create_1m3t"] = create(fiat_terms, 1)
        gas["accept"] = max(activate(fiat, fiat_terms))
        multi_terms = three_meter_terms()
        multi, gas["create_3m"] = create(multi_terms, 2)
        activate(multi, multi_terms)
        erc20_terms = one_meter_terms(token.address, 2)
        erc20, _ = create(erc20_terms, 3)
        activate(erc20, erc20_terms)
        chain.transact(token.functions.approve(erc20.address, 2**96), payer)

        dev.advance_to(START + 86_400)
        root = b"\x11" * 32

        def report(agreement, usages: list[tuple[int, int]], report_no: int) -> int:  # type: ignore[no-untyped-def]
            fn = agreement.functions.reportUsage(0, report_no.to_bytes(32, "big"), root, 0, usages)
            return chain.transact(fn, oracle)["gasUsed"]

        gas["report_first"] = report(fiat, [(0, 4_000)], 1)
        gas["report_next"] = report(fiat, [(0, 12_500)], 2)
        gas["report_3m"] = report(multi, [(0, 900), (1, 12_500), (2, 3_200)], 3)
        report(erc20, [(0, 12_500)], 4)

        period_end = fiat_terms.period_end(0)
        dev.advance_to(period_end + fiat_terms.grace_seconds + 1)
        gas["settle_fiat"] = chain.transact(fiat.functions.settle(0), payee)["gasUsed"]
        gas["settle_erc20"] = chain.transact(erc20.functions.settle(0), payee)["gasUsed"]
        settlement = chain.call(erc20.functions.settlement(0))
        if settlement[1] != settlement[0]:
            raise SystemExit(f"ERC-20 settlement not paid by the pull: {settlement}")
        amount = chain.call(fiat.functions.settlement(0))[0]
        gas["confirm"] = chain.transact(fiat.functions.confirmPayment(0, amount, b"\x22" * 32), gateway)["gasUsed"]
        number_hash, document_hash = b"\x33" * 32, b"\x44" * 32  # keccak256 of the number and of the XML
        anchor = fiat.functions.anchorInvoice(0, number_hash, document_hash)
        gas["anchor_invoice"] = chain.transact(anchor, gateway)["gasUsed"]
    return gas


def main() -> int:
    parser = argparse.ArgumentParser(description="Gas per operation on anvil.")
    parser.add_argument("--json", action="store_true", help="print one JSON object {operation: gas}")
    parser.add_argument("--write-snapshot", action="store_true", help=f"write {SNAPSHOT.name}")
    parser.add_argument("--check", action="store_true", help="fail if figures differ from the snapshot or miss targets")
    args = parser.parse_args()
    gas = measure()
    if args.json:
        print(json.dumps(gas, sort_keys=True))
    else:
        print(f"{'operation':<14} {'gas':>9} {'target':>9}  {'':4} what")
        for op, used in gas.items():
            ok = "ok" if used <= TARGETS[op] else "OVER"
            print(f"{op:<14} {used:>9,} {TARGETS[op]:>9,}  {ok:4} {DESCRIPTIONS[op]}")
    if args.write_snapshot:
        SNAPSHOT.write_text(json.dumps(gas, indent=2, sort_keys=True) + "\n")
        print(f"wrote {SNAPSHOT}", file=sys.stderr)
    if args.check:
        snapshot = json.loads(SNAPSHOT.read_text()) if SNAPSHOT.exists() else {}
        changed = {op: (snapshot.get(op), used) for op, used in gas.items() if snapshot.get(op) != used}
        over = {op: used for op, used in gas.items() if used > TARGETS[op]}
        for op, (old, new) in changed.items():
            print(f"gas changed: {op} {old} -> {new} (run benchmarks/gas.py --write-snapshot and commit)", file=sys.stderr)
        for op, used in over.items():
            print(f"over target: {op} {used} > {TARGETS[op]}", file=sys.stderr)
        return 1 if changed or over else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())

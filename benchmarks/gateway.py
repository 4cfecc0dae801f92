#!/usr/bin/env python3
"""Gateway figures on a fresh anvil.

* ``listener_events_per_s``: events read with eth_getLogs, decoded and applied to the read model (SQLite by default,
  ``--database`` for PostgreSQL), from a cursor at block 0 to the head. The chain holds ``--events`` UsageReported
  events from 8-meter usage reports, plus the agreements' creation and acceptance events.
* ``payment_latency_median_s`` / ``payment_latency_p99_s``: for ``--settlements`` settlements (1,000) triggered on-chain
  at a steady rate while the gateway runs (listener and payment workers in threads, as ``settle gateway run``),
  the time from the settlement's block being mined to its payment file (pain.008 / pain.001, XSD-validated) being
  written.

    python benchmarks/gateway.py             # table
    python benchmarks/gateway.py --json      # {"listener_events_per_s": …, "payment_latency_median_s": …, …}
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from eth_utils import keccak
from sqlalchemy import select

# This file is named like the package it measures: keep its own folder off the import path, and borrow the chain
# set-up helpers of the gateway tests.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent / "tests" / "gateway"))

from gateway_chainkit import HOUR, deploy, master_data  # noqa: E402

from gateway.chain.listener import ChainListener  # noqa: E402
from gateway.database import open_database  # noqa: E402
from gateway.models import PaymentFile, PaymentInstruction, Settlement  # noqa: E402
from gateway.service import Gateway  # noqa: E402
from gateway.settings import GatewaySettings  # noqa: E402
from oracle.txsign import FastSigner, encode_report_usage  # noqa: E402
from settle.chain import Chain  # noqa: E402
from settle.compiler import build  # noqa: E402
from settle.node import start_node  # noqa: E402
from settle.rpc import Rpc  # noqa: E402
from settle.terms import IntervalKind, Meter, Terms  # noqa: E402

TARGET_EVENTS_PER_S = 2_000
SETTLE_SELECTOR = keccak(text="settle(uint32)")[:4]
GWEI = 10**9


def _terms(start: int, meters: int, *, minimum: int = 0) -> Terms:
    return Terms(
        currency="EUR",
        minor_digits=2,
        interval_kind=IntervalKind.FIXED_SECONDS,
        interval=HOUR,
        start=start,
        payment_terms_days=0,
        dispute_window_seconds=86_400,
        minimum_commitment=minimum,
        meters=tuple(Meter.per_unit(10 + i) for i in range(meters)),
    )


def _create_many(kit, terms: Terms, count: int, pair: int = 0) -> list[str]:  # type: ignore[no-untyped-def]
    """``count`` active agreements, sent in JSON-RPC batches."""
    chain, rpc = kit.chain, Rpc(kit.chain.w3.provider.endpoint_uri)
    payer, payee = kit.payers[pair], kit.payees[pair]
    addresses = []
    create = [
        (kit.admin, kit.factory.functions.createAgreement(payer.address, payee.address, terms.to_abi(), keccak(salt.to_bytes(32, "big"))))
        for salt in range(count)
    ]
    for _, fn in create:
        addresses.append(str(kit.chain.call(kit.factory.functions.predictAgreementAddress(*fn.args))))
    _send(chain, rpc, [(kit.admin, fn.address, bytes.fromhex(fn._encode_transaction_data()[2:])) for _, fn in create])
    accepts = []
    for party in (payer, payee):
        for address in addresses:
            fn = kit.agreement(address).functions.accept(1, terms.terms_hash())
            accepts.append((party, address, bytes.fromhex(fn._encode_transaction_data()[2:])))
    _send(chain, rpc, accepts)
    return addresses


def _send(chain: Chain, rpc: Rpc, calls: list[tuple[object, str, bytes]], *, gas: int = 1_500_000, batch: int = 200) -> list[float]:
    """Sign and send ``(account, to, data)`` in batches, one mined block per batch; returns each batch's mined time."""
    signers: dict[str, FastSigner] = {}
    nonces: dict[str, int] = {}
    mined: list[float] = []
    rpc.call("evm_setAutomine", [False])
    try:
        for offset in range(0, len(calls), batch):
            raws = []
            for account, to, data in calls[offset : offset + batch]:
                address = account.address  # type: ignore[attr-defined]
                if address not in signers:
                    signers[address] = FastSigner(account)  # type: ignore[arg-type]
                    nonces[address] = int(rpc.call("eth_getTransactionCount", [address, "pending"]), 16)
                signed = signers[address].sign(
                    chain_id=chain.chain_id, nonce=nonces[address], to=to, data=data, gas=gas, max_fee=100 * GWEI, max_priority_fee=GWEI
                )
                nonces[address] += 1
                raws.append(("eth_sendRawTransaction", ["0x" + signed.raw.hex()]))
            rpc.batch(raws)
            rpc.call("evm_mine", [])
            mined.append(time.time())
    finally:
        rpc.call("evm_setAutomine", [True])
    return mined


def listener_figure(events: int, database_url: str | None, folder: Path) -> dict[str, float]:
    meters = 8
    with start_node("anvil") as node:
        chain = Chain.connect(node.url)
        kit = deploy(chain)
        now = int(chain.w3.eth.get_block("latest")["timestamp"])
        agreements = _create_many(kit, _terms(now - 60, meters), 50)
        rpc = Rpc(node.url)
        reports = events // meters
        calls = []
        for i in range(reports):
            agreement = agreements[i % len(agreements)]
            level = i // len(agreements) + 1
            data = encode_report_usage(0, i.to_bytes(32, "big"), b"\x11" * 32, 0, [(m, level) for m in range(meters)])
            calls.append((kit.oracle, agreement, data))
        _send(chain, rpc, calls, gas=400_000)
        engine, factory = open_database(database_url or f"sqlite:///{folder / 'listener.db'}")
        listener = ChainListener(factory, chain.rpc(), chain_id=chain.chain_id, factory_address=kit.factory.address, batch_blocks=2_000)
        started = time.perf_counter()
        applied = listener.catch_up()
        seconds = time.perf_counter() - started
        engine.dispose()
    return {"listener_events": applied, "listener_seconds": seconds, "listener_events_per_s": applied / seconds}


def latency_figures(settlements: int, database_url: str | None, folder: Path, rate: float) -> dict[str, float]:
    per_agreement = 10
    count = settlements // per_agreement
    with start_node("anvil") as node:
        chain = Chain.connect(node.url)
        kit = deploy(chain)
        now = int(chain.w3.eth.get_block("latest")["timestamp"])
        start = now - now % HOUR - per_agreement * HOUR
        debits = _create_many(kit, _terms(start, 1, minimum=1_000), count // 2, pair=0)
        transfers = _create_many(kit, _terms(start, 1, minimum=2_000), count - count // 2, pair=1)
        url = database_url or f"sqlite:///{folder / 'latency.db'}"
        master_data(url, kit, {a: ("sepa_dd", 0) for a in debits} | {a: ("sepa_ct", 1) for a in transfers})
        settings = GatewaySettings(
            database_url=url,
            factory=kit.factory.address,
            files_dir=folder / "files",
            bank_outbox=folder / "bank" / "outbox",
            bank_inbox=folder / "bank" / "inbox",
            clock="chain",
            confirmations=0,
            poll_seconds=0.05,
            # the figure is settlement → payment file: invoicing (benchmarks/invoices.py) runs elsewhere
            disabled=frozenset({"keeper", "chain_tx", "invoicing", "bank"}),
            worker="bench",
        )
        gateway = Gateway(settings, chain=chain)
        gateway.chain.listener.catch_up()  # the agreements are known before the clock starts
        stop = threading.Event()
        runner = threading.Thread(target=gateway.run, kwargs={"api": False, "stop": stop}, daemon=True)
        runner.start()
        rpc = Rpc(node.url)
        calls = [(kit.payees[0], a, SETTLE_SELECTOR + p.to_bytes(32, "big")) for p in range(per_agreement) for a in debits + transfers]
        batch = 50
        mined_at: dict[tuple[str, int], float] = {}
        interval = batch / rate
        for offset in range(0, len(calls), batch):
            began = time.time()
            chunk = calls[offset : offset + batch]
            (moment,) = _send(chain, rpc, chunk, gas=300_000, batch=batch)
            for _, address, data in chunk:
                mined_at[(address.lower(), int.from_bytes(data[4:], "big"))] = moment
            time.sleep(max(0.0, interval - (time.time() - began)))
        deadline = time.monotonic() + 120
        _, factory = gateway.db()
        while time.monotonic() < deadline:
            with factory() as session:
                done = session.scalar(select(PaymentInstruction.id).where(PaymentInstruction.payment_file_id.is_(None)).limit(1))
                total = len(session.scalars(select(PaymentInstruction.id)).all())
            if done is None and total >= len(calls):
                break
            time.sleep(0.1)
        stop.set()
        runner.join(timeout=30)
        latencies = []
        with factory() as session:
            rows = session.execute(
                select(PaymentInstruction, PaymentFile).join(PaymentFile, PaymentFile.id == PaymentInstruction.payment_file_id)
            )
            for instruction, payment_file in rows:
                latencies.append(payment_file.created_at.timestamp() - mined_at[(instruction.agreement, instruction.period)])
            settled = len(session.scalars(select(Settlement.id)).all())
            files = len(session.scalars(select(PaymentFile.id)).all())
        gateway.close()
    if len(latencies) != len(calls):
        raise SystemExit(f"only {len(latencies)} of {len(calls)} settlements reached a payment file ({settled} seen)")
    latencies.sort()
    return {
        "settlements": len(latencies),
        "payment_files": files,
        "payment_latency_median_s": statistics.median(latencies),
        "payment_latency_p99_s": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "settle_rate_per_s": rate,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description="Gateway listener throughput and settlement-to-payment-file latency.")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--events", type=int, default=20_000, help="UsageReported events for the listener figure")
    parser.add_argument("--settlements", type=int, default=1_000, help="settlements for the latency figures")
    parser.add_argument("--rate", type=float, default=100.0, help="settlements per second triggered while the gateway runs")
    parser.add_argument("--database", help="database URL (default: SQLite in a temporary folder)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    build()
    with tempfile.TemporaryDirectory(prefix="settle-bench-gateway-") as tmp:
        folder = Path(tmp)
        figures = listener_figure(args.events, args.database, folder)
        if args.database:  # a fresh database for the second part
            from sqlalchemy import MetaData, create_engine

            engine = create_engine(args.database)
            meta = MetaData()
            meta.reflect(engine)
            meta.drop_all(engine)
            engine.dispose()
        figures |= latency_figures(args.settlements, args.database, folder, args.rate)
    if args.json:
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}, sort_keys=True))
    else:
        ok = "ok" if figures["listener_events_per_s"] >= TARGET_EVENTS_PER_S else "BELOW TARGET"
        print(
            f"listener: {figures['listener_events']:,} events in {figures['listener_seconds']:.2f}s = "
            f"{figures['listener_events_per_s']:,.0f} events/s (target ≥ {TARGET_EVENTS_PER_S:,}: {ok})"
        )
        print(
            f"settlement → payment file: {figures['settlements']:,} settlements at {figures['settle_rate_per_s']:.0f}/s into "
            f"{figures['payment_files']} files; latency median {figures['payment_latency_median_s']:.3f}s, "
            f"p99 {figures['payment_latency_p99_s']:.3f}s"
        )
    return 0 if figures["listener_events_per_s"] >= TARGET_EVENTS_PER_S else 1


if __name__ == "__main__":
    sys.exit(main())

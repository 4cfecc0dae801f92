"""Against a real anvil and the real contracts: on-chain totals equal the sum of accepted records, per agreement,
meter and period; proofs check against the root in the UsageReported event."""

from __future__ import annotations

import random
from collections import defaultdict

import pytest
from oracle_chainkit import DAY, create, deploy, terms

from oracle import registry as reg
from oracle.chainsync import register
from oracle.clock import FixedClock
from oracle.config import OracleSettings
from oracle.database import open_database
from oracle.ingest import Pipeline
from oracle.proofs import prove
from oracle.submit import Submitter
from oracle.txsign import FastSigner
from settle.db import transaction
from settle.rpc import Rpc


@pytest.mark.parametrize("n_agreements", [3])
def test_onchain_totals_equal_accepted_records(chain, accounts, dev, tmp_path, n_agreements):
    kit = deploy(chain, accounts)
    now = dev.now()
    start = now - 5 * DAY
    t = terms(start)
    addresses = [create(kit, t, salt) for salt in range(n_agreements)]
    engine, factory = open_database(f"sqlite:///{tmp_path / 'oracle.db'}")
    with transaction(factory) as s:
        reg.get_source(s, "erp", create=True)
        for i, address in enumerate(addresses):
            register(s, chain, address)
            reg.set_meter(s, address, 0, name="api_calls", unit="call")
            reg.set_meter(s, address, 1, name="storage", unit="GB", decimals=3)
            reg.add_reference(s, f"C-{i}", address)
    settings = OracleSettings(report_max_records=40, outlier_factor=0)
    clock = FixedClock(now)
    pipeline = Pipeline(engine, settings, clock)
    rnd = random.Random(5)
    expected: dict[tuple[str, int], int] = defaultdict(int)
    objects = []
    for i in range(300):
        a = rnd.randrange(n_agreements)
        m = rnd.randrange(2)
        q = rnd.randrange(0, 1000)
        at = start + rnd.randrange(0, 5 * DAY - 10)
        from datetime import UTC, datetime

        iso = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        objects.append(
            {
                "record_id": f"r{i}",
                "agreement": f"C-{a}",
                "meter": ["api_calls", "storage"][m],
                "quantity": str(q) if m == 0 else f"{q}.5",
                "unit": ["call", "GB"][m],
                "occurred_at": iso,
            }
        )
        expected[(addresses[a], m)] += q if m == 0 else q * 1000 + 500
    for part in range(0, 300, 100):
        result = pipeline.ingest_objects("erp", objects[part : part + 100])
        assert result.accepted == 100, result.as_dict()
    # a resend changes nothing
    assert pipeline.ingest_objects("erp", objects[:50]).duplicates == 50

    rpc = Rpc(chain.w3.provider.endpoint_uri)  # type: ignore[attr-defined]
    submitter = Submitter(
        engine, settings, rpc=rpc, chain_id=chain.chain_id, signer=FastSigner(kit.oracle), decoder=chain.decoder, clock=clock
    )
    from oracle.reports import cut_reports

    cut_reports(engine, settings, now, force=True)
    submitter.run(once=True)
    assert submitter.outstanding() == 0
    for (address, meter), total in expected.items():
        onchain = chain.call(chain.contract("BillingAgreement", address).functions.usage(0, meter))
        assert onchain == total, (address, meter)

    # every record is provable against the root emitted on-chain
    for rid in ("r0", "r17", "r299"):
        proof = prove(engine, rpc, "erp", rid)
        assert proof["verified"] is True
        assert proof["onchain_root"] == proof["root"]
    engine.dispose()

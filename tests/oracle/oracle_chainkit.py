"""Deploy a factory and active agreements on the test chain for the oracle's integration tests."""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from sqlalchemy import Engine
from web3.contract import Contract

from oracle.clock import FixedClock
from oracle.config import OracleSettings
from settle.chain import Chain
from settle.terms import Meter, Terms

DAY = 86_400


@dataclass
class Kit:
    chain: Chain
    factory: Contract
    admin: LocalAccount
    oracle: LocalAccount
    payer: LocalAccount
    payee: LocalAccount


def deploy(chain: Chain, accounts) -> Kit:  # type: ignore[no-untyped-def]
    admin, oracle, payer, payee = accounts[0], accounts[1], accounts[2], accounts[3]
    factory = chain.deploy("AgreementFactory", admin.address, sender=admin)
    chain.transact(factory.functions.grantRole(factory.functions.OPERATOR_ROLE().call(), admin.address), admin)
    chain.transact(factory.functions.grantRole(factory.functions.ORACLE_ROLE().call(), oracle.address), admin)
    return Kit(chain, factory, admin, oracle, payer, payee)


def terms(start: int, *, meters: int = 2, interval_seconds: int = 30 * DAY, grace: int = 3 * DAY) -> Terms:
    return Terms(
        currency="EUR",
        minor_digits=2,
        interval_kind=1,
        interval=interval_seconds,
        start=start,
        grace_seconds=grace,
        payment_terms_days=14,
        dispute_window_seconds=7 * DAY,
        meters=tuple(Meter.per_unit(10 + i) for i in range(meters)),
    )


def create(kit: Kit, t: Terms, salt: int) -> str:
    """A new agreement with terms ``t``, accepted by both parties (Active)."""
    chain, factory = kit.chain, kit.factory
    receipt = chain.transact(
        factory.functions.createAgreement(kit.payer.address, kit.payee.address, t.to_abi(), keccak(salt.to_bytes(32, "big"))), kit.admin
    )
    address = factory.events.AgreementCreated().process_receipt(receipt)[0]["args"]["agreement"]
    agreement = chain.contract("BillingAgreement", address)
    for party in (kit.payer, kit.payee):
        chain.transact(agreement.functions.accept(1, t.terms_hash()), party)
    return address


@dataclass
class Reported:
    """One active agreement with five accepted records (35 api_calls) cut into a pending report."""

    kit: Kit
    address: str
    engine: Engine
    settings: OracleSettings
    clock: FixedClock


def agreement_with_report(chain: Chain, accounts, dev, tmp_path, **settings_kw) -> Reported:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from oracle import registry as reg
    from oracle.chainsync import register
    from oracle.database import open_database
    from oracle.ingest import Pipeline
    from oracle.reports import cut_reports
    from settle.db import transaction

    kit = deploy(chain, accounts)
    now = dev.now()
    address = create(kit, terms(now - 5 * DAY), 1)
    engine, factory = open_database(f"sqlite:///{tmp_path / 'oracle.db'}")
    with transaction(factory) as s:
        reg.get_source(s, "erp", create=True)
        register(s, chain, address)
        reg.set_meter(s, address, 0, name="api_calls", unit="call")
        reg.set_meter(s, address, 1, name="storage", unit="GB", decimals=3)
        reg.add_reference(s, "C-1", address)
    settings = OracleSettings(outlier_factor=0, **settings_kw)
    clock = FixedClock(now)
    at = datetime.fromtimestamp(now - DAY, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    records = [
        {"record_id": f"r{i}", "agreement": "C-1", "meter": "api_calls", "quantity": 7, "unit": "call", "occurred_at": at} for i in range(5)
    ]
    assert Pipeline(engine, settings, clock).ingest_objects("erp", records).accepted == 5
    cut_reports(engine, settings, now, force=True)
    return Reported(kit, address, engine, settings, clock)

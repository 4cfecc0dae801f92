"""VAT in the read model and the API: net and VAT per settlement from SettlementTriggered, each terms version's VAT
category and rate from its packed terms, migration 0006 on existing rows — on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa
from gateway_chainkit import HOUR, create, deploy, hourly_terms, report
from principals import bearer, operator_token
from sqlalchemy import select

from gateway.api import create_app
from gateway.chain.listener import ChainListener
from gateway.database import migrate, open_database
from gateway.models import Settlement, TermsVersion
from settle import db as settle_db
from settle.terms import VatCategory


def test_net_vat_and_terms_vat_reach_the_read_model_and_api(chain, dev, database_url):
    from fastapi.testclient import TestClient

    kit = deploy(chain)
    now = dev.now()
    start = now - now % HOUR - 3 * HOUR
    standard = dataclasses.replace(hourly_terms(start, minimum=505), vat_category=VatCategory.STANDARD, vat_rate=1_900)
    reverse = dataclasses.replace(hourly_terms(start), vat_category=VatCategory.REVERSE_CHARGE)
    s_address = create(kit, standard, 1)
    ae_address = create(kit, reverse, 2, pair=1)
    report(kit, s_address, 0, 1_234, 1)  # 123.40 net → 23.446 → 23.45 VAT
    report(kit, ae_address, 0, 77, 2)
    for address in (s_address, ae_address):
        for period in (0, 1):
            chain.transact(kit.agreement(address).functions.settle(period), kit.payees[0])
    engine, factory = open_database(database_url)
    try:
        listener = ChainListener(
            factory, kit.chain.rpc(), chain_id=kit.chain.chain_id, factory_address=kit.factory.address, confirmations=0
        )
        listener.catch_up()
        with factory() as session:
            rows = {
                (s.agreement.address, s.period): s
                for s in session.scalars(select(Settlement))  # one per settled period
            }
            s0, s1 = rows[(s_address.lower(), 0)], rows[(s_address.lower(), 1)]
            assert (s0.net, s0.vat, s0.amount) == (12_340, 2_345, 14_685)
            assert (s1.net, s1.vat, s1.amount) == (505, 96, 601)  # the minimum, 95.95 → 96
            ae0 = rows[(ae_address.lower(), 0)]
            assert (ae0.net, ae0.vat, ae0.amount) == (770, 0, 770)
            versions = {(v.agreement_id, v.version): (v.vat_category, v.vat_rate) for v in session.scalars(select(TermsVersion))}
            assert sorted(versions.values()) == [("AE", 0), ("S", 1_900)]
            for s in rows.values():
                chain_amount = chain.call(kit.agreement(s.agreement.address).functions.settlement(s.period))[0]
                assert s.net + s.vat == s.amount == chain_amount

        app = create_app(factory, chain=chain)
        client = TestClient(app, headers=bearer(operator_token(factory)))
        body = client.get(f"/v1/settlements/{s_address}/0").json()
        assert (body["net"]["minor_units"], body["vat"]["minor_units"], body["gross"]["minor_units"]) == (12_340, 2_345, 14_685)
        assert (body["net"]["value"], body["vat"]["value"], body["gross"]["value"], body["amount"]["value"]) == (
            "123.40",
            "23.45",
            "146.85",
            "146.85",
        )
        assert (body["vat_category"], body["vat_rate"]) == ("S", "19.00")
        reverse_body = client.get(f"/v1/settlements/{ae_address}/0").json()
        assert (reverse_body["vat_category"], reverse_body["vat_rate"], reverse_body["vat"]["minor_units"]) == ("AE", "0.00", 0)
        listed = client.get("/v1/settlements", params={"agreement": s_address}).json()
        assert sorted(item["gross"]["minor_units"] for item in listed) == [601, 14_685]
    finally:
        engine.dispose()


def test_migration_0006_backfills_rows_from_before_vat(database_url):
    """Settlements read before VAT was in the terms keep their amount as net with VAT 0; their terms versions are
    category O at 0."""
    engine = settle_db.make_engine(database_url)
    try:
        migrate(engine, "0005")
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO gw_agreement (id, chain_id, address, factory, payer, payee, state, service_status, terms_version, "
                    "pending_version, token, currency, minor_digits, next_period_to_settle, end_period, created_block, created_tx, "
                    "updated_block) VALUES (1, 31337, :a, :a, :a, :a, 'active', 'active', 1, 0, :z, 'EUR', 2, 1, 0, 1, :tx, 1)"
                ),
                {"a": "0x" + "11" * 20, "z": "0x" + "00" * 20, "tx": "0x" + "22" * 32},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO gw_terms_version (id, agreement_id, version, terms_hash, packed, status, accepted_by, "
                    "effective_from_period, proposed_block) VALUES (1, 1, 1, :h, '0x', 'accepted', '[]', 0, 1)"
                ),
                {"h": "0x" + "33" * 32},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO gw_settlement (id, agreement_id, period, amount, paid, due_at, terms_version, status, disputed, "
                    "token_pull_failures, settled_block, settled_tx, seen_at, updated_block) VALUES "
                    "(1, 1, 0, '12345', '0', :t, 1, 'due', '0', 0, 2, :tx, :t, 2)"
                ),
                {"t": "2026-01-01 00:00:00", "tx": "0x" + "44" * 32},
            )
        migrate(engine)
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT net, vat, amount FROM gw_settlement")).one() == ("12345", "0", "12345")
            assert connection.execute(sa.text("SELECT vat_category, vat_rate FROM gw_terms_version")).one() == ("O", 0)
    finally:
        engine.dispose()

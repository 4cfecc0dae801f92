"""The busiest reads (agreement detail and list, settlements, payments, open items) build their answers as plain
JSON objects encoded by orjson (gateway.api.views). Their documented schema is their pydantic model: every answer
must be byte for byte what the model writes for the same content (addresses checksummed, money as minor units and
a decimal string, times in UTC with Z), and a party's lists hold only its own records. On SQLite and PostgreSQL,
over the benchmark's data (benchmarks/api.py) with a disputed settlement, a pending terms version, a payment file
and a payment method added."""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, TypeAdapter
from sqlalchemy import insert, select, update

from gateway.api import create_app
from gateway.api.schemas import AgreementDetail, AgreementOut, OpenItemsOut, PaymentOut, SettlementOut
from gateway.database import open_database
from gateway.models import Agreement, Party, PaymentFile, PaymentInstruction, PaymentMethod, Settlement, TermsVersion
from gateway.models.parties import PaymentMethodKind

ROOT = Path(__file__).resolve().parents[2]


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("settle_bench_api", ROOT / "benchmarks" / "api.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["settle_bench_api"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def served(database_url: str):  # type: ignore[no-untyped-def]
    bench = _bench()
    engine, factory = open_database(database_url)
    sample = bench.seed(database_url, 40, 6, random.Random(3))
    with factory.begin() as session:
        first = session.scalar(select(Agreement).order_by(Agreement.id))
        assert first is not None
        # a disputed settlement, a pending terms version, a payment file on an instruction, a payment method
        session.execute(
            update(Settlement).where(Settlement.agreement_id == first.id, Settlement.period == 5).values(status="disputed", disputed=1234)
        )
        packed, terms_hash = session.execute(
            select(TermsVersion.packed, TermsVersion.terms_hash).where(TermsVersion.agreement_id == first.id)
        ).one()
        session.execute(
            insert(TermsVersion).values(
                agreement_id=first.id,
                version=2,
                terms_hash=terms_hash,
                packed=packed,
                status="pending",
                accepted_by=[first.payee],
                effective_from_period=0,
                proposed_block=3,
                vat_category="O",
                vat_rate=0,
            )
        )
        file_id = session.execute(
            insert(PaymentFile)
            .values(
                message_id="MSG-1",
                sha256="ab" * 32,
                kind="pain.001",
                schema="pain.001.001.09",
                path="/srv/files/pain001-MSG-1.xml",
                account_iban="DE89370400440532013000",
                file_date=date(2026, 7, 1),
                tx_count=1,
                control_sum=100,
                currency="EUR",
                created_at=datetime(2026, 7, 1, 12, 30, 15, 123456, tzinfo=UTC),
            )
            .returning(PaymentFile.id)
        ).scalar_one()
        session.execute(
            update(PaymentInstruction)
            .where(PaymentInstruction.agreement == first.address, PaymentInstruction.period == 4)
            .values(payment_file_id=file_id, collection_date=date(2026, 7, 3))
        )
        ids = dict(session.execute(select(Party.chain_address, Party.id).where(Party.chain_address.in_((first.payer, first.payee)))).all())
        session.execute(
            insert(PaymentMethod).values(
                chain_id=first.chain_id,
                agreement=first.address,
                kind=PaymentMethodKind.SEPA_CREDIT_TRANSFER,
                payer_party_id=ids[first.payer],
                payee_party_id=ids[first.payee],
            )
        )
        address, payer, payee = first.address, first.payer, first.payee
    app = create_app(factory)
    try:
        yield TestClient(app), sample, (address, payer, payee)
    finally:
        engine.dispose()


def _same_as_model(response: Any, model: Any) -> Any:
    """The answer is exactly what pydantic writes for its content under the route's model; its content."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.content
    adapter: TypeAdapter[Any] = TypeAdapter(model)
    assert adapter.dump_json(adapter.validate_json(body)) == body
    return json.loads(body)


def test_answers_are_what_their_models_write(served):  # type: ignore[no-untyped-def]
    client, sample, (address, payer, payee) = served
    operator = {"Authorization": f"Bearer {sample['operator']}"}

    detail = _same_as_model(client.get(f"/v1/agreements/{address}", headers=operator), AgreementDetail)
    assert detail["address"].lower() == address
    assert detail["factory"] == "0xFafafAfafAFaFAFaFafafafAfaFaFAfAfAfAFaFA"  # checksummed (the read model keeps lower case)
    assert [v["status"] for v in detail["versions"]] == ["accepted", "pending"]
    assert detail["versions"][1]["awaiting"] == [payer] and detail["versions"][1]["changes"] == []
    assert detail["payment_method"] == "sepa_ct"
    by_period = {s["period"]: s for s in detail["settlements"]}
    assert by_period[5]["disputed"] == {"minor_units": 1234, "value": "12.34", "currency": "EUR"}
    assert by_period[4]["payment"]["payment_file"] == "pain001-MSG-1.xml"
    assert by_period[4]["payment"]["collection_date"] == "2026-07-03"
    assert by_period[0]["due_at"].endswith("Z") and by_period[0]["period_start"] == "2026-01-01T00:00:00Z"
    # outstanding: what is open of every settlement, exact
    assert detail["outstanding"]["minor_units"] == sum(s["open"]["minor_units"] for s in detail["settlements"]) > 0

    settlements = _same_as_model(client.get(f"/v1/settlements?agreement={address}", headers=operator), list[SettlementOut])
    assert sorted(s["period"] for s in settlements) == list(range(6))
    assert settlements == sorted(detail["settlements"], key=lambda s: -s["settled_block"])
    one = _same_as_model(client.get(f"/v1/settlements/{address}/4", headers=operator), SettlementOut)
    assert one == by_period[4]
    _same_as_model(client.get("/v1/settlements?status=open&limit=7&offset=2", headers=operator), list[SettlementOut])

    listed = _same_as_model(client.get("/v1/agreements?limit=500", headers=operator), list[AgreementOut])
    assert len(listed) == 40
    mine = next(a for a in listed if a["address"].lower() == address)
    assert mine == {k: v for k, v in detail.items() if k not in ("versions", "usage", "settlements")}

    payments = _same_as_model(client.get("/v1/payments", headers=operator), list[PaymentOut])
    assert payments and {p["state"] for p in payments} == {"pending"}
    e2e = by_period[4]["payment"]["end_to_end_id"]
    assert _same_as_model(client.get(f"/v1/payments/{e2e}", headers=operator), PaymentOut) == by_period[4]["payment"]

    items = _same_as_model(client.get(f"/v1/receivables/open-items?party={payer}&as_of=2026-12-31", headers=operator), OpenItemsOut)
    assert items["total"] > 0 and all(i["payer"].lower() == payer for i in items["items"] if i["role"] == "payer")


def test_a_partys_answers_hold_only_its_own_records(served):  # type: ignore[no-untyped-def]
    client, sample, _ = served
    for entry in sample["parties"]:
        party, headers = entry["party"], {"Authorization": f"Bearer {entry['token']}"}
        own = set(entry["agreements"])
        agreements = _same_as_model(client.get("/v1/agreements?limit=500", headers=headers), list[AgreementOut])
        assert {a["address"].lower() for a in agreements} == own
        settlements = _same_as_model(client.get("/v1/settlements?limit=500", headers=headers), list[SettlementOut])
        assert {s["agreement"].lower() for s in settlements} == own
        for payment in _same_as_model(client.get("/v1/payments?limit=500", headers=headers), list[PaymentOut]):
            assert payment["agreement"].lower() in own
        items = _same_as_model(client.get(f"/v1/receivables/open-items?party={party}&as_of=2026-12-31", headers=headers), OpenItemsOut)
        assert {i["agreement"].lower() for i in items["items"]} <= own
        other = next(a for a in sample["parties"][0]["agreements"] + sample["parties"][1]["agreements"] if a not in own)
        assert client.get(f"/v1/agreements/{other}", headers=headers).status_code == 404
        assert client.get(f"/v1/settlements/{other}/0", headers=headers).status_code == 404


def test_models_still_document_the_answers(served):  # type: ignore[no-untyped-def]
    client, _, _ = served
    paths = client.get("/openapi.json").json()["paths"]

    def schema(path: str) -> Any:
        return paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]

    assert schema("/v1/agreements/{address}") == {"$ref": "#/components/schemas/AgreementDetail"}
    assert schema("/v1/settlements")["items"] == {"$ref": "#/components/schemas/SettlementOut"}
    assert schema("/v1/settlements/{agreement}/{period}") == {"$ref": "#/components/schemas/SettlementOut"}
    assert schema("/v1/receivables/open-items") == {"$ref": "#/components/schemas/OpenItemsOut"}
    assert schema("/v1/payments")["items"] == {"$ref": "#/components/schemas/PaymentOut"}
    assert issubclass(AgreementDetail, BaseModel)

"""An agreement's detail reads the agreement, its terms versions, usage and settlements by its address, together:
one round trip to PostgreSQL (libpq's protocol trace counts the client's Sync messages), and never another chain's
agreement at the same address mixed in (the detail is the one ``find_agreement`` picks, on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from receivables_testdata import agreement, settlement, terms_row

from gateway.api import create_app
from gateway.api.agreements import agreement_detail_rows, find_agreement
from gateway.database import open_database
from gateway.models import Usage
from settle.db import reading
from settle.terms import IntervalKind, Meter, Terms

TOKEN = "stl_trips-operator-token-0123456789"
ADDRESS = "0x" + "a7" * 20
TERMS = Terms(
    token="0x" + "00" * 20,
    currency="EUR",
    minor_digits=2,
    interval_kind=IntervalKind.CALENDAR_MONTH,
    interval=1,
    start=int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()),
    grace_seconds=0,
    payment_terms_days=14,
    dispute_window_seconds=86_400,
    minimum_commitment=0,
    meters=(Meter.per_unit(10),),
)


def _seed(factory: Any) -> None:
    """The same address on two chains: chain 31337's agreement first (periods 0-1), chain 1's after (period 5)."""
    with factory.begin() as session:
        for chain_id, periods, quantity in ((31337, (0, 1), 100), (1, (5,), 900)):
            row = agreement(session, ADDRESS, chain_id=chain_id)
            row.terms_version = 1
            terms_row(session, row, TERMS.pack())
            for period in periods:
                session.add(
                    Usage(
                        agreement_id=row.id,
                        period=period,
                        meter=0,
                        cumulative=quantity + period,
                        records_root="0x" + f"{period:064x}",
                        report_id="0x" + f"{chain_id:032x}{period:032x}",
                        updated_block=2,
                    )
                )
                settlement(session, row, period, (quantity + period) * 10, date(2026, 3, 1))


def test_the_detail_is_the_first_agreement_at_its_address_only(database_url: str) -> None:
    engine, factory = open_database(database_url)
    try:
        _seed(factory)
        client = TestClient(create_app(factory, write_token=TOKEN))
        answer = client.get(f"/v1/agreements/{ADDRESS}", headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["chain_id"] == 31337
        assert [(u["period"], u["cumulative"]) for u in body["usage"]] == [(0, 100), (1, 101)]
        assert [(s["period"], s["amount"]["minor_units"]) for s in body["settlements"]] == [(0, 1000), (1, 1010)]
        assert [v["version"] for v in body["versions"]] == [1] and body["outstanding"]["minor_units"] == 2010
        missing = client.get("/v1/agreements/0x" + "a8" * 20, headers={"Authorization": f"Bearer {TOKEN}"})
        assert missing.status_code == 404
    finally:
        engine.dispose()


def test_on_postgresql_the_detail_is_one_round_trip(postgres_url: str, tmp_path: Path) -> None:
    from psycopg import pq

    engine, factory = open_database(postgres_url)
    try:
        _seed(factory)
        with reading(), engine.connect() as conn:
            assert find_agreement(conn, ADDRESS) is not None  # the connection's set-up before the trace
            pgconn = conn.connection.driver_connection.pgconn  # type: ignore[union-attr]
            trace = tmp_path / "trace"
            with open(trace, "w") as out:
                pgconn.trace(out.fileno())
                pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
                found = agreement_detail_rows(conn, ADDRESS)
                pgconn.untrace()
        syncs = sum(1 for line in trace.read_text().splitlines() if line.split("\t")[:1] == ["F"] and "Sync" in line)
        assert syncs == 1
        assert found is not None and found.agreement.chain_id == 31337
        assert (len(found.versions), len(found.usage), len(found.settlements)) == (1, 2, 2)
    finally:
        engine.dispose()


def test_the_busiest_reads_are_matched_first(tmp_path: Path) -> None:
    """FastAPI tries the routes in order (1-2 µs each): an agreement's detail, the settlements and the open items
    are found before every other route but FastAPI's own documentation routes."""
    engine, factory = open_database(f"sqlite:///{tmp_path / 'g.db'}")
    try:
        app = create_app(factory)
        paths: list[str] = []
        for route in app.router.routes:
            router = getattr(route, "original_router", None)
            if router is not None:  # an included router: its routes (their paths with its prefix)
                paths.extend(getattr(r, "path", "") for r in router.routes)
        busiest = ["/v1/agreements/{address}", "/v1/settlements", "/v1/receivables/open-items"]
        positions = [paths.index(p) for p in busiest]
        assert max(positions) < paths.index("/health") < len(paths), (positions, len(paths))
        assert max(positions) < 12, positions  # behind a handful of their own routers' routes at most
    finally:
        engine.dispose()


def test_the_busiest_reads_solve_two_dependencies_at_most(tmp_path: Path) -> None:
    """FastAPI solves every dependency of a request afresh: an agreement's detail, the settlements and the open items
    take the caller, their connection and the API state from one (ReadDep, the bearer-token scheme itself), and the
    two lists their page from one more; the scheme still documents the bearer token in the OpenAPI document."""
    from gateway.api.deps import get_read

    engine, factory = open_database(f"sqlite:///{tmp_path / 'g.db'}")
    try:
        app = create_app(factory)

        found = {
            route.path: _solved(route.dependant)
            for route in _api_routes(app.router)
            if route.path in ("/v1/agreements/{address}", "/v1/settlements", "/v1/receivables/open-items")
        }
        assert set(found) == {"/v1/agreements/{address}", "/v1/settlements", "/v1/receivables/open-items"}
        assert found["/v1/agreements/{address}"] == [get_read], found
        for path in ("/v1/settlements", "/v1/receivables/open-items"):
            assert len(found[path]) == 2 and get_read in found[path], found
        operation = app.openapi()["paths"]["/v1/settlements"]["get"]
        assert operation["security"] == [{"bearerToken": []}], operation.get("security")
    finally:
        engine.dispose()


def test_only_async_routes_that_only_read_take_the_kept_connection(tmp_path: Path) -> None:
    """ReadDep hands out the process's kept connection (settle.db.KeptReader), which serves one read at a time in
    the event loop's thread: a ``def`` route would use it from a thread of the pool, beside the loop's reads, and a
    route that writes would write in the readers' autocommit."""
    import inspect

    from gateway.api.deps import get_read

    engine, factory = open_database(f"sqlite:///{tmp_path / 'g.db'}")
    try:
        app = create_app(factory)

        taking = [r for r in _api_routes(app.router) if get_read in _solved(r.dependant)]
        assert len(taking) >= 3, [r.path for r in taking]
        for route in taking:
            assert inspect.iscoroutinefunction(route.endpoint), route.path
            assert route.methods <= {"GET", "HEAD"}, (route.path, route.methods)
    finally:
        engine.dispose()


def _solved(dependant: Any) -> list[Any]:
    """What FastAPI calls for a route's dependencies, theirs included."""
    return [call for sub in dependant.dependencies for call in (sub.call, *_solved(sub))]


def _api_routes(router: Any) -> list[Any]:
    """The API routes of ``router``, those of the routers it includes too."""
    from fastapi.routing import APIRoute

    found = []
    for route in router.routes:
        if isinstance(route, APIRoute):
            found.append(route)
        inner = getattr(route, "original_router", None)
        if inner is not None:
            found.extend(_api_routes(inner))
    return found

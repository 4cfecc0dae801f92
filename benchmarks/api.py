#!/usr/bin/env python3
"""Authenticated reads of the gateway API (issue 15): agreement detail, its settlements, the party's open items.

    python benchmarks/api.py                          # SQLite, 10,000 agreements, 1 and 2 uvicorn workers, a table
    python benchmarks/api.py --json                   # {"runs": [{"workers": 1, "reads_per_s": …, "p99_ms": …}, …], …}
    python benchmarks/api.py --db postgres --workers 2 --seconds 20
    python benchmarks/api.py --db postgres --workers 2 --seconds 15 --repeat 5   # five runs, their spread

Untimed: a fresh database (``--db sqlite``: a file in a temporary folder; ``--db postgres``: a scratch database
``settle_bench_api_…`` on the server at 127.0.0.1:5432, trust auth, created from ``test`` and dropped afterwards) with
``--agreements`` fiat agreements (a payee has 20, a payer 5; parties with master data; one accepted terms version
each; 6 periods of usage and settlements — 4 paid, 2 open, every one invoiced, half with a payment instruction, a
quarter of the agreements in dunning). An API token with the scope ``read`` is issued (``gateway.portal.tokens``)
for each of ``--parties`` sampled parties, and one operator token.

The gateway API runs under uvicorn on loopback in ``--workers`` separate processes sharing one listening socket
(each process opens the database itself), which share the clients' connections evenly as ``settle gateway run
--workers`` does (``gateway.serving.ConnectionShares``). Every request carries an
``Authorization: Bearer`` token (a party's for 9 in 10 requests, the operator's for the rest), which the routes
resolve to a principal (401 for an invalid one): the figure includes authentication.

Timed: ``--clients`` concurrent clients (asyncio, keep-alive connections, a minimal HTTP/1.1 client so the load
generator spends little of the machine's two cores) for ``--seconds`` after a ``--warmup`` of 3 seconds (a freshly
started server's first seconds, its processes evening out the clients' connections, opening their pools, preparing
statements and looking the tokens up, are not the steady state measured), each sending, in
turn, ``GET /v1/agreements/{address}``, ``GET /v1/settlements?agreement={address}`` and
``GET /v1/receivables/open-items?party={party}`` for a random sampled party and one of its agreements. Reported per
worker count: ``reads_per_s`` (answered requests per second), ``p50_ms``, ``p99_ms``, ``statuses`` (every one must
be 200), ``server_cpu_ms_per_read`` (the workers' CPU time per answer: what the rate would be on idle cores is
about 1000 × cores / it), ``client_cpu_ms_per_read`` (the load generator's), ``reconnections`` (connections the
server closed to even out its processes' shares), ``database_cpu_ms_per_read`` (PostgreSQL's own: its processes' CPU
time per answer, when the server runs on this machine, which two cores serve too; None on SQLite, which runs inside
the workers) and the load average before and after. Targets: ≥ 1,000 reads/s and p99 ≤ 50 ms
at 50 clients on the 2-core machine, on SQLite and PostgreSQL.

``--repeat N`` measures each worker count N times on the same data and adds ``spread``: per worker count the
lowest and highest ``reads_per_s``, ``p50_ms`` and ``p99_ms`` and in how many runs every target was ``met``. The
two cores are saturated (server, PostgreSQL and load generator share them), so the latency follows the rate, and
anything else the machine runs meanwhile (a test run, a type check) shows in the p99 of the runs it overlaps.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

# Run as a script, this folder is sys.path[0], and its gateway.py would shadow the gateway package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

PG_ADMIN_URL = os.environ.get("SETTLE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CHAIN_ID = 31337
PER_PAYEE = 20
PER_PAYER = 5
PERIODS = 6
PAID_PERIODS = 4
OPERATOR_SHARE = 10  # one request in 10 with the operator's token
TARGETS = {"reads_per_s": (1_000.0, "min"), "p99_ms": (50.0, "max")}


def _address(prefix: int, n: int) -> str:
    return f"0x{prefix:02x}{n:038x}"


def payee_of(n: int, agreements: int) -> str:
    return _address(0x2E, n % max(1, agreements // PER_PAYEE))


def payer_of(n: int, agreements: int) -> str:
    return _address(0x11, n % max(1, agreements // PER_PAYER))


# -- the database ---------------------------------------------------------------------------------------------------


@contextmanager
def scratch_database(kind: str) -> Iterator[str]:
    """The URL of a fresh, empty database of ``kind`` (sqlite | postgres), removed afterwards."""
    from sqlalchemy import create_engine, make_url

    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="settle-api-bench-") as folder:
            yield f"sqlite:///{Path(folder) / 'gateway.db'}"
        return
    name = f"settle_bench_api_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        admin.dispose()


def _terms() -> Any:
    from settle.terms import IntervalKind, Meter, Terms

    return Terms(
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


def seed(url: str, agreements: int, sample: int, rng: random.Random) -> dict[str, Any]:
    """Fill the database; returns the sampled parties with their tokens and agreements, and the operator token."""
    from sqlalchemy import insert, select

    from gateway.database import open_database, unit_of_work
    from gateway.models import Agreement, DunningItem, IssuedInvoice, Party, PaymentInstruction, Settlement, TermsVersion, Usage
    from gateway.models.parties import PaymentMethodKind
    from gateway.portal import tokens
    from gateway.receivables.bulk import bulk_insert
    from settle.auth.principal import operator

    engine, factory = open_database(url)
    terms = _terms()
    packed = "0x" + terms.pack().hex()
    terms_hash = "0x" + terms.terms_hash().hex()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        with unit_of_work(factory, "bench") as session:
            parties = sorted({payee_of(n, agreements) for n in range(agreements)} | {payer_of(n, agreements) for n in range(agreements)})
            session.execute(
                insert(Party),
                [
                    {"chain_address": p, "legal_name": f"Party {i} GmbH", "city": "Berlin", "postal_code": "10115", "country": "DE"}
                    for i, p in enumerate(parties)
                ],
            )
            session.execute(
                insert(Agreement),
                [
                    {
                        "chain_id": CHAIN_ID,
                        "address": _address(0xA0, n),
                        "factory": "0x" + "fa" * 20,
                        "payer": payer_of(n, agreements),
                        "payee": payee_of(n, agreements),
                        "state": "active",
                        "service_status": "active",
                        "terms_version": 1,
                        "pending_version": 0,
                        "token": "0x" + "00" * 20,
                        "currency": "EUR",
                        "minor_digits": 2,
                        "next_period_to_settle": PERIODS,
                        "end_period": 0,
                        "created_block": 1,
                        "created_tx": "0x" + f"{n:064x}",
                        "updated_block": 1,
                    }
                    for n in range(agreements)
                ],
            )
            ids = dict(session.execute(select(Agreement.address, Agreement.id)).all())
            versions, usage, settlements, invoices, instructions, dunning = [], [], [], [], [], []
            for n in range(agreements):
                address, payer, payee = _address(0xA0, n), payer_of(n, agreements), payee_of(n, agreements)
                aid = ids[address]
                versions.append(
                    {
                        "agreement_id": aid,
                        "version": 1,
                        "terms_hash": terms_hash,
                        "packed": packed,
                        "status": "accepted",
                        "accepted_by": [payer, payee],
                        "effective_from_period": 0,
                        "proposed_block": 1,
                        "vat_category": "O",
                        "vat_rate": 0,
                    }
                )
                for period in range(PERIODS):
                    quantity = 1_000 + (n * 13 + period * 7) % 5_000
                    amount = quantity * 10
                    paid = period < PAID_PERIODS
                    billed = start + timedelta(days=30 * period + 30)
                    due = billed + timedelta(days=14)
                    key = f"{n}-{period}"
                    usage.append(
                        {
                            "agreement_id": aid,
                            "period": period,
                            "meter": 0,
                            "cumulative": quantity,
                            "records_root": "0x" + f"{n:032x}{period:032x}",
                            "report_id": "0x" + f"{period:032x}{n:032x}",
                            "updated_block": 2 + period,
                        }
                    )
                    settlements.append(
                        {
                            "agreement_id": aid,
                            "period": period,
                            "amount": amount,
                            "net": amount,
                            "vat": 0,
                            "paid": amount if paid else (amount // 4 if n % 7 == 3 else 0),
                            "due_at": due,
                            "terms_version": 1,
                            "status": "paid" if paid else ("partially_paid" if n % 7 == 3 else "due"),
                            "disputed": 0,
                            "token_pull_failures": 0,
                            "settled_block": 10 + period,
                            "settled_tx": "0x" + "ab" * 32,
                            "seen_at": billed,
                            "updated_block": 10 + period,
                        }
                    )
                    invoices.append(
                        {
                            "number": f"RE-{key}",
                            "issuer": payee,
                            "buyer": payer,
                            "series_scope": "",
                            "seq": len(invoices) + 1,
                            "chain_id": CHAIN_ID,
                            "agreement": address,
                            "period": period,
                            "type_code": "380",
                            "source_key": f"settlement:{key}",
                            "kind": "settlement",
                            "issue_date": billed.date(),
                            "due_date": due.date(),
                            "currency": "EUR",
                            "net": amount,
                            "vat": 0,
                            "gross": amount,
                            "vat_category": "O",
                            "vat_rate": 0,
                            "document_hash": f"0x{len(invoices):064x}",
                            "number_hash": "0x" + "00" * 32,
                            "anchor_state": "off",
                        }
                    )
                    if paid:
                        continue
                    if n % 2 == 0:
                        instructions.append(
                            {
                                "chain_id": CHAIN_ID,
                                "agreement": address,
                                "period": period,
                                "method": PaymentMethodKind.SEPA_CREDIT_TRANSFER,
                                "amount": amount,
                                "currency": "EUR",
                                "currency_digits": 2,
                                "due_date": due.date(),
                                "end_to_end_id": f"E2E-{key}",
                                "creditor_reference": f"RF{n:08d}{period:04d}",
                                "paid_amount": 0,
                                "returned_amount": 0,
                            }
                        )
                    if n % 4 == 1:
                        dunning.append({"chain_id": CHAIN_ID, "agreement": address, "period": period, "level": 1, "fee": 4_000})
            session.execute(insert(TermsVersion), versions)
            bulk_insert(session, Usage, usage)
            session.execute(insert(Settlement), settlements)
            session.execute(insert(IssuedInvoice), invoices)
            session.execute(insert(PaymentInstruction), instructions)
            session.execute(insert(DunningItem), dunning)
        # the sample: payees and payers alike, each with the agreements it is a party of
        of: dict[str, list[str]] = {}
        for n in range(agreements):
            of.setdefault(payee_of(n, agreements), []).append(_address(0xA0, n))
            of.setdefault(payer_of(n, agreements), []).append(_address(0xA0, n))
        sampled = rng.sample(sorted(of), min(sample, len(of)))
        with unit_of_work(factory, "bench") as session:
            issued = {
                party: tokens.issue(session, operator("bench"), owner=party, scopes=frozenset({"read"}), label="bench").token
                for party in sampled
            }
            op = tokens.issue(session, operator("bench"), owner=None, scopes=frozenset({"operator"}), label="bench operator").token
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE")
                conn.commit()
    finally:
        engine.dispose()
    return {"parties": [{"party": p, "token": issued[p], "agreements": of[p]} for p in sampled], "operator": op}


# -- the server -----------------------------------------------------------------------------------------------------


def make_app(url: str) -> Any:
    """The gateway API over ``url`` as ``settle gateway run`` serves it (:mod:`gateway.serving`)."""
    from gateway.api import create_app
    from gateway.database import open_database
    from gateway.serving import serve as serve_app

    _, factory = open_database(url, upgrade=False)
    return serve_app(create_app(factory), factory)


def serve(url: str, fd: int, shares: str, slot: int, workers: int) -> None:
    """One uvicorn worker on the inherited listening socket ``fd`` (the parent binds it, as uvicorn's supervisor does),
    sharing connections evenly with the other workers through the counts at ``shares``, as ``settle gateway run
    --workers`` does."""
    import uvicorn

    from gateway.serving import ConnectionShares, before_serving, uvicorn_config, uvicorn_connections

    # Not uvicorn's ``fd=``: it takes the descriptor for a Unix socket, so asyncio leaves TCP_NODELAY off on every
    # accepted connection, and each answer's second write (the body) waits for the client's delayed ACK: 40 ms per
    # request whatever the server does. ``socket(fileno=…)`` reads the family off the descriptor, as
    # ``settle gateway run --workers`` hands its bound socket to uvicorn.
    sock = socket.socket(fileno=fd)
    app = make_app(url)
    server = uvicorn.Server(uvicorn_config(app, lifespan="off"))
    if workers > 1:
        app.balance(ConnectionShares.attach(shares, workers, slot), uvicorn_connections(server))
    before_serving()
    server.run(sockets=[sock])


@dataclass
class Server:
    port: int
    shares: Any = None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.shares is not None:
            self.shares.close()


def start_server(url: str, workers: int) -> Server:
    from gateway.serving import ConnectionShares

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    sock.set_inheritable(True)
    shares = ConnectionShares.create(workers)
    server = Server(sock.getsockname()[1], shares=shares)
    env = {**os.environ, "PYTHONPATH": str(_HERE.parent) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for slot in range(workers):
        server.processes.append(
            subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--serve", url, "--fd", str(sock.fileno()), "--shares", str(shares.path)]
                + ["--slot", str(slot), "--workers", str(workers)],
                pass_fds=(sock.fileno(),),
                env=env,
            )
        )
    sock.close()  # the workers hold it
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in server.processes):
            server.stop()
            raise RuntimeError("a gateway API worker exited at start")
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=1) as probe:
                probe.sendall(b"GET /health HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                if probe.recv(64).startswith(b"HTTP/1.1 200"):
                    # every worker must be up: give the others the time the first one needed at most
                    time.sleep(0.5 if workers > 1 else 0)
                    return server
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError("the gateway API did not answer /health within 60 s")


# -- the load -------------------------------------------------------------------------------------------------------


class _Answers(asyncio.Protocol):
    """The client side of one keep-alive connection: its bytes gathered until the awaited answer is whole (a head,
    then a body of Content-Length bytes, or chunked). A protocol, not asyncio streams: the load generator shares the
    machine's two cores with the server, and streams cost it about twice the CPU per answer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes, bool]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a TCP connection's: an asyncio.Transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is not None and not self.waiter.done() and (answer := self._answer()) is not None:
            self.waiter.set_result(answer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"the server closed the connection mid-answer ({exc})"))

    def _answer(self) -> tuple[int, bytes, bool] | None:
        """(status, body, the server closes the connection) once the buffer holds a whole answer, which leaves it."""
        buffer = self.buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(buffer[:end]).lower()
        status = int(head[9:12])
        start = end + 4
        at = head.find(b"\r\ncontent-length:")
        if at >= 0:
            line_end = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : line_end if line_end >= 0 else len(head)])
            if len(buffer) < start + length:
                return None
            body, rest = bytes(buffer[start : start + length]), start + length
        else:  # chunked
            chunks, at = [], start
            while True:
                line_end = buffer.find(b"\r\n", at)
                if line_end < 0:
                    return None
                size = int(buffer[at:line_end], 16)
                if len(buffer) < line_end + 2 + size + 2:
                    return None
                chunks.append(bytes(buffer[line_end + 2 : line_end + 2 + size]))
                at = line_end + 2 + size + 2
                if size == 0:
                    break
            body, rest = b"".join(chunks), at
        del buffer[:rest]
        return status, body, b"\r\nconnection: close" in head


class Connection:
    """A keep-alive HTTP/1.1 connection that sends GETs and reads answers with Content-Length (or chunked)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.answers: _Answers | None = None
        self.closed_by_server = 0

    async def get(self, path: str, token: str) -> tuple[int, bytes]:
        loop = asyncio.get_running_loop()
        if self.answers is None or self.answers.transport is None:
            _, self.answers = await loop.create_connection(_Answers, "127.0.0.1", self.port)
        answers = self.answers
        assert answers.transport is not None
        answers.waiter = loop.create_future()
        answers.transport.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
        status, body, closing = await answers.waiter
        if closing:
            self.closed_by_server += 1
            await self.close()
        return status, body

    async def close(self) -> None:
        if self.answers is not None and self.answers.transport is not None:
            self.answers.transport.close()
        self.answers = None


async def _load(port: int, sample: dict[str, Any], clients: int, seconds: float, warmup: float, seed: int) -> dict[str, Any]:
    parties = sample["parties"]
    latencies: list[float] = []
    answered = [0]  # every answer, the warm-up's too (the server's CPU time is taken over both)
    statuses: dict[int, int] = {}
    reconnections = [0]
    bad: list[str] = []
    started = time.perf_counter()
    measure_from = started + warmup
    stop_at = measure_from + seconds

    async def client(number: int) -> None:
        rng = random.Random(seed * 1_000 + number)
        connection = Connection(port)
        turn = number
        try:
            while True:
                party = parties[rng.randrange(len(parties))]
                address = party["agreements"][rng.randrange(len(party["agreements"]))]
                token = sample["operator"] if rng.randrange(OPERATOR_SHARE) == 0 else party["token"]
                route = turn % 3
                turn += 1
                if route == 0:
                    path = f"/v1/agreements/{address}"
                elif route == 1:
                    path = f"/v1/settlements?agreement={address}"
                else:
                    path = f"/v1/receivables/open-items?party={party['party']}&as_of=2026-12-31"
                sent = time.perf_counter()
                if sent >= stop_at:
                    return
                status, body = await connection.get(path, token)
                done = time.perf_counter()
                answered[0] += 1
                if sent >= measure_from:
                    latencies.append(done - sent)
                    statuses[status] = statuses.get(status, 0) + 1
                    if status != 200 and len(bad) < 5:
                        bad.append(f"{status} {path}: {body[:200]!r}")
        finally:
            await connection.close()
            reconnections[0] += connection.closed_by_server

    await asyncio.gather(*(client(i) for i in range(clients)))
    elapsed = time.perf_counter() - measure_from
    latencies.sort()

    def quantile(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 1) if latencies else 0.0

    return {
        "requests": len(latencies),
        "reads_per_s": round(len(latencies) / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": quantile(0.50),
        "p99_ms": quantile(0.99),
        "max_ms": round(latencies[-1] * 1000, 1) if latencies else 0.0,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "all_ok": bool(latencies) and set(statuses) == {200},
        "errors": bad,
        "reconnections": reconnections[0],
        "answered": answered[0],
    }


def _client_loop() -> Any:
    """The load generator's event loop: uvloop's (as the server's: uvicorn[standard] brings it), asyncio's without."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time of processes (Linux /proc; 0 elsewhere)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def _database_cpu(kind: str) -> dict[int, float] | None:
    """The CPU seconds of each of the local PostgreSQL server's processes (Linux /proc: those named ``postgres``),
    None on SQLite or when there are none to see (a server elsewhere, another system)."""
    if kind != "postgres":
        return None
    found = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if (entry / "comm").read_text().strip() == "postgres":
                found[int(entry.name)] = _cpu_seconds([int(entry.name)])
        except OSError:
            continue
    return found or None


def _database_ms(before: dict[int, float] | None, after: dict[int, float] | None, answered: int) -> float | None:
    """PostgreSQL's CPU time per answer over a run: the connections the workers open during it are processes born
    during it, counted from nothing."""
    if before is None or after is None:
        return None
    spent = sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())
    return round(spent * 1000 / answered, 2)


def measure(url: str, sample: dict[str, Any], workers: int, args: argparse.Namespace) -> dict[str, Any]:
    """One run: the server's CPU time per answered request (a figure that moves less with the machine's load than
    the rate does) next to the rate, the latencies and the load average."""
    server = start_server(url, workers)
    pids = [p.pid for p in server.processes]
    try:
        load_before = os.getloadavg()[0]
        cpu_before, own_before = _cpu_seconds(pids), time.process_time()
        db_before = _database_cpu(args.db)
        with asyncio.Runner(loop_factory=_client_loop()) as runner:
            result = runner.run(_load(server.port, sample, args.clients, args.seconds, args.warmup, args.seed))
        cpu_after, own_after = _cpu_seconds(pids), time.process_time()
        db_after = _database_cpu(args.db)
        load_after = os.getloadavg()[0]
    finally:
        server.stop()
    answered = max(1, result.pop("answered"))
    return {
        "workers": workers,
        **result,
        "server_cpu_ms_per_read": round((cpu_after - cpu_before) * 1000 / answered, 2),
        "client_cpu_ms_per_read": round((own_after - own_before) * 1000 / answered, 2),
        "database_cpu_ms_per_read": _database_ms(db_before, db_after, answered),
        "load_before": round(load_before, 2),
        "load_after": round(load_after, 2),
    }


def within(name: str, value: float) -> bool:
    """Whether ``value`` of figure ``name`` meets its target (:data:`TARGETS`)."""
    target, kind = TARGETS[name]
    return value >= target if kind == "min" else value <= target


def met(run: dict[str, Any]) -> bool:
    """Whether one run met every target (:data:`TARGETS`) and answered every request with 200."""
    return run["all_ok"] and all(within(name, run[name]) for name in TARGETS)


def spread(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per worker count, over its runs (``--repeat``): how many, the lowest and highest rate, p50 and p99, and in
    how many runs every target was met. A figure of one run is one draw: on a shared machine the next may differ."""
    out = []
    for workers in sorted({r["workers"] for r in runs}):
        mine = [r for r in runs if r["workers"] == workers]
        out.append(
            {
                "workers": workers,
                "runs": len(mine),
                **{name: [min(r[name] for r in mine), max(r[name] for r in mine)] for name in ("reads_per_s", "p50_ms", "p99_ms")},
                "met": sum(met(r) for r in mine),
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite", help="database (default sqlite)")
    parser.add_argument("--agreements", type=int, default=10_000, help="agreements in the database (10,000)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per worker count (10)")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds first (3)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (50)")
    parser.add_argument("--workers", default="1,2", help="uvicorn worker processes to try, comma-separated (1,2)")
    parser.add_argument("--parties", type=int, default=200, help="sampled parties with a read token (200)")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs per worker count, on the same data (1): their spread, in how many the targets were met",
    )
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument("--serve", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--shares", help=argparse.SUPPRESS)
    parser.add_argument("--slot", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.fd, args.shares, args.slot, int(args.workers))
        return
    if args.repeat < 1:
        parser.error(f"--repeat {args.repeat}: at least 1 run per worker count")
    workers = [int(w) for w in str(args.workers).split(",") if w.strip()]
    rng = random.Random(args.seed)
    with scratch_database(args.db) as url:
        began = time.perf_counter()
        sample = seed(url, args.agreements, args.parties, rng)
        seeded_s = round(time.perf_counter() - began, 1)
        if not args.json:
            print(
                f"{'postgresql' if args.db == 'postgres' else 'sqlite'}, {args.agreements:,} agreements, {args.clients} clients, "
                f"{args.seconds:g} s per run after {args.warmup:g} s of warm-up (seeded in {seeded_s} s)",
                flush=True,
            )
        runs = []
        for w in workers:
            for _ in range(args.repeat):
                runs.append(measure(url, sample, w, args))
                if not args.json:
                    _print_run(runs[-1])
    best = max(runs, key=lambda r: r["reads_per_s"])
    out = {
        "database": "postgresql" if args.db == "postgres" else "sqlite",
        "agreements": args.agreements,
        "clients": args.clients,
        "seconds": args.seconds,
        "warmup_s": args.warmup,
        "cpus": os.cpu_count(),
        "seed_s": seeded_s,
        "reads_per_s": best["reads_per_s"],
        "p50_ms": best["p50_ms"],
        "p99_ms": best["p99_ms"],
        "workers": best["workers"],
        "all_ok": all(r["all_ok"] for r in runs),
        "runs": runs,
        "spread": spread(runs),
        "date": date.today().isoformat(),
    }
    if args.json:
        print(json.dumps(out))
        return
    if args.repeat > 1:
        for row in out["spread"]:
            rate, p50, p99 = row["reads_per_s"], row["p50_ms"], row["p99_ms"]
            print(
                f"  {row['workers']} worker(s), {row['runs']} runs: {rate[0]:,.1f} – {rate[1]:,.1f} reads/s  p50 {p50[0]} – {p50[1]} ms  "
                f"p99 {p99[0]} – {p99[1]} ms  targets met in {row['met']} of {row['runs']}"
            )
        return
    for name, (target, kind) in TARGETS.items():
        value = out[name]
        print(f"  {name} {value} ({'≥' if kind == 'min' else '≤'} {target:g}): {'ok' if within(name, value) else 'MISSED'}")


def _print_run(r: dict[str, Any]) -> None:
    print(
        f"  {r['workers']} worker(s): {r['reads_per_s']:>8,.1f} reads/s  p50 {r['p50_ms']:>6.1f} ms  p99 {r['p99_ms']:>6.1f} ms  "
        f"server CPU {r['server_cpu_ms_per_read']} ms/read"
        + (f" (PostgreSQL {r['database_cpu_ms_per_read']})" if r["database_cpu_ms_per_read"] is not None else "")
        + f"  statuses {r['statuses']}  reconnections {r['reconnections']}  "
        f"load {r['load_before']} → {r['load_after']}",
        flush=True,
    )
    for error in r["errors"]:
        print(f"    {error}", flush=True)


if __name__ == "__main__":
    main()

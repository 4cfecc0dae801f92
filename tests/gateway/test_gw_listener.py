"""The chain listener against a real anvil: the read model mirrors the chain (agreements, terms versions, usage,
settlements, payment and service status), applying is idempotent, restarts resume from the cursor, and reorgs
(anvil snapshot/revert) are followed — on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses

from gateway_chainkit import HOUR, create, deploy, hourly_terms, report
from sqlalchemy import func, select

from gateway.chain.listener import ChainListener
from gateway.chain.readmodel import Projector
from gateway.database import open_database
from gateway.models import Agreement, ChainEvent, Settlement, TermsVersion, Usage
from settle.chaintypes import AgreementStatus
from settle.terms import Meter

PAYMENT_STATUS = ("none", "due", "partially_paid", "paid", "returned", "disputed", "written_off")


def _listener(factory, kit, confirmations: int = 0, batch_blocks: int = 2_000) -> ChainListener:  # type: ignore[no-untyped-def]
    return ChainListener(
        factory,
        kit.chain.rpc(),
        chain_id=kit.chain.chain_id,
        factory_address=kit.factory.address,
        confirmations=confirmations,
        batch_blocks=batch_blocks,
    )


def _mirror_matches_chain(factory, kit) -> None:  # type: ignore[no-untyped-def]
    """Every agreement's state, usage and settlements in the read model equal what the contract's views say."""
    chain = kit.chain
    with factory() as session:
        for row in session.scalars(select(Agreement)):
            contract = kit.agreement(row.address)
            status = chain.call(contract.functions.status())
            assert row.state == ("proposed", "active", "paused", "terminated")[status[0]]
            assert row.service_status == ("active", "restricted", "suspended")[status[1]]
            assert row.terms_version == status[2]
            assert row.next_period_to_settle == status[7]
            for usage in session.scalars(select(Usage).where(Usage.agreement_id == row.id)):
                assert usage.cumulative == chain.call(contract.functions.usage(usage.period, usage.meter))
            settled = {s.period: s for s in session.scalars(select(Settlement).where(Settlement.agreement_id == row.id))}
            assert sorted(settled) == list(range(status[7]))
            for period, settlement in settled.items():
                amount, paid, _, payment_status, version, _ = chain.call(contract.functions.settlement(period))
                assert (settlement.amount, settlement.paid, settlement.status, settlement.terms_version) == (
                    amount,
                    paid,
                    PAYMENT_STATUS[payment_status],
                    version,
                )


def test_read_model_mirrors_the_chain_and_resumes(chain, dev, database_url):
    kit = deploy(chain, with_token=True)
    now = dev.now()
    start = now - now % HOUR - 3 * HOUR
    fiat_terms = hourly_terms(start, minimum=500)
    fiat = create(kit, fiat_terms, 1)
    token = create(kit, hourly_terms(start, token=kit.token.address), 2, pair=1)
    report(kit, fiat, 0, 1234, 1)
    report(kit, fiat, 0, 2000, 2)
    report(kit, token, 0, 77, 3)
    engine, factory = open_database(database_url)
    try:
        listener = _listener(factory, kit, batch_blocks=7)  # several ranges
        first = listener.catch_up()
        assert first > 10

        # more happens on-chain: settlements, a payment, a token pull that fails, an amendment, service status
        payee, gateway = kit.payees[0], kit.gateway
        fiat_contract = kit.agreement(fiat)
        for period in (0, 1):
            chain.transact(fiat_contract.functions.settle(period), payee)
        chain.transact(fiat_contract.functions.confirmPayment(0, 20_000, b"\x01" * 32), gateway)
        chain.transact(fiat_contract.functions.confirmPayment(1, 100, b"\x02" * 32), gateway)
        chain.transact(fiat_contract.functions.reportReturn(1, 100, b"AM04", b"\x03" * 32), gateway)
        chain.transact(kit.agreement(token).functions.settle(0), kit.payees[1])  # no allowance: TokenPullFailed
        amended = dataclasses.replace(fiat_terms, meters=(Meter.per_unit(20),))
        chain.transact(fiat_contract.functions.proposeAmendment(amended.to_abi()), kit.payers[0])
        chain.transact(fiat_contract.functions.accept(2, amended.terms_hash()), payee)
        chain.transact(fiat_contract.functions.setServiceStatus(1, b"\x04" * 32), gateway)

        # a new listener (a restart) continues from the cursor
        restarted = _listener(factory, kit)
        assert restarted.cursor()[0] == listener.cursor()[0]
        second = restarted.catch_up()
        assert second >= 9
        _mirror_matches_chain(factory, kit)
        with factory() as session:
            assert session.scalar(select(func.count()).select_from(ChainEvent)) == first + second
            fiat_row = session.scalar(select(Agreement).where(Agreement.address == fiat.lower()))
            assert fiat_row.service_status == "restricted" and fiat_row.terms_version == 2
            versions = {v.version: (v.status, v.effective_from_period) for v in session.scalars(select(TermsVersion))}
            assert versions[2][0] == "accepted" and versions[2][1] >= 1
            returned = session.scalar(select(Settlement).where(Settlement.agreement_id == fiat_row.id, Settlement.period == 1))
            assert returned.status == "returned" and returned.last_return_reason == "AM04" and returned.paid == 0
            token_row = session.scalar(select(Agreement).where(Agreement.address == token.lower()))
            pulled = session.scalar(select(Settlement).where(Settlement.agreement_id == token_row.id))
            assert pulled.token_pull_failures == 1 and pulled.status == "due"
            usage = session.scalar(select(Usage).where(Usage.agreement_id == fiat_row.id))
            assert usage.cumulative == 2000

        # applying the same logs again (a range read twice) changes nothing
        logs = restarted.rpc.logs(0, chain.w3.eth.block_number, restarted.topics)
        decoded = [lg for lg in (restarted.decoder.decode(item) for item in logs) if lg is not None]
        with factory.begin() as session:
            assert Projector(session, chain.chain_id, kit.factory.address).apply_all(decoded) == 0
        _mirror_matches_chain(factory, kit)
        assert restarted.catch_up() == 0
    finally:
        engine.dispose()


def test_reorg_is_detected_and_the_read_model_follows_the_new_chain(chain, dev, database_url):
    kit = deploy(chain)
    now = dev.now()
    start = now - now % HOUR - 2 * HOUR
    fiat = create(kit, hourly_terms(start), 1)
    engine, factory = open_database(database_url)
    try:
        listener = _listener(factory, kit)
        listener.catch_up()
        fork = dev.snapshot()
        contract = kit.agreement(fiat)
        report(kit, fiat, 0, 500, 1)
        chain.transact(contract.functions.settle(0), kit.payees[0])
        listener.catch_up()
        with factory() as session:
            assert session.scalar(select(Settlement.amount)) == 5_000

        # the chain reorganises: the blocks above the fork are replaced by others
        dev.revert(fork)
        report(kit, fiat, 0, 300, 9)
        dev.mine()
        chain.transact(contract.functions.settle(0), kit.payees[0])
        chain.transact(contract.functions.settle(1), kit.payees[0])
        result = listener.poll()
        assert result.reorg_to is not None and result.reorg_to < chain.w3.eth.block_number
        listener.catch_up()
        _mirror_matches_chain(factory, kit)
        with factory() as session:
            assert [s.amount for s in session.scalars(select(Settlement).order_by(Settlement.period))] == [3_000, 0]
            assert session.scalar(select(Usage.cumulative)) == 300
            stored = set(session.execute(select(ChainEvent.block_number, ChainEvent.block_hash)).all())
        for number, block_hash in stored:  # every applied event comes from a block of the new chain
            assert "0x" + bytes(chain.w3.eth.get_block(number)["hash"]).hex() == block_hash
    finally:
        engine.dispose()


def test_confirmation_depth_hides_blocks_a_reorg_replaces(chain, dev, sqlite_db):
    """With depth 3, the last 2 blocks are never applied; replacing them (snapshot/revert) leaves no trace."""
    depth = 3
    kit = deploy(chain)
    now = dev.now()
    start = now - now % HOUR - 2 * HOUR
    fiat = create(kit, hourly_terms(start), 1)
    for _ in range(depth):
        dev.mine()
    listener = _listener(sqlite_db.factory, kit, confirmations=depth)
    listener.catch_up()
    fork = dev.snapshot()
    report(kit, fiat, 0, 111, 1)  # depth - 1 = 2 blocks that will be replaced
    chain.transact(kit.agreement(fiat).functions.settle(0), kit.payees[0])
    listener.catch_up()
    with sqlite_db.factory() as session:
        assert session.scalar(select(func.count()).select_from(Usage)) == 0  # not confirmed yet: not applied
        assert session.scalar(select(func.count()).select_from(Settlement)) == 0

    dev.revert(fork)
    report(kit, fiat, 0, 222, 2)
    chain.transact(kit.agreement(fiat).functions.settle(0), kit.payees[0])
    for _ in range(depth):
        dev.mine()
    assert listener.poll().reorg_to is None  # nothing it had applied was replaced
    listener.catch_up()
    _mirror_matches_chain(sqlite_db.factory, kit)
    with sqlite_db.factory() as session:
        assert session.scalar(select(Usage.cumulative)) == 222
        assert session.scalar(select(Settlement.amount)) == 2_220


def test_versions_and_ends_follow_the_contract_rules(chain, dev, database_url):
    """Proposal numbers are never reused (a replaced or rejected proposal keeps its own), and an end set by notice
    stays when an amendment with a later end is accepted afterwards: the read model follows the events, not the
    amendment's terms."""
    kit = deploy(chain)
    now = dev.now()
    start = now - now % HOUR - HOUR
    terms = hourly_terms(start)
    address = create(kit, terms, salt=71)
    contract = kit.agreement(address)
    payer, payee = kit.payers[0], kit.payees[0]
    later = dataclasses.replace(terms, end=start + 100 * HOUR)
    cheaper = dataclasses.replace(terms, meters=(Meter.per_unit(9),))
    chain.transact(contract.functions.proposeAmendment(cheaper.to_abi()), payee)  # v2
    chain.transact(contract.functions.proposeAmendment(later.to_abi()), payee)  # v3 replaces v2
    chain.transact(contract.functions.giveNotice(), payer)  # notice: ends before period 2 (no notice time)
    chain.transact(contract.functions.accept(3, later.terms_hash()), payer)  # both accepted v3: end must stay
    chain.transact(contract.functions.proposeAmendment(cheaper.to_abi()), payer)  # v4 (same terms as v2)
    chain.transact(contract.functions.rejectAmendment(), payee)
    engine, factory = open_database(database_url)
    try:
        listener = ChainListener(factory, chain.rpc(), chain_id=chain.chain_id, factory_address=kit.factory.address)
        listener.catch_up()
        end_period = AgreementStatus.decode(chain.call(contract.functions.status())).end_period
        with factory() as session:
            row = session.scalars(select(Agreement).where(Agreement.address == address.lower())).one()
            versions = {v.version: v.status for v in session.scalars(select(TermsVersion).where(TermsVersion.agreement_id == row.id))}
            assert versions == {1: "accepted", 2: "replaced", 3: "accepted", 4: "rejected"}
            assert row.terms_version == 3 and row.pending_version == 0
            assert row.end_period == end_period == 2
    finally:
        engine.dispose()


def test_usage_and_settlements_become_domain_events_delivered_to_webhooks(chain, dev, database_url):
    """The listener records usage.reported and settlement.created once per fact (a range applied twice, a restart,
    add none), and a subscription to settlement.created gets a signed delivery on a real loopback receiver."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from gateway.database import unit_of_work
    from gateway.models import DomainEvent
    from gateway.webhooks import subscriptions
    from gateway.webhooks.dispatch import Dispatcher
    from settle import webhooks as signing

    got: list[tuple[dict, str | None]] = []
    secret: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                signing.verify(secret["payee"], raw, self.headers.get(signing.HEADER))
                error = None
            except signing.SignatureError as exc:
                error = str(exc)
            got.append((json.loads(raw), error))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    kit = deploy(chain)
    now = dev.now()
    start = now - now % HOUR - 3 * HOUR
    fiat = create(kit, hourly_terms(start, minimum=500), 1)
    payee = kit.payees[0].address.lower()
    engine, factory = open_database(database_url)
    try:
        with unit_of_work(factory, "test") as session:
            created = subscriptions.create(
                session,
                owner=payee,
                url=f"http://127.0.0.1:{server.server_address[1]}/hook",
                event_types=["settlement.created"],
                created_by="test",
            )
            secret["payee"] = created.secret
        report(kit, fiat, 0, 1234, 1)
        report(kit, fiat, 0, 2000, 2)
        chain.transact(kit.agreement(fiat).functions.settle(0), kit.payees[0])
        listener = _listener(factory, kit, batch_blocks=3)
        listener.catch_up()
        logs = listener.rpc.logs(0, chain.w3.eth.block_number, listener.topics)
        decoded = [lg for lg in (listener.decoder.decode(item) for item in logs) if lg is not None]
        with factory.begin() as session:  # the same logs again, without the stored-event guard: no new facts
            Projector(session, chain.chain_id, kit.factory.address).apply_all(decoded, store=False)
        with factory() as session:
            events = list(session.scalars(select(DomainEvent).order_by(DomainEvent.id)))
        usage = [e for e in events if e.kind == "usage.reported"]
        settled = [e for e in events if e.kind == "settlement.created"]
        assert [(e.period, e.payload["meter"], e.payload["previous"], e.payload["cumulative"]) for e in usage] == [
            (0, 0, 0, 1234),
            (0, 0, 1234, 2000),
        ]
        assert len(settled) == 1 and settled[0].agreement == fiat.lower() and settled[0].period == 0
        assert settled[0].payee == payee and settled[0].payer == kit.payers[0].address.lower()
        with factory() as session:
            row = session.scalar(select(Settlement))
        assert settled[0].payload["amount"] == row.amount > 0 and settled[0].payload["net"] + settled[0].payload["vat"] == row.amount

        work = Dispatcher(factory, timeout=5)
        try:
            deliveries, sent = work.run_once()
        finally:
            work.close()
        assert deliveries == 1 and len(sent.delivered) == 1
        ((body, error),) = got
        assert error is None and body["type"] == "settlement.created" and body["id"] == settled[0].id
        assert body["data"]["agreement"] == fiat.lower() and body["data"]["payload"]["amount"] == row.amount
    finally:
        server.shutdown()
        server.server_close()
        engine.dispose()

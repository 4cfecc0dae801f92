"""Wiring of a gateway process: database, chain, signer, listener, keeper, payments, bank and chain-transaction
workers, and the HTTP API — for ``settle gateway run``, the demo and the tests.

:meth:`Gateway.step` runs one round of every enabled worker in flow order (listener → keeper → chain
transactions → payment instructions and files → upload → statements → chain transactions) and says what
happened; :meth:`Gateway.run` runs the workers in threads next to the API until stopped.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from gateway import payments, statements
from gateway.bank import FileBankConnector
from gateway.chaintx import ChainTxWorker, Outcome
from gateway.database import open_database, unit_of_work
from gateway.faults import crashpoint
from gateway.initiation import record_settlements
from gateway.keeper import Keeper
from gateway.listener import ChainListener
from gateway.settings import GatewaySettings
from settle.chain import Chain
from settle.deployments import Deployments
from settle.errors import ChainError, ConfigError, SettleError
from settle.networks import Network, get_network

log = logging.getLogger("settle.gateway")


@dataclass
class StepReport:
    """What one round did (empty when there was nothing to do)."""

    events: int = 0
    reorg_to: int | None = None
    queued: list[str] = field(default_factory=list)
    transactions: list[Outcome] = field(default_factory=list)
    instructions: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    uploaded: list[str] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: What happened, in the order it happened (``describe`` of each worker's part).
    lines: list[str] = field(default_factory=list)

    @property
    def busy(self) -> bool:
        return bool(
            self.events
            or self.reorg_to is not None
            or self.queued
            or any(o.result == "done" for o in self.transactions)
            or self.instructions
            or self.files
            or self.uploaded
            or self.statements
        )

    def merge(self, other: StepReport) -> None:
        self.events += other.events
        self.reorg_to = other.reorg_to if other.reorg_to is not None else self.reorg_to
        for name in ("queued", "transactions", "instructions", "files", "uploaded", "statements", "problems", "lines"):
            getattr(self, name).extend(getattr(other, name))


class Gateway:
    """One gateway process (see the module docstring). Parts are built on first use."""

    def __init__(self, settings: GatewaySettings, *, chain: Chain | None = None, signer: LocalAccount | None = None):
        self.settings = settings
        self._chain = chain
        self._signer = signer
        self._network: Network | None = None
        self._engine: Engine | None = None
        self._factory: sessionmaker[Session] | None = None
        self._listener: ChainListener | None = None
        self._chain_tx: ChainTxWorker | None = None
        self._reported: set[str] = set()
        self.worker = settings.worker or f"{socket.gethostname()}:{os.getpid()}"

    # -- parts -------------------------------------------------------------------------------------------------------

    @property
    def network(self) -> Network:
        if self._network is None:
            name = self.settings.network or None
            try:
                self._network = get_network(name)
            except SettleError:
                raise
            except Exception as exc:  # noqa: BLE001 - an RPC URL that does not answer (urllib, socket errors)
                raise ChainError(f"cannot reach the chain at {name}: {getattr(exc, 'reason', exc)}") from None
        return self._network

    @property
    def chain(self) -> Chain:
        if self._chain is None:
            net = self.network
            self._chain = Chain.connect(net.rpc_url, expected_chain_id=net.chain_id)
        return self._chain

    @property
    def confirmations(self) -> int:
        if self.settings.confirmations is not None:
            return self.settings.confirmations
        return self.network.confirmations

    def db(self) -> tuple[Engine, sessionmaker[Session]]:
        if self._engine is None:
            self._engine, self._factory = open_database(self.settings.database_url or None)
        assert self._factory is not None
        return self._engine, self._factory

    @property
    def factory(self) -> sessionmaker[Session]:
        return self.db()[1]

    @property
    def factory_address(self) -> str:
        return self.settings.factory or Deployments(self.chain.chain_id).require_factory()

    @property
    def listener(self) -> ChainListener:
        if self._listener is None:
            self._listener = ChainListener(
                self.factory,
                self.chain.w3,
                chain_id=self.chain.chain_id,
                factory_address=self.factory_address,
                confirmations=self.confirmations,
                from_block=self.settings.from_block,
                batch_blocks=self.settings.batch_blocks,
            )
        return self._listener

    @property
    def keeper(self) -> Keeper:
        return Keeper(self.factory, chain_id=self.chain.chain_id, collect_retry_seconds=self.settings.collect_retry_seconds)

    def signer(self) -> LocalAccount:
        if self._signer is None:
            from settle.keys import load_keystore

            if self.settings.keystore:
                self._signer = load_keystore(self.settings.keystore)
                self.chain.check_signer(self._signer)
            elif self.settings.dev_account is not None:
                self._signer = self.chain.dev_accounts(20)[self.settings.dev_account]
            else:
                raise ConfigError(
                    "no gateway signer: set SETTLE_GATEWAY_KEYSTORE (password in SETTLE_KEYSTORE_PASSWORD) or, on a dev chain, "
                    "--dev-account N; the account needs the factory's gateway role"
                )
        return self._signer

    @property
    def chain_tx(self) -> ChainTxWorker:
        if self._chain_tx is None:
            self._chain_tx = ChainTxWorker(
                self.factory,
                self.chain,
                self.signer(),
                worker=self.worker,
                confirmations=self.confirmations,
                lease_seconds=self.settings.lease_seconds,
                receipt_timeout=self.settings.receipt_timeout,
                retry_seconds=min(5.0, self.settings.poll_seconds * 5),
            )
            self._chain_tx.recover()
        return self._chain_tx

    @property
    def connector(self) -> FileBankConnector:
        return FileBankConnector(self.settings.resolved_outbox(), self.settings.resolved_inbox())

    def chain_time(self) -> int:
        return int(self.chain.w3.eth.get_block("latest")["timestamp"])

    def today(self) -> date:
        """The banking date: the wall clock's, or the chain's with ``clock = chain``."""
        if self.settings.clock == "chain":
            return datetime.fromtimestamp(self.chain_time(), UTC).date()
        return datetime.now(UTC).date()

    # -- workers -----------------------------------------------------------------------------------------------------

    def listen(self) -> StepReport:
        result = self.listener.poll()
        return StepReport(events=result.events, reorg_to=result.reorg_to)

    def keep(self) -> StepReport:
        round_ = self.keeper.run_once(self.chain_time())
        return StepReport(queued=round_.settle + round_.collect)

    def transact(self) -> StepReport:
        return StepReport(transactions=self.chain_tx.run_once())

    def pay(self) -> StepReport:
        report = StepReport()
        with unit_of_work(self.factory, self.worker) as session:
            recorded = record_settlements(session, self.chain.chain_id)
            report.instructions = recorded.instructions
            for label, why in recorded.waiting.items():
                self._problem(report, f"settlement {label} waits: {why}")
        with unit_of_work(self.factory, self.worker) as session:
            prepared = payments.prepare_payment_files(
                session,
                files_dir=self.settings.resolved_files_dir(),
                today=self.today(),
                dd_schema=self.settings.dd_schema,
                ct_schema=self.settings.ct_schema,
            )
            report.files = [payment_file.path for payment_file in prepared.files]
            for problem in prepared.problems:
                self._problem(report, problem)
        if report.files:
            crashpoint("payments.files_committed")
        report.uploaded = payments.upload_payment_files(
            self.factory, self.connector, worker=self.worker, lease=timedelta(seconds=self.settings.lease_seconds)
        )
        return report

    def bank(self) -> StepReport:
        report = StepReport()
        polled = statements.import_from_bank(self.factory, self.connector, actor=self.worker)
        report.statements = [r.file_name for r in polled.imported]
        for problem in polled.problems:
            self._problem(report, f"statement {problem}")
        return report

    def _problem(self, report: StepReport, text: str) -> None:
        report.problems.append(text)
        if text not in self._reported:  # say it once per process, not every round
            self._reported.add(text)
            log.warning("%s", text)

    def step(self) -> StepReport:
        """One round of every enabled worker, in flow order."""
        report = StepReport()
        parts: list[Callable[[], StepReport]] = []
        if self.settings.listener:
            parts.append(self.listen)
        if self.settings.keeper:
            parts.append(self.keep)
        if self.settings.chain_tx:
            parts.append(self.transact)
        if self.settings.payments:
            parts.append(self.pay)
        if self.settings.bank:
            parts.append(self.bank)
        if self.settings.chain_tx:
            parts.append(self.transact)
        for part in parts:
            done = part()
            done.lines = describe(done)
            report.merge(done)
        return report

    def run_until_idle(
        self, *, timeout: float = 120.0, idle_rounds: int = 2, on_round: Callable[[StepReport], None] | None = None
    ) -> StepReport:
        """Step until ``idle_rounds`` rounds in a row did nothing (and the listener has caught up)."""
        total = StepReport()
        idle = 0
        deadline = time.monotonic() + timeout
        while idle < idle_rounds:
            if time.monotonic() > deadline:
                raise ChainError(f"the gateway did not become idle within {timeout:.0f}s")
            report = self.step()
            total.merge(report)
            if on_round is not None:
                on_round(report)
            idle = 0 if report.busy else idle + 1
        return total

    # -- long-running ------------------------------------------------------------------------------------------------

    def run(self, *, api: bool = True, stop: threading.Event | None = None) -> None:
        """Every enabled worker in its own thread, and the HTTP API, until interrupted (or ``stop`` is set)."""
        stop = stop or threading.Event()
        # Configuration mistakes surface now, as one clear error, not as a worker failing every second.
        _ = self.factory, self.listener if self.settings.listener else None
        if self.settings.chain_tx:
            _ = self.chain_tx
        loops: list[tuple[str, Callable[[], StepReport]]] = []
        if self.settings.listener:
            loops.append(("listener", self.listen))
        if self.settings.keeper or self.settings.chain_tx:

            def chain_work() -> StepReport:
                report = StepReport()
                if self.settings.keeper:
                    report.merge(self.keep())
                if self.settings.chain_tx:
                    report.merge(self.transact())
                return report

            loops.append(("chain", chain_work))
        if self.settings.payments:
            loops.append(("payments", self.pay))
        if self.settings.bank:
            loops.append(("bank", self.bank))
        threads = [threading.Thread(target=self._loop, args=(name, fn, stop), name=name, daemon=True) for name, fn in loops]
        for thread in threads:
            thread.start()
        log.info(
            "gateway %s on chain %d: factory %s, %d confirmation(s), workers %s",
            self.worker,
            self.chain.chain_id,
            self.factory_address,
            self.confirmations,
            ", ".join(name for name, _ in loops) or "none",
        )
        try:
            if api:
                import uvicorn

                from gateway.api import create_app
                from gateway.api.deps import WRITE_TOKEN_ENV

                app = create_app(
                    self.factory,
                    chain=self.chain,
                    listener=self.listener if self.settings.listener else None,
                    write_token=os.environ.get(WRITE_TOKEN_ENV) or None,
                    agreement_factory=self.factory_address,
                )
                log.info("HTTP API on http://%s:%d (OpenAPI docs at /docs)", self.settings.host, self.settings.port)
                config = uvicorn.Config(app, host=self.settings.host, port=self.settings.port, log_config=None, access_log=False)
                server = uvicorn.Server(config)
                watcher = threading.Thread(target=lambda: (stop.wait(), setattr(server, "should_exit", True)), daemon=True)
                watcher.start()
                server.run()
            else:
                while not stop.is_set() and any(t.is_alive() for t in threads):
                    stop.wait(0.5)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=10)

    def _loop(self, name: str, fn: Callable[[], StepReport], stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                report = fn()
            except SettleError as exc:  # expected trouble (node unreachable, a bad row): one line, then retry
                log.warning("%s worker: %s; retrying", name, exc)
                stop.wait(self.settings.poll_seconds)
                continue
            except Exception:  # noqa: BLE001 - a worker keeps going; the trace is logged
                log.exception("%s worker failed; retrying", name)
                stop.wait(self.settings.poll_seconds)
                continue
            if not report.busy:
                stop.wait(self.settings.poll_seconds)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def describe(report: StepReport) -> list[str]:
    """Human-readable lines for a step report (used by ``settle gateway step`` and the demo)."""
    lines: list[str] = []
    if report.reorg_to is not None:
        lines.append(f"reorg: read model rolled back to block {report.reorg_to}")
    if report.events:
        lines.append(f"applied {report.events} chain event(s)")
    lines.extend(f"queued {key}" for key in report.queued)
    for outcome in report.transactions:
        lines.append(f"{outcome.result}: {outcome.detail}")
    lines.extend(f"payment instruction {e2e}" for e2e in report.instructions)
    lines.extend(f"payment file {path}" for path in report.files)
    lines.extend(f"handed to the bank: {name}" for name in report.uploaded)
    lines.extend(f"imported statement {name}" for name in report.statements)
    return lines

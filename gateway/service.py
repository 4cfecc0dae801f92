"""Wiring of a gateway process: database, chain, signer, listener, keeper, payments, bank and chain-transaction
workers, and the HTTP API — for ``settle gateway run``, the demo and the tests.

:meth:`Gateway.step` runs one round of every enabled worker in round order (the registry in gateway/workers.py:
listener → keeper → chain transactions → payments → bank → chain transactions again) and says what happened;
:meth:`Gateway.run` runs the workers in threads next to the API until stopped.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from gateway.banking.bank import FileBankConnector
from gateway.chain.chaintx import ChainTxWorker
from gateway.chain.keeper import Keeper
from gateway.chain.listener import ChainListener
from gateway.database import open_database
from gateway.invoicing.issuance import MeterLookup
from gateway.settings import GatewaySettings
from gateway.workers import Pass, Worker, registered
from settle.chain import Chain
from settle.config import secret
from settle.deployments import Deployments
from settle.errors import ChainError, ConfigError, SettleError
from settle.networks import Network, get_network

if TYPE_CHECKING:
    from gateway.reconciliation.booking import BookingRules

log = logging.getLogger("settle.gateway")


@dataclass
class StepReport:
    """What a round of the workers did: each worker's :class:`Pass`, in order (empty when nothing was done)."""

    passes: list[tuple[str, Pass]] = field(default_factory=list)

    @property
    def busy(self) -> bool:
        return any(done.busy for _, done in self.passes)

    @property
    def lines(self) -> list[str]:
        """What happened, in the order it happened."""
        return [line for _, done in self.passes for line in done.lines]

    @property
    def problems(self) -> list[str]:
        return [problem for _, done in self.passes for problem in done.problems]

    def data(self, key: str) -> list[Any]:
        """A detail every pass that has it contributes to (``files``, ``transactions``, ``statements`` …)."""
        return [item for _, done in self.passes for item in done.data.get(key, [])]

    def merge(self, other: StepReport) -> None:
        self.passes.extend(other.passes)


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
        #: Meter names and unit codes for invoices, by (chain id, agreement); None: the deployment records.
        self.meter_lookup: MeterLookup | None = None

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
                self.chain.rpc(),
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

    def _booking_rules(self) -> BookingRules:
        from gateway.reconciliation.booking import BookingRules

        return BookingRules.from_settings(self.settings, self.today())

    def today(self) -> date:
        """The banking date: the wall clock's, or the chain's with ``clock = chain``."""
        if self.settings.clock == "chain":
            return datetime.fromtimestamp(self.chain_time(), UTC).date()
        return datetime.now(UTC).date()

    # -- workers -----------------------------------------------------------------------------------------------------

    def workers(self) -> list[Worker]:
        """The enabled workers, in round order."""
        return [w for w in registered() if w.name not in self.settings.disabled]

    def enabled(self, name: str) -> bool:
        return name not in self.settings.disabled

    def run_worker(self, worker: Worker) -> Pass:
        """One pass of ``worker``; what waits for someone is logged once per process."""
        done = worker.run(self)
        for text in done.problems:
            if text not in self._reported:  # say it once per process, not every round
                self._reported.add(text)
                log.warning("%s", text)
        return done

    def step(self) -> StepReport:
        """One round of every enabled worker, in round order (see gateway.workers)."""
        workers = self.workers()
        order = workers + [w for w in workers if w.again_at_end]
        return StepReport([(worker.name, self.run_worker(worker)) for worker in order])

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

    def run(self, *, api: bool = True, stop: threading.Event | None = None, workers: int = 1) -> None:
        """Every enabled worker in its own thread, and the HTTP API, until interrupted (or ``stop`` is set). The API
        is served by ``workers`` processes sharing its port: this one, and ``workers - 1`` that serve only the API
        (its reads are CPU-bound under the GIL: one process uses one core); the background workers run once, here."""
        if workers < 1:
            raise ConfigError(f"API workers: {workers} (at least 1)")
        stop = stop or threading.Event()
        # Configuration mistakes surface now, as one clear error, not as a worker failing every second.
        _ = self.factory, self.listener if self.enabled("listener") else None
        if self.enabled("chain_tx"):
            _ = self.chain_tx
        groups: dict[str, list[Worker]] = {}
        for worker in self.workers():
            groups.setdefault(worker.thread_name, []).append(worker)

        def loop_of(members: list[Worker]) -> Callable[[], StepReport]:
            return lambda: StepReport([(w.name, self.run_worker(w)) for w in members])

        loops = [(name, loop_of(members)) for name, members in groups.items()]
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
                self._serve_api(stop, workers)
            else:
                while not stop.is_set() and any(t.is_alive() for t in threads):
                    stop.wait(0.5)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=10)

    def api_app(self) -> Any:
        """The HTTP API over this gateway's database and chain, as it is served (:mod:`gateway.serving`)."""
        from gateway.api import create_app
        from gateway.api.deps import WRITE_TOKEN_ENV
        from gateway.serving import serve

        app = create_app(
            self.factory,
            chain=self.chain,
            listener=self.listener if self.enabled("listener") else None,
            write_token=secret(WRITE_TOKEN_ENV) or None,
            agreement_factory=self.factory_address,
            invoice_dir=self.settings.resolved_invoice_dir(),
            rules=self._booking_rules,
        )
        return serve(app, self.factory)

    def _serve_api(self, stop: threading.Event, workers: int) -> None:
        """Serve the API until ``stop`` is set; with more than one worker, on a socket bound here and shared with
        ``workers - 1`` processes that serve only the API (:func:`_api_worker`), stopped with this one."""
        import multiprocessing

        import uvicorn

        from gateway.serving import ConnectionShares, before_serving, uvicorn_config, uvicorn_connections

        app = self.api_app()
        config = uvicorn_config(app, host=self.settings.host, port=self.settings.port)
        server = uvicorn.Server(config)
        sockets = [config.bind_socket()] if workers > 1 else None
        others = []
        shares = ConnectionShares.create(workers) if sockets else None
        if shares is not None:
            app.balance(shares, uvicorn_connections(server))
            spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads or connections of this one
            for n in range(1, workers):
                process = spawn.Process(
                    target=_api_worker, args=(self.settings, sockets, str(shares.path), workers, n), name=f"settle-api-{n}", daemon=True
                )
                process.start()
                others.append(process)
        log.info("HTTP API on http://%s:%d (OpenAPI docs at /docs), %d process(es)", self.settings.host, self.settings.port, workers)

        def exit_when_stopped() -> None:
            stop.wait()
            server.should_exit = True

        watcher = threading.Thread(target=exit_when_stopped, daemon=True)
        watcher.start()
        before_serving()
        try:
            server.run(sockets=sockets)
        finally:
            for process in others:
                process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
            for process in others:
                process.join(timeout=10)
                if process.is_alive():
                    process.kill()
                    process.join()
            if shares is not None:
                shares.close()

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


def _api_worker(settings: GatewaySettings, sockets: list[socket.socket], shares: str, workers: int, slot: int) -> None:
    """One more process serving the gateway's API on the shared ``sockets`` (``settle gateway run --workers``):
    its own database connections and chain client, no background workers; its open connections counted in slot
    ``slot`` of the ``shares`` (:class:`gateway.serving.ConnectionShares`)."""
    import uvicorn

    from gateway.serving import ConnectionShares, before_serving, uvicorn_config, uvicorn_connections

    gateway = Gateway(settings)
    counts = ConnectionShares.attach(shares, workers, slot)
    try:
        app = gateway.api_app()
        server = uvicorn.Server(uvicorn_config(app))
        app.balance(counts, uvicorn_connections(server))
        before_serving()
        server.run(sockets=sockets)
    finally:
        counts.close()
        gateway.close()

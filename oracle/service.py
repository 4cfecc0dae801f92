"""Wiring: database, chain, signer, pipeline, submitter, watcher and API for the CLI and ``settle oracle run``
(logs: ``settle.logs``, JSON lines)."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from oracle.clock import ChainClock, Clock, SystemClock, utc_text
from oracle.config import OracleSettings
from oracle.database import open_database
from oracle.ingest import Pipeline
from settle.config import secret
from settle.errors import ConfigError, SettleError
from settle.logs import configure_logging
from settle.networks import Network, get_network
from settle.rpc import Rpc

if TYPE_CHECKING:  # imported where used: commands that only read the database load no web3 or eth-account
    from oracle.submit import Submitter
    from oracle.txsign import FastSigner
    from settle.chain import Chain

log = logging.getLogger("settle.oracle")

RELAY_PASSWORD_ENV = "SETTLE_RELAY_KEYSTORE_PASSWORD"


@dataclass
class Oracle:
    """Everything a command needs, built lazily (a command that needs no chain never connects to one)."""

    settings: OracleSettings
    database_url: str | None = None
    network_name: str | None = None
    _engine: Engine | None = None
    _factory: sessionmaker[Session] | None = None
    _network: Network | None = None
    _chain: Chain | None = None
    _pipeline: Pipeline | None = None
    clock_override: Clock | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    _clock: Clock | None = None
    #: Which clock the oracle uses, in words (set by :meth:`clock`).
    clock_in_use: str = ""

    def db(self) -> tuple[Engine, sessionmaker[Session]]:
        if self._engine is None:
            self._engine, self._factory = open_database(self.database_url or self.settings.database_url or None)
        assert self._factory is not None
        return self._engine, self._factory

    @property
    def engine(self) -> Engine:
        return self.db()[0]

    @property
    def factory(self) -> sessionmaker[Session]:
        return self.db()[1]

    def network(self) -> Network:
        if self._network is None:
            self._network = get_network(self.network_name or self.settings.network or None)
        return self._network

    def chain(self) -> Chain:
        if self._chain is None:
            from settle.chain import Chain

            net = self.network()
            self._chain = Chain.connect(net.rpc_url, expected_chain_id=net.chain_id, confirmations=self.confirmations())
        return self._chain

    def confirmations(self) -> int:
        return self.settings.confirmations if self.settings.confirmations is not None else self.network().confirmations

    def rpc(self) -> Rpc:
        return Rpc(self.network().rpc_url)

    def clock(self) -> Clock:
        """The oracle's "now": the chain's latest block time when it has a chain (periods and grace windows are
        judged by it, as the contracts judge them), else the system clock; which one is logged and kept in
        ``clock_in_use`` for the commands to print."""
        if self.clock_override is not None:
            return self.clock_override
        if self._clock is None:
            self._clock, self.clock_in_use = self._choose_clock()
            log.info("clock: %s", self.clock_in_use)
        return self._clock

    def _choose_clock(self) -> tuple[Clock, str]:
        """A network given to the oracle (``--network``, ``SETTLE_ORACLE_NETWORK``) or a production one named by
        ``SETTLE_NETWORK``: its chain time, and an error if it does not answer. The default dev chain (anvil):
        its chain time whenever it answers (its clock may have been moved), else the system clock, said so."""
        explicit = bool(self.network_name or self.settings.network)
        net = self.network()
        if not explicit and net.dev:
            from settle.node import rpc_call

            try:
                rpc_call(net.rpc_url, "eth_chainId", timeout=2.0)
            except (OSError, ValueError, SettleError) as exc:
                reason = getattr(exc, "reason", exc)  # urllib wraps the socket's error
                return SystemClock(), f"system clock (no chain: {net.name} does not answer: {reason}; 'settle chain up' starts it)"
        chain = self.chain()
        clock = ChainClock(lambda: chain.w3.eth.get_block("latest")["timestamp"])
        return clock, f"chain time of {net.name} (chain {chain.chain_id}), now {utc_text(clock.now())}"

    def pipeline(self) -> Pipeline:
        if self._pipeline is None:
            self._pipeline = Pipeline(self.engine, self.settings, self.clock())
        return self._pipeline

    def signer(self) -> FastSigner:
        from oracle.txsign import FastSigner
        from settle.keys import load_keystore

        chain = self.chain()
        if self.settings.keystore:
            account = load_keystore(self.settings.keystore)
            chain.check_signer(account)
        elif self.settings.dev_account is not None:
            account = chain.dev_accounts(20)[self.settings.dev_account]
        else:
            raise ConfigError(
                "no oracle signer: set SETTLE_ORACLE_KEYSTORE (password in SETTLE_KEYSTORE_PASSWORD) or, on a dev chain, --dev-account N"
            )
        return FastSigner(account)

    def oracle_address(self) -> str:
        """The oracle key's address (the account that sends ``correctUsage``), read without unlocking a keystore."""
        from eth_utils import to_checksum_address

        if self.settings.keystore:
            try:
                data = json.loads(Path(self.settings.keystore).read_text())
                return to_checksum_address("0x" + str(data["address"]).removeprefix("0x"))
            except (OSError, ValueError, KeyError, TypeError):
                raise ConfigError(f"keystore {self.settings.keystore}: not a JSON keystore file with an address") from None
        if self.settings.dev_account is not None:
            return self.chain().dev_accounts(20)[self.settings.dev_account].address
        raise ConfigError(
            "no oracle signer: set SETTLE_ORACLE_KEYSTORE or, on a dev chain, --dev-account N (the oracle key sends corrections)"
        )

    def relayer(self) -> FastSigner | None:
        """The account that sends reports signed by :meth:`signer`, when one is configured."""
        from oracle.txsign import FastSigner
        from settle.keys import load_keystore

        chain = self.chain()
        if self.settings.relay_keystore:
            account = load_keystore(self.settings.relay_keystore, secret(RELAY_PASSWORD_ENV))
            chain.check_signer(account)
        elif self.settings.relay_dev_account is not None:
            account = chain.dev_accounts(20)[self.settings.relay_dev_account]
        else:
            return None
        return FastSigner(account)

    def submitter(self) -> Submitter:
        from oracle.alerts import Alerts
        from oracle.chainsync import EventFollower
        from oracle.submit import Submitter

        chain = self.chain()
        signer, relayer = self.signer(), self.relayer()
        return Submitter(
            self.engine,
            self.settings,
            rpc=self.rpc(),
            chain_id=chain.chain_id,
            signer=relayer or signer,
            reporter=signer if relayer is not None else None,
            confirmations=self.confirmations(),
            decoder=chain.decoder,
            clock=self.clock(),
            alerts=Alerts.configured(self.settings.alert_webhook),
            follow=EventFollower(self.factory, chain).poll,
        )


def run(oracle: Oracle, *, api: bool = True, watch: bool = True, submit: bool = True, sync: bool = True) -> None:
    """HTTP API, folder watcher, submitter and chain sync together until interrupted."""
    from oracle.chainsync import sync_all
    from oracle.watcher import FolderWatcher

    settings = oracle.settings
    threads: list[threading.Thread] = []
    stops: list[threading.Event] = []
    if watch:
        watcher = FolderWatcher(
            oracle.pipeline(), settings.resolved_inbox(), settle_seconds=settings.file_settle_seconds, poll_seconds=settings.poll_seconds
        )
        stops.append(watcher.stop_event)
        threads.append(threading.Thread(target=watcher.run, name="watcher", daemon=True))
    if submit:
        submitter = oracle.submitter()
        stops.append(submitter.stop_event)
        threads.append(threading.Thread(target=submitter.run, name="submitter", daemon=True))
        log.info(
            "submitter signs as %s on chain %d (confirmations %d)", submitter.signer.address, submitter.chain_id, submitter.confirmations
        )
    if sync:
        stop_sync = threading.Event()
        stops.append(stop_sync)
        chain = oracle.chain()

        def syncer() -> None:
            while not stop_sync.is_set():
                try:
                    changed = sync_all(oracle.factory, chain)
                    if changed:
                        log.info("refreshed %d agreement(s) from the chain", changed)
                except Exception:  # noqa: BLE001 - keep syncing; logged with its trace
                    log.exception("chain sync failed")
                stop_sync.wait(settings.sync_seconds)

        threads.append(threading.Thread(target=syncer, name="chain-sync", daemon=True))
    for t in threads:
        t.start()
    try:
        if api:
            serve_api(oracle, chain=submit or sync)
        else:
            while any(t.is_alive() for t in threads):
                time.sleep(0.5)
    finally:
        for stop in stops:
            stop.set()
        for t in threads:
            t.join(timeout=10)


def serve_api(oracle: Oracle, *, chain: bool) -> None:
    """The HTTP API until interrupted: in this process, or in ``api_workers`` processes that uvicorn starts and
    supervises (each builds its app with ``api_app`` from the settings this process hands over)."""
    import uvicorn

    from oracle.api import OracleState, create_app
    from oracle.config import settings_environment

    settings = oracle.settings
    workers = settings.api_workers
    log.info("HTTP API on http://%s:%d (%d process%s)", settings.host, settings.port, workers, "" if workers == 1 else "es")
    if workers == 1:
        app = create_app(OracleState(oracle.engine, oracle.factory, oracle.pipeline(), oracle.rpc() if chain else None))
        uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)
        return
    url = oracle.engine.url.render_as_string(hide_password=False)  # migrated here, once, before the workers start
    effective = settings.model_copy(update={"database_url": url, "network": oracle.network_name or settings.network, "api_chain": chain})
    os.environ.update(settings_environment(effective))
    uvicorn.run(
        "oracle.service:api_app",
        factory=True,
        workers=workers,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
    )


def api_app() -> Any:
    """The app of one API worker process, from the ``SETTLE_ORACLE_*`` environment its parent set."""
    from oracle.api import OracleState, create_app
    from oracle.config import load_settings

    configure_logging()
    oracle = Oracle(load_settings())
    engine, factory = open_database(oracle.settings.database_url, upgrade=False)
    oracle._engine, oracle._factory = engine, factory
    rpc = oracle.rpc() if oracle.settings.api_chain else None
    return create_app(OracleState(engine, factory, oracle.pipeline(), rpc))


def default_inbox(settings: OracleSettings) -> Path:
    return settings.resolved_inbox()

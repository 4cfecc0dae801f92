"""Fixtures of the dashboard's browser tests: a real uvicorn server on a free loopback port serving the gateway API
(with the dashboard) over a SQLite file filled by webdata.seed, and Debian's chromium driven headless by Playwright
(never ``playwright install``: TOOLCHAIN.md). Screenshots go to ``SETTLE_SCREENSHOTS`` (default: a pytest temporary
folder) and are listed at the end of the run.

Chromium missing: tools/ensure-system installs it (root with apt, as in CI); only when it is still missing are the
tests skipped — never under CI (``CI`` set), where a missing browser fails them instead of hiding them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:  # (tests/gateway and tests/receivables: the root conftest)
    sys.path.append(str(_HERE))

from dashbrowser import EXPLORER, ORACLE, SCREENSHOT, SHOTS, Site  # noqa: E402
from receivables_testdata import PASSWORD as SMTP_PASSWORD  # noqa: E402
from receivables_testdata import USER as SMTP_USER  # noqa: E402
from receivables_testdata import start_smtp  # noqa: E402
from webdata import ROOT, seed  # noqa: E402

from gateway.portal.site import Portal  # noqa: E402
from gateway.portal.site import Site as PortalSite  # noqa: E402
from gateway.receivables.mail import Mailer  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def _ensure_chromium() -> None:
    if CHROMIUM.exists():
        return
    subprocess.run([str(ROOT / "tools" / "ensure-system")], check=False, capture_output=True, timeout=900)
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing and tools/ensure-system could not install it (apt-get install chromium)")
    pytest.skip(f"{CHROMIUM} is missing and could not be installed (run tools/ensure-system as root, or apt-get install chromium)")


class Server:
    def __init__(self, app: object) -> None:
        import uvicorn

        from gateway.serving import uvicorn_config

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        # served as settle gateway run serves it (each answer in one write): the browser reads these answers too
        self.server = uvicorn.Server(uvicorn_config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from gateway.api import create_app
    from gateway.database import open_database

    saved = {k: os.environ.get(k) for k in ("SETTLE_GATEWAY_EXPLORER_URL", "SETTLE_GATEWAY_ORACLE_URL")}
    os.environ["SETTLE_GATEWAY_EXPLORER_URL"] = EXPLORER
    os.environ["SETTLE_GATEWAY_ORACLE_URL"] = ORACLE
    folder = tmp_path_factory.mktemp("dash")
    engine, factory = open_database(f"sqlite:///{folder / 'gateway.sqlite'}")
    try:
        seeded = seed(factory, datetime.now(UTC).date(), folder / "invoices")
        # the demo's chain id (SIWE messages are bound to it) and a real SMTP server on loopback for invitations
        app = create_app(factory, chain_id=31337, invoice_dir=folder / "invoices", write_token="op-" + "x" * 40)
        smtp = start_smtp()
        with Server(app) as server:
            app.state.portal = Portal(
                site=PortalSite(server.url),
                mailer_factory=lambda: Mailer(
                    smtp.host, smtp.port, sender="portal@settle.test", user=SMTP_USER, password=SMTP_PASSWORD, starttls=False
                ),
            )
            yield Site(server.url, factory, seeded, smtp)
        smtp.stop()
    finally:
        engine.dispose()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    _ensure_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("SETTLE_SCREENSHOTS")
    folder = Path(given) if given else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(autouse=True)
def _screenshots_reported(request: pytest.FixtureRequest) -> Iterator[None]:
    """The screenshots a test took go into its report (the root conftest lists them at the end of the run, also
    from pytest-xdist's workers, whose own terminal nobody sees)."""
    taken = len(SHOTS)
    yield
    request.node.user_properties.extend((SCREENSHOT, str(path)) for path in SHOTS[taken:])

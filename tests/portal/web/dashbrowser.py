"""Browser helpers of the dashboard tests: a signed-in context (the session cookie set directly, as a sign-in would
set it), and a page that records console errors and Content-Security-Policy violations (a page must have none)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from webdata import Seeded

from gateway.portal.sessions import COOKIE

EXPLORER = "https://explorer.example/tx/{tx}"
ORACLE = "https://oracle.example"
#: Every screenshot taken in this process (each test's go into its report: conftest._screenshots_reported).
SHOTS: list[Path] = []
#: The name of a test report's user property holding a screenshot's path (tests/conftest.py lists them all).
SCREENSHOT = "screenshot"


@dataclass
class Site:
    """The running server: its URL, the database behind it and what was seeded."""

    url: str
    factory: sessionmaker[Session]
    seeded: Seeded
    #: The loopback SMTP server the portal sends invitations through (its mailbox: what arrived).
    smtp: Any = None


def screenshot(page: Any, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    SHOTS.append(path)
    return path


LOCALES = {"en": "en-US", "de": "de-DE"}


@dataclass
class Watched:
    page: Any
    errors: list[str] = field(default_factory=list)

    def clean(self) -> None:
        assert not self.errors, f"browser console errors: {self.errors}"


def open_page(browser: Any, base_url: str, *, token: str | None = None, lang: str = "en") -> Watched:
    context = browser.new_context(base_url=base_url, locale=LOCALES[lang], viewport={"width": 1280, "height": 900})
    if token is not None:
        context.add_cookies([{"name": COOKIE, "value": token, "url": base_url, "httpOnly": True, "sameSite": "Lax"}])
    page = context.new_page()
    watched = Watched(page)
    page.on("console", lambda msg: watched.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: watched.errors.append(str(exc)))
    return watched

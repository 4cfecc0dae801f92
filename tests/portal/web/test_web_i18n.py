"""The dashboard's languages and money without a browser: which language a request gets, money written per language
from exact minor units, every text key a template uses present in both languages, and pages without inline
scripts that still work (without charts) when the npm assets were not built."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from gateway.portal.web import i18n, pages

TEMPLATES = Path(pages.__file__).parent / "templates"
NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("minor", "digits", "currency", "de", "en"),
    [
        (123_456, 2, "EUR", f"1.234,56{NBSP}€", "€1,234.56"),
        (5, 2, "EUR", f"0,05{NBSP}€", "€0.05"),
        (-2_500, 2, "EUR", f"-25,00{NBSP}€", "-€25.00"),
        (123_456_789_012_345_678_901, 2, "EUR", f"1.234.567.890.123.456.789,01{NBSP}€", "€1,234,567,890,123,456,789.01"),
        (100, 0, "JPY", f"100{NBSP}JPY", f"JPY{NBSP}100"),
        (1_000_000, 2, "CHF", f"10.000,00{NBSP}CHF", f"CHF{NBSP}10,000.00"),
    ],
)
def test_money_per_language(minor: int, digits: int, currency: str, de: str, en: str) -> None:
    assert i18n.money_minor(minor, digits, currency, "de") == de
    assert i18n.money_minor(minor, digits, currency, "en") == en


def test_money_from_the_api_shape_keeps_every_digit() -> None:
    from gateway.api.schemas import Money

    assert i18n.money(Money.of(10**20 + 1, 2, "EUR"), "en") == "€1,000,000,000,000,000,000.01"
    assert i18n.money(Money.of(7, 3, "EUR"), "de") == f"0,007{NBSP}€"


@pytest.mark.parametrize(
    ("query", "cookie", "accept", "chosen"),
    [
        ("de", "en", "en-US", "de"),
        (None, "de", "en-US,en;q=0.9", "de"),
        ("fr", None, "de-DE,de;q=0.9,en;q=0.8", "de"),
        (None, None, "fr-FR,en;q=0.5,de;q=0.7", "de"),
        (None, None, "fr-FR", "en"),
        (None, None, None, "en"),
        (None, "xx", "en-GB", "en"),
    ],
)
def test_language_choice(query: str | None, cookie: str | None, accept: str | None, chosen: str) -> None:
    assert i18n.choose(query, cookie, accept) == chosen


def test_every_text_of_the_templates_is_in_both_languages() -> None:
    used: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_.\-]+)["']""", template.read_text()))
    assert used, "the templates use the catalogue"
    families = {k[:-1] for k in used if k.endswith(".")}  # t("state." + value): checked per value below
    missing = sorted(k for k in used if not k.endswith(".") and k not in i18n.MESSAGES)
    assert not missing, f"keys used but not in the catalogue: {missing}"
    for key, (en, de) in i18n.MESSAGES.items():
        assert en.strip() and de.strip(), f"{key}: empty text"
        assert set(re.findall(r"\{(\w+)\}", en)) == set(re.findall(r"\{(\w+)\}", de)), f"{key}: placeholders differ"
    # the prefixed families (states, statuses, buckets) cover every value the data can have
    from gateway.models import InstructionState, PaymentMethodKind
    from gateway.receivables.opos import BUCKETS

    for family, values in {
        "payment": [s.value for s in InstructionState],
        "method": [k.value for k in PaymentMethodKind],
        "bucket": [b[0] for b in BUCKETS],
        "settlement": ["due", "partially_paid", "paid", "returned", "disputed", "written_off"],
        "state": ["proposed", "active", "paused", "terminated"],
        "service": ["active", "restricted", "suspended"],
        "item": ["open", "overdue", "disputed", "in_review", "credit", "settlement", "fee"],
        "role": ["payer", "payee", "observer"],
        "terms": ["accepted", "pending", "rejected", "replaced"],
        "staff": ["invited", "active", "disabled"],
        "delivery": ["pending", "delivered", "failed"],
        "endpoint": ["active", "disabled"],
        "settings.role": ["viewer", "finance"],
        "invite": ["open", "used", "expired", "unknown", "closed"],
        "signin.welcome": ["invited", "signed-out"],
    }.items():
        families.discard(family)
        absent = [v for v in values if f"{family}.{v}" not in i18n.MESSAGES]
        assert not absent, f"{family}: no text for {absent}"
    assert not families, f"families of texts no test lists the values of: {families}"


def test_no_inline_script_or_style_attribute_in_any_template() -> None:
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag, f"{template.name}: inline script {tag}"
        assert not re.search(r"\son[a-z]+=", text), f"{template.name}: inline event handler"
        assert " style=" not in text, f"{template.name}: inline style (blocked by style-src 'self')"


def test_pages_work_without_the_built_assets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Without static/vendor the page is served without the chart and htmx scripts, says so, and the log says it
    once."""
    from fastapi.testclient import TestClient

    from gateway.api import create_app
    from gateway.database import open_database
    from gateway.portal import sessions

    monkeypatch.setattr(pages, "VENDOR_DIR", tmp_path / "no-vendor")
    monkeypatch.setattr(pages, "_warned_assets", False)
    engine, factory = open_database(f"sqlite:///{tmp_path / 'g.sqlite'}")
    try:
        with factory.begin() as session:
            token = sessions.create(session, kind="party", party="0x" + "12" * 20, subject="party:x").token
        client = TestClient(create_app(factory))
        client.cookies.set(sessions.COOKIE, token)
        with caplog.at_level(logging.WARNING, logger="gateway.portal.web.pages"):
            first = client.get("/app/agreements?lang=en")
            second = client.get("/app/receivables")
        assert first.status_code == second.status_code == 200
        assert "vendor/" not in first.text and 'id="no-charts"' in first.text
        assert "Charts are not available" in first.text
        warnings = [r for r in caplog.records if "dashboard assets missing" in r.getMessage()]
        assert len(warnings) == 1
        assert "script-src 'self'" in first.headers["content-security-policy"]
    finally:
        engine.dispose()

"""The dashboard in a real browser (Debian's chromium, headless, through Playwright) against a real uvicorn server:
each page shows the fixture's figures in English and German, the running period's usage updates itself, a party
cannot open another party's agreement by URL (404), anonymous visitors are sent to the sign-in page, and no page
needs an inline script (the Content-Security-Policy would block it: the console must stay clean)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy
from dashbrowser import ORACLE, Site, open_page, screenshot
from playwright.sync_api import expect
from webdata import (
    ACCEPT_TX,
    AGREEMENT,
    BANK_REFERENCE,
    FOREIGN,
    HOOK_LATENCY_MS,
    HOOK_URL,
    INVOICE_OPEN,
    LIVE_LATER,
    OTHER_NAME,
    OVERDUE_DAYS,
    PAYEE,
    PAYER,
    PAYER_NAME,
    STAFF_EMAIL,
    TOKEN_LABEL,
    add_live_usage,
    running_period,
)

from settle.auth.tokens import csrf_for
from settle.db import engine_of

NBSP = "\u00a0"


def test_anonymous_visitors_are_sent_to_sign_in(site: Site, browser, shots) -> None:
    w = open_page(browser, site.url, lang="en")
    response = w.page.goto(f"/app/agreements/{AGREEMENT}")
    assert response is not None and response.ok
    assert w.page.url == f"{site.url}/app/sign-in?next=%2Fapp%2Fagreements%2F{AGREEMENT}"
    assert w.page.locator("h1").inner_text() == "Sign in"
    assert w.page.locator("#siwe-button").is_visible() and w.page.locator("#password-form").is_visible()
    assert w.page.locator("nav").count() == 0  # nothing of the app for anonymous visitors
    screenshot(w.page, shots, "sign-in-en")
    for path in ("/app/receivables", "/app/settings"):
        w.page.goto(path)
        assert "/app/sign-in?next=" in w.page.url
    w.page.goto("/app/sign-in?lang=de")
    assert w.page.locator("h1").inner_text() == "Anmelden"
    assert w.page.get_by_role("button", name="Mit Wallet anmelden").is_visible()
    screenshot(w.page, shots, "sign-in-de")
    w.clean()
    w.page.context.close()


@pytest.mark.parametrize("lang", ["en", "de"])
def test_agreements_list_shows_the_partys_own(site: Site, browser, shots, lang: str) -> None:
    w = open_page(browser, site.url, token=site.seeded.payer_session, lang=lang)
    response = w.page.goto("/app/agreements")
    assert response is not None and response.status == 200
    assert "default-src 'self'" in response.headers["content-security-policy"]
    rows = w.page.locator("#agreements tbody tr")
    assert rows.count() == 1, "the payer has one agreement; the other party's stays hidden"
    row = w.page.locator(f'tr[data-agreement="{AGREEMENT}"]')
    cells = row.locator("td").all_inner_texts()
    expected = {
        "en": ["Payee AG", "payer", "active", "active", "€1,234.56", "period 2", "SEPA direct debit"],
        "de": ["Payee AG", "Zahler", "aktiv", "aktiv", f"1.234,56{NBSP}€", "Periode 2", "SEPA-Lastschrift"],
    }[lang]
    assert cells[1:] == [cells[1], *cells[2:]]  # (shape)
    assert [cells[1], cells[2], cells[3], cells[4], cells[5], cells[6].split(" · ")[0], cells[7]] == expected
    assert re.search(r"\d", cells[6].split(" · ")[1])  # the period's end date
    assert w.page.locator(f'tr[data-agreement="{FOREIGN}"]').count() == 0
    assert w.page.locator("html").get_attribute("lang") == lang
    screenshot(w.page, shots, f"agreements-{lang}")
    w.clean()
    w.page.context.close()


def test_payee_sees_both_its_agreements(site: Site, browser) -> None:
    w = open_page(browser, site.url, token=site.seeded.payee_session)
    terms_reads: list[str] = []

    def _count(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if "gw_terms_version" in statement:
            terms_reads.append(statement)

    engine = engine_of(site.factory)
    sqlalchemy.event.listen(engine, "before_cursor_execute", _count)
    try:
        w.page.goto("/app/agreements")
    finally:
        sqlalchemy.event.remove(engine, "before_cursor_execute", _count)
    assert w.page.locator("#agreements tbody tr").count() == 2
    # the terms in force of every listed agreement (for the next settlement's end), read at once, not per row
    assert len(terms_reads) == 1, terms_reads
    for address in (AGREEMENT, FOREIGN):
        assert re.search(r"\d", w.page.locator(f'tr[data-agreement="{address}"] td').nth(6).inner_text().split(" · ")[1])
    text = w.page.locator("#agreements").inner_text()
    assert PAYER_NAME in text and OTHER_NAME in text
    assert "payee" in w.page.locator(f'tr[data-agreement="{FOREIGN}"]').inner_text()
    w.clean()
    w.page.context.close()


@pytest.mark.parametrize("lang", ["en", "de"])
def test_agreement_detail(site: Site, browser, shots, lang: str) -> None:
    w = open_page(browser, site.url, token=site.seeded.payer_session, lang=lang)
    response = w.page.goto(f"/app/agreements/{AGREEMENT}")
    assert response is not None and response.status == 200
    page = w.page
    de = lang == "de"
    assert page.locator("#outstanding").inner_text() == (f"1.234,56{NBSP}€" if de else "€1,234.56")
    # terms: decoded, with who accepted in which transaction, linked to the configured explorer
    version = page.locator('#terms .version[data-version="1"]')
    assert ("angenommen" if de else "accepted") in version.locator("h3").inner_text()
    for party, tx in ACCEPT_TX.items():
        link = version.locator(f'a[href="https://explorer.example/tx/{tx}"]')
        assert link.count() == 1, f"acceptance of {party} links to the explorer"
    accepted = version.locator(".acceptances").inner_text()
    assert PAYER_NAME in accepted and "Payee AG" in accepted and ("Block 5" if de else "block 5") in accepted
    terms_text = version.locator(".terms-doc").inner_text()
    assert ("Zahlungsziel (Tage)" if de else "Payment terms (days)") in terms_text and "14" in terms_text
    assert "graduated" in version.locator("table.meters").inner_text()
    # usage: table, chart (uPlot draws a canvas: the vendored assets are built and allowed by the CSP), live period
    usage = page.locator("#usage-table").inner_text()
    assert ("22.000" if de else "22,000") in usage and ("15.000" if de else "15,000") in usage
    page.wait_for_selector("#usage-chart canvas", timeout=10_000)
    live = page.locator("#usage-live").inner_text()
    assert (f"Periode {running_period()}" if de else f"period {running_period()}") in live and "777" in live
    assert page.locator("#usage-live").get_attribute("hx-get") == f"/app/agreements/{AGREEMENT.lower()}/usage"
    # proofs live in the oracle: a form that leads there
    assert page.locator("#proof-form").count() == 1
    # settlements with amounts and explorer links
    open_row = page.locator('#settlements tr[data-period="1"]').locator("td").all_inner_texts()
    if de:
        assert open_row[1:6] == [f"1.037,45{NBSP}€", f"197,11{NBSP}€", f"1.234,56{NBSP}€", f"0,00{NBSP}€", f"1.234,56{NBSP}€"]
        assert open_row[7] == "fällig"
    else:
        assert open_row[1:6] == ["€1,037.45", "€197.11", "€1,234.56", "€0.00", "€1,234.56"]
        assert open_row[7] == "due"
    assert page.locator('#settlements tr[data-period="0"] a[href^="https://explorer.example/tx/0x00"]').count() == 1
    # invoices with their download, payments with the bank line that paid them
    assert page.locator(f'#invoices tr[data-invoice="{INVOICE_OPEN}"] a[href="/v1/invoices/{INVOICE_OPEN}/pdf"]').count() == 1
    paid = page.locator("#payments tbody tr").first.inner_text()
    assert BANK_REFERENCE in paid and PAYER_NAME in paid and (f"119,00{NBSP}€" if de else "€119.00") in paid
    assert ("bezahlt" if de else "paid") in paid
    screenshot(page, shots, f"agreement-{lang}")
    w.clean()
    page.context.close()


def test_running_period_updates_itself(site: Site, browser) -> None:
    w = open_page(browser, site.url, token=site.seeded.payer_session)
    w.page.goto(f"/app/agreements/{AGREEMENT}")
    w.page.wait_for_selector("#usage-chart canvas")
    assert "1,234" not in w.page.locator("#usage-live").inner_text()
    add_live_usage(site.factory, LIVE_LATER)
    # htmx polls every 5 s; the fragment is swapped in and the chart redrawn without reloading the page
    expect(w.page.locator("#usage-live")).to_contain_text("1,234", timeout=15_000)
    assert w.page.locator("#usage-chart canvas").count() >= 1
    w.clean()
    w.page.context.close()


def test_proof_link_goes_to_the_oracle(site: Site, browser) -> None:
    """Records and their proofs live in the oracle: the form sends the browser there (the CSP's form-action allows
    that origin, else the browser would block the redirect). The oracle's host does not exist here, so the browser's
    request to it is what is checked."""
    w = open_page(browser, site.url, token=site.seeded.payer_session)
    w.page.goto(f"/app/agreements/{AGREEMENT}")
    asked: list[str] = []
    w.page.on("request", lambda r: asked.append(r.url) if r.url.startswith(ORACLE) else None)
    w.page.fill("#proof-form input[name=source]", "erp")
    w.page.fill("#proof-form input[name=record]", "INV-4711/1")
    w.page.click("#proof-form button")
    expect_url = f"{ORACLE}/v1/proofs/erp/INV-4711%2F1"
    for _ in range(100):
        if asked:
            break
        w.page.wait_for_timeout(50)
    assert asked == [expect_url]
    answer = w.page.request.get(f"{site.url}/app/agreements/{AGREEMENT}/proof?source=erp&record=INV-4711/1", max_redirects=0)
    assert answer.status == 303 and answer.headers["location"] == expect_url
    w.page.context.close()


@pytest.mark.parametrize("lang", ["en", "de"])
def test_foreign_agreement_is_not_found(site: Site, browser, lang: str) -> None:
    w = open_page(browser, site.url, token=site.seeded.payer_session, lang=lang)
    response = w.page.goto(f"/app/agreements/{FOREIGN}")
    assert response is not None and response.status == 404
    assert w.page.locator("h1").inner_text() == ("Nicht gefunden" if lang == "de" else "Not found")
    body = w.page.content()
    assert OTHER_NAME not in body and "7,777" not in body and "7.777" not in body
    for path in (
        f"/app/agreements/{FOREIGN}/usage",
        f"/app/agreements/{FOREIGN}/proof?source=a&record=b",
        "/app/agreements/0xnot-an-address",
    ):
        assert w.page.goto(path).status == 404  # type: ignore[union-attr]
    w.page.context.close()
    # the other party the other way round: the payer's agreement is not its business
    w = open_page(browser, site.url, token=site.seeded.other_session)
    response = w.page.goto(f"/app/agreements/{AGREEMENT}")
    assert response is not None and response.status == 404
    assert PAYER_NAME not in w.page.content()
    w.page.context.close()


@pytest.mark.parametrize("lang", ["en", "de"])
def test_receivables(site: Site, browser, shots, lang: str) -> None:
    de = lang == "de"
    w = open_page(browser, site.url, token=site.seeded.payer_session, lang=lang)
    response = w.page.goto("/app/receivables")
    assert response is not None and response.status == 200
    page = w.page
    bucket = page.locator('#aging table[data-currency="EUR"] tr[data-bucket="31-60"]').locator("td").all_inner_texts()
    assert bucket == (["31–60 Tage", "1", f"1.234,56{NBSP}€"] if de else ["31–60 days", "1", "€1,234.56"])
    assert page.locator('#aging table[data-currency="EUR"] .total').inner_text() == (f"1.234,56{NBSP}€" if de else "€1,234.56")
    item = page.locator("#open-items tbody tr").filter(has_text=INVOICE_OPEN)
    cells = item.locator("td").all_inner_texts()
    assert cells[7] == str(OVERDUE_DAYS)
    assert cells[6] == (f"1.234,56{NBSP}€" if de else "€1,234.56")
    assert cells[9] == (f"Stufe 1 (+40,00{NBSP}€)" if de else "level 1 (+€40.00)")
    assert cells[8] == ("überfällig" if de else "overdue")
    credit = page.locator("#credits td.credit").inner_text()
    assert credit == (f"25,00{NBSP}€" if de else "€25.00")
    # today and the month ends before it that had anything billed in their 3-month window (uPlot's legend is a table
    # too: only the page's own table counts)
    trend = page.locator("#dso table.list tbody tr")
    assert trend.count() >= 2
    today = trend.locator(f'xpath=self::tr[@data-day="{site.seeded.today.isoformat()}"]')
    assert today.count() == 1 and today.locator("td").nth(1).inner_text() == "EUR"
    page.wait_for_selector("#aging .chart canvas", timeout=10_000)
    page.wait_for_selector("#dso-chart canvas", timeout=10_000)
    screenshot(page, shots, f"receivables-{lang}")
    w.clean()
    page.context.close()


def test_settings(site: Site, browser, shots) -> None:
    w = open_page(browser, site.url, token=site.seeded.payer_session)
    page = w.page
    page.goto("/app/settings")
    assert page.locator('meta[name="csrf-token"]').get_attribute("content") == csrf_for(site.seeded.payer_session)
    staff = page.locator(f'#staff tr[data-staff="{STAFF_EMAIL}"]').inner_text()
    assert "finance" in staff and "active" in staff
    tokens = page.locator("#tokens tbody tr")
    assert tokens.count() == 1 and TOKEN_LABEL in tokens.inner_text() and "read" in tokens.inner_text()
    assert page.locator("#tokens button.api-action").get_attribute("data-method") == "DELETE"
    hook = page.locator("#webhooks .hook")
    assert hook.count() == 1 and HOOK_URL in hook.inner_text() and "invoice.issued" in hook.inner_text()
    page.click("#webhooks .hook button.load-log")
    page.wait_for_selector("#webhooks .delivery-log")
    log = page.locator("#webhooks .delivery-log").inner_text()
    assert "delivered" in log and f"200 · {HOOK_LATENCY_MS} ms" in log
    assert page.locator("#webhooks .delivery-log button.api-action").get_attribute("data-endpoint") == "/v1/webhooks/replay"
    assert page.locator("#invite-form").count() == 1 and page.locator("#token-form").count() == 1
    screenshot(page, shots, "settings-en")
    page.goto("/app/settings?lang=de")
    assert page.locator("#staff h2").inner_text() == "Mitarbeitende"
    screenshot(page, shots, "settings-de")
    w.clean()
    page.context.close()


def test_other_partys_settings_and_logs_stay_hidden(site: Site, browser) -> None:
    w = open_page(browser, site.url, token=site.seeded.other_session)
    w.page.goto("/app/settings")
    body = w.page.content()
    assert STAFF_EMAIL not in body and TOKEN_LABEL not in body and HOOK_URL not in body
    assert w.page.goto("/app/settings/webhooks/1/deliveries").status == 404  # type: ignore[union-attr]
    w.page.goto("/app/receivables")
    assert "1,234.56" not in w.page.content() and PAYER.lower() not in w.page.content().lower()
    w.page.context.close()


def test_language_from_the_browser_and_remembered(site: Site, browser) -> None:
    w = open_page(browser, site.url, token=site.seeded.payee_session, lang="de")  # Accept-Language: de-DE
    w.page.goto("/app/agreements")
    assert w.page.locator("h1").inner_text() == "Verträge"
    w.page.goto("/app/agreements?lang=en")
    assert w.page.locator("h1").inner_text() == "Agreements"
    w.page.goto("/app/receivables")  # the choice is kept in a cookie over the browser's preference
    assert w.page.locator("h1").inner_text().startswith("Receivables")
    assert PAYEE  # the payee's receivables: its side of the same open item
    assert w.page.locator("#open-items").inner_text().count(INVOICE_OPEN) == 1
    w.page.context.close()


def test_sign_out_ends_the_session(site: Site, browser) -> None:
    """Signing out posts to /v1/auth/sign-out with the CSRF token and lands on the sign-in page; whether the session
    is revoked depends on that route (the sign-in helper's), so this checks the page's side only."""
    from gateway.portal import sessions

    with site.factory.begin() as session:
        token = sessions.create(session, kind="party", party=PAYER, subject=f"party:{PAYER}").token
    w = open_page(browser, site.url, token=token)
    w.page.goto("/app/agreements")
    sent: list[dict[str, str]] = []
    w.page.on("request", lambda r: sent.append(r.headers) if r.url.endswith("/v1/auth/sign-out") else None)
    w.page.click("#sign-out")
    w.page.wait_for_url(re.compile(r".*/app/(sign-in|agreements).*"))
    assert sent and sent[0].get("x-csrf-token") == csrf_for(token)
    w.page.context.close()


def test_viewer_staff_reads_its_partys_pages_without_managing(site: Site, browser) -> None:
    """A viewer of the payer (a staff session) sees the payer's agreements and its webhooks read-only, and — as in the
    JSON API — neither the party's staff nor its API tokens; no invite, token or webhook forms."""
    from gateway.models import StaffAccount
    from gateway.portal import sessions

    with site.factory.begin() as session:
        account = StaffAccount(party=PAYER, email="viewer@payer.example", role="viewer", state="active", created_by=f"party:{PAYER}")
        session.add(account)
        session.flush()
        token = sessions.create(session, kind="staff", party=PAYER, subject=f"staff:{account.id}", account_id=account.id).token
    w = open_page(browser, site.url, token=token)
    w.page.goto("/app/agreements")
    assert w.page.locator(f'tr[data-agreement="{AGREEMENT}"]').count() == 1
    assert w.page.locator(f'tr[data-agreement="{FOREIGN}"]').count() == 0
    assert "(viewer)" in w.page.locator("header .who").inner_text()
    w.page.goto("/app/settings")
    assert "managed by the party itself (signed in with its key) only" in w.page.locator("main").inner_text()
    assert w.page.locator("#staff").count() == 0 and w.page.locator("#tokens").count() == 0
    assert STAFF_EMAIL not in w.page.content()
    assert w.page.locator("#webhooks").count() == 1
    for form in ("#invite-form", "#token-form", "#webhook-form", "#tokens button.api-action"):
        assert w.page.locator(form).count() == 0, form
    w.clean()
    assert w.page.goto(f"/app/agreements/{FOREIGN}").status == 404  # type: ignore[union-attr]
    w.page.context.close()

"""The staff journey through the dashboard in a real browser: a party invites staff on the settings page, the mail
arrives at the loopback SMTP server, the invited person opens the link from the mail, chooses a password, signs in
on the sign-in page, enrols TOTP in Settings → Security (the code computed with pyotp from the key the page shows),
signs out, and from then on needs the code to sign in. Also: what the invite page says to a used, expired or
unknown link and to a weak password, and how the sign-in page words a locked account and a rate limit — in German
and English."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pyotp
from dashbrowser import Site, Watched, open_page, screenshot
from gateway_testdata import PAYER
from playwright.sync_api import expect
from sqlalchemy import select, update
from webdata import AGREEMENT, FOREIGN, STAFF_EMAIL, STAFF_PASSWORD

from gateway.models import StaffAccount, StaffInvite
from gateway.models.base import utcnow
from gateway.portal import accounts
from gateway.portal.site import Site as PortalSite
from settle.auth.principal import PARTY_SCOPES, Kind, Principal
from settle.auth.tokens import hash_token

VIEWER_EMAIL = "controlling@payer.example"
VIEWER_PASSWORD = "Kontrolle-ist-gut-2026"
LINK = re.compile(r"(http://\S+/invite\?token=sti_[A-Za-z0-9_-]+)")


def _link_in_mail(site: Site, email: str) -> str:
    mails = [m for to, m in site.smtp.mailbox.messages if email in to]
    assert len(mails) == 1, f"one invitation to {email}, got {len(mails)}"
    found = LINK.search(mails[0].get_body(preferencelist=("plain",)).get_content())
    assert found, "the mail has the invitation link"
    return found.group(1)


def _invite_directly(site: Site, email: str) -> str:
    """An invitation made the way the route makes it (without the mail): the link's token."""
    payer = Principal(Kind.PARTY, f"party:{PAYER}", party=PAYER, scopes=PARTY_SCOPES)
    with site.factory.begin() as session:
        made = accounts.invite(session, payer, party=PAYER, email=email, role="viewer", site=PortalSite(site.url))
    return made.token


def _sign_in(w: Watched, email: str, password: str, totp: str | None = None) -> None:
    page = w.page
    page.fill("#password-form input[name=email]", email)
    page.fill("#password-form input[name=password]", password)
    page.fill("#password-form input[name=totp]", totp or "")
    page.click("#password-form button")


def test_invited_staff_sets_a_password_signs_in_enrols_totp_and_signs_out(site: Site, browser, shots) -> None:
    # the party invites a viewer from its settings page
    party = open_page(browser, site.url, token=site.seeded.payer_session)
    party.page.goto("/app/settings")
    party.page.fill("#invite-form input[name=email]", VIEWER_EMAIL)
    party.page.select_option("#invite-form select[name=role]", "viewer")
    party.page.click("#invite-form button")
    expect(party.page.locator("#settings-status")).to_have_text("Invitation sent.")
    party.clean()
    party.page.context.close()

    # the link from the mail, opened in a fresh browser (German): to the invite page under /app, token kept
    link = _link_in_mail(site, VIEWER_EMAIL)
    assert link.startswith(f"{site.url}/invite?token=sti_")
    token = parse_qs(urlsplit(link).query)["token"][0]
    w = open_page(browser, site.url, lang="de")
    page = w.page
    page.goto(link)
    assert urlsplit(page.url).path == "/app/invite" and parse_qs(urlsplit(page.url).query)["token"] == [token]
    expect(page.locator("h1")).to_have_text("Einladung annehmen")
    expect(page.locator("#invite-accept input[name=email]")).to_have_value(VIEWER_EMAIL)
    expect(page.locator("#password-rules")).to_contain_text("mindestens 12 Zeichen")
    expect(page.locator("#password-rules")).to_contain_text("mindestens 5 verschiedene Zeichen")
    screenshot(page, shots, "invite-page")
    # switching the language keeps the token
    page.click("header .lang a[lang=en]")
    expect(page.locator("h1")).to_have_text("Accept your invitation")
    assert parse_qs(urlsplit(page.url).query)["token"] == [token]
    page.click("header .lang a[lang=de]")

    # refused first: two different passwords (checked in the page), then a weak one (by the route: 422)
    page.fill("#invite-accept input[name=password]", VIEWER_PASSWORD)
    page.fill("#invite-accept input[name=repeat]", VIEWER_PASSWORD + "x")
    page.click("#invite-accept button")
    expect(page.locator("#invite-status")).to_have_text("Das Passwort wurde nicht gesetzt: die beiden Passwörter stimmen nicht überein.")
    weak = "abababababababab"  # 16 characters, 2 different ones
    page.fill("#invite-accept input[name=password]", weak)
    page.fill("#invite-accept input[name=repeat]", weak)
    page.click("#invite-accept button")
    expect(page.locator("#invite-status")).to_have_text(
        "Das Passwort wurde nicht gesetzt: das Passwort ist zu schwach: es braucht mindestens 5 verschiedene Zeichen."
    )
    assert "/app/invite" in page.url
    w.errors.clear()  # chromium logs each refused fetch (the 422) as a console error: expected here

    # the password is set: to the sign-in page, e-mail filled in
    page.fill("#invite-accept input[name=password]", VIEWER_PASSWORD)
    page.fill("#invite-accept input[name=repeat]", VIEWER_PASSWORD)
    page.click("#invite-accept button")
    page.wait_for_url(re.compile(r".*/app/sign-in\?.*"), timeout=15_000)
    expect(page.locator("#sign-in-welcome")).to_contain_text("Ihr Passwort ist gesetzt")
    expect(page.locator("#password-form input[name=email]")).to_have_value(VIEWER_EMAIL)
    w.clean()

    # signing in with e-mail and password: the agreements of the party (and only those)
    page.fill("#password-form input[name=password]", VIEWER_PASSWORD)
    page.click("#password-form button")
    page.wait_for_url(f"{site.url}/app/agreements", timeout=15_000)
    assert page.locator(f'tr[data-agreement="{AGREEMENT}"]').count() == 1
    assert page.locator(f'tr[data-agreement="{FOREIGN}"]').count() == 0
    assert "(viewer)" in page.locator("header .who").inner_text()

    # settings, in English: a viewer has no management forms, but its own Security section
    page.goto("/app/settings?lang=en")
    for form in ("#invite-form", "#token-form", "#webhook-form"):
        assert page.locator(form).count() == 0, f"a viewer sees {form}"
    assert page.locator("#tokens button.api-action").count() == 0
    expect(page.locator("#security h2")).to_have_text("Security")
    expect(page.locator("#totp-state")).to_contain_text("Two-factor sign-in is off")
    page.click("#totp-enrol")
    expect(page.locator("#totp-secret")).not_to_be_empty()
    secret = page.locator("#totp-secret").inner_text().strip()
    uri = page.locator("#totp-uri").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret)
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri and "issuer=Settle" in uri
    screenshot(page, shots, "settings-security-totp")
    # a wrong code is refused readably and TOTP stays off
    wrong = f"{(int(pyotp.TOTP(secret).now()) + 500_000) % 1_000_000:06d}"
    page.fill("#totp-confirm input[name=code]", wrong)
    page.click("#totp-confirm button")
    expect(page.locator("#security-status")).to_contain_text("That did not work: wrong TOTP code")
    page.fill("#totp-confirm input[name=code]", pyotp.TOTP(secret).now())
    page.click("#totp-confirm button")
    expect(page.locator("#totp-state")).to_have_text("Two-factor sign-in is on. From now on, signing in needs the code.")
    page.reload()
    expect(page.locator("#totp-state")).to_contain_text("Two-factor sign-in is on")
    assert page.locator("#totp-enrol").count() == 0
    with site.factory() as session:
        account = session.scalar(select(StaffAccount).where(StaffAccount.email == VIEWER_EMAIL))
        assert account is not None and accounts.totp_enabled(account)

    # sign out (header button): the session is over, back on the sign-in page
    page.click("#sign-out")
    page.wait_for_url(re.compile(r".*/app/sign-in\?welcome=signed-out"), timeout=15_000)
    expect(page.locator("#sign-in-welcome")).to_have_text("You are signed out.")
    page.goto("/app/agreements")
    assert "/app/sign-in" in page.url

    # signing in again needs the code: without it refused with a clear message, with it in
    _sign_in(w, VIEWER_EMAIL, VIEWER_PASSWORD)
    expect(page.locator("#sign-in-status")).to_have_text(
        "Sign-in failed: this account needs the one-time code from your authenticator app: enter it and sign in again."
    )
    assert "/app/sign-in" in page.url
    expect(page.locator("#totp-label")).to_have_class(re.compile(r"\bneeded\b"))
    w.errors.clear()  # the refused sign-in's 401, logged by chromium
    page.fill("#password-form input[name=totp]", pyotp.TOTP(secret).now())
    page.click("#password-form button")
    page.wait_for_url(re.compile(r".*/app/agreements$"), timeout=15_000)
    assert page.locator(f'tr[data-agreement="{AGREEMENT}"]').count() == 1
    w.clean()
    page.context.close()

    # the used link, opened again: says so (both languages), no form
    for lang, said in (("en", "This invitation link was used already."), ("de", "Dieser Einladungslink wurde bereits verwendet.")):
        again = open_page(browser, site.url, lang=lang)
        again.page.goto(link)
        expect(again.page.locator("#invite-status")).to_contain_text(said)
        assert again.page.locator("#invite-accept").count() == 0
        expect(again.page.locator("#invite a.button")).to_have_attribute(
            "href", re.compile(r"/app/sign-in\?email=controlling%40payer\.example")
        )
        again.clean()
        again.page.context.close()


def test_a_form_opened_before_the_link_was_used_says_already_used(site: Site, browser) -> None:
    """Two tabs on one link: the second to submit is told the link was used (the route's 400, in the page's
    language)."""
    email = "zwei-tabs@payer.example"
    token = _invite_directly(site, email)
    first, second = open_page(browser, site.url), open_page(browser, site.url, lang="de")
    for w in (first, second):
        w.page.goto(f"/invite?token={token}")
        w.page.fill("#invite-accept input[name=password]", "Beide-Fenster-offen-7")
        w.page.fill("#invite-accept input[name=repeat]", "Beide-Fenster-offen-7")
    first.page.click("#invite-accept button")
    first.page.wait_for_url(re.compile(r".*/app/sign-in\?.*"), timeout=15_000)
    expect(first.page.locator("#password-form input[name=email]")).to_have_value(email)
    second.page.click("#invite-accept button")
    expect(second.page.locator("#invite-status")).to_have_text(
        "Das Passwort wurde nicht gesetzt: Dieser Einladungslink wurde bereits verwendet. Melden Sie sich mit Ihrem Passwort an."
    )
    first.clean()
    for w in (first, second):
        w.page.context.close()


def test_expired_and_unknown_links(site: Site, browser, shots) -> None:
    token = _invite_directly(site, "spaet@payer.example")
    with site.factory.begin() as session:
        session.execute(
            update(StaffInvite).values(expires_at=utcnow() - timedelta(minutes=1)).where(StaffInvite.token_hash == hash_token(token))
        )
    w = open_page(browser, site.url, lang="de")
    w.page.goto(f"/invite?token={token}")
    expect(w.page.locator("#invite-status")).to_have_text(
        "Dieser Einladungslink ist abgelaufen. Bitten Sie die einladende Partei um eine neue Einladung."
    )
    assert w.page.locator("#invite-accept").count() == 0
    screenshot(w.page, shots, "invite-page-expired")
    answer = w.page.goto("/invite?token=sti_nicht-echt&lang=en")
    assert answer is not None and answer.status == 404
    expect(w.page.locator("#invite-status")).to_contain_text("This invitation link is not valid.")
    w.page.goto("/app/invite")  # no token at all
    expect(w.page.locator("#invite-status")).to_contain_text("This invitation link is not valid.")
    w.page.context.close()


def test_sign_in_words_a_locked_account_and_a_rate_limit(site: Site, browser) -> None:
    w = open_page(browser, site.url, lang="de")
    page = w.page
    page.goto("/app/sign-in")
    for _ in range(accounts.MAX_FAILURES):
        _sign_in(w, STAFF_EMAIL, "falsch-" + STAFF_PASSWORD)
        expect(page.locator("#sign-in-status")).to_contain_text("Anmeldung fehlgeschlagen: E-Mail, Passwort oder Einmalcode falsch.")
        page.locator("#sign-in-status").evaluate("el => { el.textContent = '' }")
    # locked now: even the right password is refused, and the message says why that can be
    _sign_in(w, STAFF_EMAIL, STAFF_PASSWORD)
    expect(page.locator("#sign-in-status")).to_have_text(
        "Anmeldung fehlgeschlagen: E-Mail, Passwort oder Einmalcode falsch. "
        "Nach 5 Fehlversuchen in Folge wird das Konto für 15 Minuten gesperrt."
    )
    assert "/app/sign-in" in page.url
    with site.factory() as session:
        locked = session.scalar(select(StaffAccount.locked_until).where(StaffAccount.email == STAFF_EMAIL))
    assert locked is not None

    # the rate limit's 429 (with Retry-After), as the route answers it: the page says how long to wait
    page.route(
        "**/v1/auth/password",
        lambda route: route.fulfill(
            status=429,
            headers={"Retry-After": "42", "Content-Type": "application/json"},
            body='{"detail": "too many sign-in attempts: try again in 42 s"}',
        ),
    )
    page.goto("/app/sign-in?lang=en")
    _sign_in(w, STAFF_EMAIL, STAFF_PASSWORD)
    expect(page.locator("#sign-in-status")).to_have_text("Sign-in failed: too many sign-in attempts. Try again in 42 seconds.")
    page.context.close()


def test_a_signed_in_browser_is_told_to_sign_out_after_accepting(site: Site, browser) -> None:
    """The sign-in page sends a signed-in browser on to its agreements: the invite page says to sign out first."""
    token = _invite_directly(site, "neu@payer.example")
    w = open_page(browser, site.url, token=site.seeded.payer_session)
    w.page.goto(f"/invite?token={token}")
    expect(w.page.locator("#invite-signed-in")).to_contain_text("sign out to sign in with the new one")
    anonymous = open_page(browser, site.url)
    anonymous.page.goto(f"/invite?token={token}")
    assert anonymous.page.locator("#invite-accept").count() == 1 and anonymous.page.locator("#invite-signed-in").count() == 0
    w.clean()
    anonymous.clean()
    for x in (w, anonymous):
        x.page.context.close()

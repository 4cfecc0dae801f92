"""Signing in through the dashboard's own sign-in page in a real browser: a party with Sign-In with Ethereum through
an injected test wallet (``window.ethereum`` defined by an init script; its ``personal_sign`` calls back into Python,
which signs with eth_account), and staff with e-mail and password.

These drive ``/v1/auth/siwe/nonce``, ``/v1/auth/siwe`` and ``/v1/auth/password`` (the sign-in contract of
/work/notes/portal-design.md), which the sign-in branch adds: on a branch without those routes these tests fail,
by design — they are kept in this file so the rest of the dashboard's suite stays green until the merge."""

from __future__ import annotations

import pytest
from dashbrowser import Site, open_page, screenshot
from eth_account import Account
from eth_account.messages import encode_defunct
from playwright.sync_api import expect
from receivables_testdata import agreement as agreement_row
from webdata import AGREEMENT, PAYEE, STAFF_EMAIL, STAFF_PASSWORD

from gateway.portal.sessions import COOKIE

#: anvil's account 9: a fixed key, so a failure can be replayed by hand
WALLET_KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6"
WALLET = Account.from_key(WALLET_KEY)
WALLET_AGREEMENT = "0x" + "c3" * 20

INJECTED_WALLET = """
(() => {
  const address = "%s";
  window.ethereum = {
    isSettleTestWallet: true,
    request: async ({ method, params }) => {
      if (method === "eth_requestAccounts" || method === "eth_accounts") return [address];
      if (method === "eth_chainId") return "0x7a69";
      if (method === "personal_sign") return await window.settleTestWalletSign(params[0], params[1]);
      throw new Error("test wallet: unsupported method " + method);
    },
  };
})();
"""


@pytest.fixture(scope="module")
def wallet_party(site: Site) -> str:
    """An agreement whose payee is the test wallet's address (the party signs in with that key)."""
    with site.factory.begin() as session:
        row = agreement_row(session, WALLET_AGREEMENT)
        row.payer, row.payee = PAYEE, WALLET.address.lower()
    return WALLET.address.lower()


def test_siwe_sign_in_with_an_injected_wallet(site: Site, browser, shots, wallet_party: str) -> None:
    w = open_page(browser, site.url)
    signed: list[str] = []

    def sign(message_hex: str, address: str) -> str:
        assert address.lower() == wallet_party
        message = bytes.fromhex(message_hex[2:]).decode()
        signed.append(message)
        return "0x" + bytes(Account.sign_message(encode_defunct(text=message), WALLET_KEY).signature).hex()

    w.page.expose_function("settleTestWalletSign", sign)
    w.page.add_init_script(INJECTED_WALLET % WALLET.address)
    w.page.goto("/app/agreements")  # anonymous: to the sign-in page, which brings it back here afterwards
    assert "/app/sign-in" in w.page.url
    w.page.click("#siwe-button")
    w.page.wait_for_url(f"{site.url}/app/agreements", timeout=15_000)
    assert len(signed) == 1
    message = signed[0]
    assert "wants you to sign in with your Ethereum account" in message and WALLET.address in message
    assert "Nonce:" in message and "Chain ID:" in message and "Expiration Time:" in message
    cookie = next(c for c in w.page.context.cookies() if c["name"] == COOKIE)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    rows = w.page.locator("#agreements tbody tr")
    assert rows.count() == 1 and w.page.locator(f'tr[data-agreement="{WALLET_AGREEMENT}"]').count() == 1
    assert w.page.locator(f'tr[data-agreement="{AGREEMENT}"]').count() == 0
    screenshot(w.page, shots, "signed-in-with-wallet")
    w.clean()
    w.page.context.close()


def test_staff_sign_in_with_password(site: Site, browser, shots) -> None:
    w = open_page(browser, site.url, lang="de")
    w.page.goto("/app/sign-in")
    w.page.fill("#password-form input[name=email]", STAFF_EMAIL)
    w.page.fill("#password-form input[name=password]", "falsch-" + STAFF_PASSWORD)
    w.page.click("#password-form button")
    expect(w.page.locator("#sign-in-status")).to_contain_text("Anmeldung fehlgeschlagen")
    assert "/app/sign-in" in w.page.url
    w.page.fill("#password-form input[name=password]", STAFF_PASSWORD)
    w.page.click("#password-form button")
    w.page.wait_for_url(f"{site.url}/app/agreements", timeout=15_000)
    assert w.page.locator(f'tr[data-agreement="{AGREEMENT}"]').count() == 1
    assert "(finance)" in w.page.locator("header .who").inner_text()
    screenshot(w.page, shots, "signed-in-as-staff")
    w.page.context.close()

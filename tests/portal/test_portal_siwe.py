"""Sign-In with Ethereum through the API: an EOA and an ERC-1271 wallet (on anvil) sign in; a replayed message, a
message for another domain or chain, and an address without an agreement are refused and audited; cookies are
HttpOnly, SameSite=Lax, Secure over https; a cookie brought to the sign-in is never reused; sign-out needs CSRF."""

from __future__ import annotations

from datetime import timedelta

from eth_account import Account
from portal_support import (
    CHAIN_ID,
    PAYEE,
    PAYEE_KEY,
    PAYER,
    PAYER_KEY,
    SITE,
    STRANGER,
    STRANGER_KEY,
    add_agreement,
    audit_rows,
    audit_text,
    client_for,
    sign,
    siwe_sign_in,
)
from sqlalchemy import select

from gateway.models import AuthSession, SiweNonce
from gateway.models.base import utcnow
from gateway.portal.site import Portal, erc1271_for
from settle.auth.siwe import message_hash

AGREEMENT = "0x" + "a1" * 20


def _seed(db) -> None:  # type: ignore[no-untyped-def]
    with db.session() as session:
        add_agreement(session, AGREEMENT, PAYER, PAYEE)


def test_an_eoa_signs_in_and_gets_a_session_cookie_and_bearer(sqlite_db):
    _seed(sqlite_db)
    client = client_for(sqlite_db.factory)
    challenge = client.post("/v1/auth/siwe/nonce", json={"address": Account.from_key(PAYER_KEY).address}).json()
    assert challenge["domain"] == "portal.test" and challenge["uri"] == "http://portal.test" and challenge["chain_id"] == CHAIN_ID
    assert challenge["message"].startswith("portal.test wants you to sign in with your Ethereum account:\n")
    assert f"Nonce: {challenge['nonce']}" in challenge["message"] and f"Chain ID: {CHAIN_ID}" in challenge["message"]
    assert challenge["expiration_time"] in challenge["message"]
    bare = client.post("/v1/auth/siwe/nonce")  # without a body: only the fields
    assert bare.status_code == 200 and bare.json()["message"] is None and bare.json()["nonce"] != challenge["nonce"]

    answer = client.post("/v1/auth/siwe", json={"message": challenge["message"], "signature": sign(challenge["message"], PAYER_KEY)})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["kind"] == "party" and body["party"] == PAYER and body["token"].startswith("sts_") and body["csrf"]
    cookie = answer.headers["set-cookie"]
    assert f"settle_session={body['token']}" in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie and "Secure" not in cookie

    me = client.get("/v1/auth/me")  # by the cookie the client kept
    assert me.status_code == 200 and me.json()["party"] == PAYER and me.json()["kind"] == "party" and me.json()["csrf"] == body["csrf"]
    assert "admin" in me.json()["scopes"]
    client.cookies.clear()
    assert client.get("/v1/auth/me").status_code == 401
    bearer = client.get("/v1/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert bearer.status_code == 200 and bearer.json()["subject"] == f"party:{PAYER}" and bearer.json()["csrf"] is None

    entries = [(e.action, e.outcome, e.party) for e in audit_rows(sqlite_db.factory)]
    assert ("sign_in", "ok", PAYER) in entries
    assert answer.json()["token"] not in audit_text(sqlite_db.factory)


def test_the_cookie_is_secure_over_https(sqlite_db):
    _seed(sqlite_db)
    answer = siwe_sign_in(client_for(sqlite_db.factory, base_url="https://testserver"), PAYER_KEY)
    assert answer.status_code == 200 and "Secure" in answer.headers["set-cookie"]


def test_refusals_replay_domain_chain_stranger_and_bad_signature(sqlite_db):
    _seed(sqlite_db)
    client = client_for(sqlite_db.factory)
    address = Account.from_key(PAYEE_KEY).address
    text = client.post("/v1/auth/siwe/nonce", json={"address": address}).json()["message"]
    signature = sign(text, PAYEE_KEY)

    def attempt(message: str, signature: str) -> tuple[int, str]:
        answer = client.post("/v1/auth/siwe", json={"message": message, "signature": signature})
        return answer.status_code, answer.json().get("detail", "")

    evil = text.replace("portal.test wants", "evil.test wants")
    assert attempt(evil, sign(evil, PAYEE_KEY)) == (401, "sign-in message is for 'evil.test', not 'portal.test'")
    other_chain = text.replace(f"Chain ID: {CHAIN_ID}", "Chain ID: 1")
    status, detail = attempt(other_chain, sign(other_chain, PAYEE_KEY))
    assert status == 401 and "chain 1" in detail
    status, detail = attempt(text, sign(text, PAYER_KEY))  # signed by someone else
    assert status == 401 and "not the address's" in detail
    assert attempt(text, "0xzz")[0] == 401
    # the refusals above did not use the nonce up: the right signature still signs in, once
    assert attempt(text, signature)[0] == 200
    status, detail = attempt(text, signature)
    assert status == 401 and "already used" in detail

    stranger = siwe_sign_in(client, STRANGER_KEY)
    assert stranger.status_code == 403 and "neither payer nor payee" in stranger.json()["detail"]

    refused = [(e.actor, e.detail["reason"]) for e in audit_rows(sqlite_db.factory) if e.outcome == "refused"]
    assert len(refused) == 6
    assert (f"party:{STRANGER}", stranger.json()["detail"]) in refused
    assert any("evil.test" in reason for _, reason in refused)
    text_of_log = audit_text(sqlite_db.factory)
    assert signature.removeprefix("0x") not in text_of_log and signature not in text_of_log


def test_a_replayed_message_is_refused_by_a_second_gateway_on_the_same_database(db):
    _seed(db)
    first, second = client_for(db.factory), client_for(db.factory)
    text = first.post("/v1/auth/siwe/nonce", json={"address": Account.from_key(PAYER_KEY).address}).json()["message"]
    signature = sign(text, PAYER_KEY)
    assert first.post("/v1/auth/siwe", json={"message": text, "signature": signature}).status_code == 200
    replay = second.post("/v1/auth/siwe", json={"message": text, "signature": signature})
    assert replay.status_code == 401 and "already used" in replay.json()["detail"]


def test_expired_nonces_are_purged_and_cannot_sign_in(sqlite_db):
    _seed(sqlite_db)
    client = client_for(sqlite_db.factory)
    text = client.post("/v1/auth/siwe/nonce", json={"address": Account.from_key(PAYER_KEY).address}).json()["message"]
    with sqlite_db.session() as session:
        for row in session.scalars(select(SiweNonce)):
            row.expires_at = utcnow() - timedelta(seconds=1)
    client.post("/v1/auth/siwe/nonce")  # a new challenge purges the expired one
    with sqlite_db.factory() as session:
        assert len(list(session.scalars(select(SiweNonce)))) == 1
    refused = client.post("/v1/auth/siwe", json={"message": text, "signature": sign(text, PAYER_KEY)})
    assert refused.status_code == 401 and "already used" in refused.json()["detail"]


def test_session_fixation_a_cookie_brought_to_sign_in_is_ended_not_reused(sqlite_db):
    _seed(sqlite_db)
    planted = siwe_sign_in(client_for(sqlite_db.factory), PAYER_KEY).json()["token"]  # e.g. a session an attacker planted
    client = client_for(sqlite_db.factory)
    client.cookies.set("settle_session", planted, domain="testserver.local", path="/")
    fresh = siwe_sign_in(client, PAYER_KEY)
    assert fresh.status_code == 200 and fresh.json()["token"] != planted
    assert client.cookies.get("settle_session") == fresh.json()["token"]
    assert client.get("/v1/auth/me", headers={"Authorization": f"Bearer {planted}"}).status_code == 401
    assert client.get("/v1/auth/me", headers={"Authorization": f"Bearer {fresh.json()['token']}"}).status_code == 200
    # a made-up cookie value is not adopted either: the session is the server's new one
    client.cookies.set("settle_session", "sts_chosen-by-the-attacker", domain="testserver.local", path="/")
    again = siwe_sign_in(client, PAYER_KEY).json()["token"]
    assert again != "sts_chosen-by-the-attacker"
    with sqlite_db.factory() as session:
        assert len(list(session.scalars(select(AuthSession)))) == 3


def test_sign_out_with_the_cookie_needs_the_csrf_token(sqlite_db):
    _seed(sqlite_db)
    client = client_for(sqlite_db.factory)
    body = siwe_sign_in(client, PAYEE_KEY).json()
    refused = client.post("/v1/auth/sign-out")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert client.get("/v1/auth/me").status_code == 200  # still signed in
    assert client.post("/v1/auth/sign-out", headers={"X-CSRF-Token": "0" * 43}).status_code == 403
    out = client.post("/v1/auth/sign-out", headers={"X-CSRF-Token": body["csrf"]})
    assert out.status_code == 204 and 'settle_session=""' in out.headers["set-cookie"]
    assert client.get("/v1/auth/me", headers={"Authorization": f"Bearer {body['token']}"}).status_code == 401
    # a session bearer signs out without CSRF (no cookie, nothing a browser sends by itself)
    other = siwe_sign_in(client_for(sqlite_db.factory), PAYER_KEY).json()["token"]
    plain = client_for(sqlite_db.factory)
    assert plain.post("/v1/auth/sign-out", headers={"Authorization": f"Bearer {other}"}).status_code == 204
    assert plain.get("/v1/auth/me", headers={"Authorization": f"Bearer {other}"}).status_code == 401
    assert ("sign_out", "ok") in [(e.action, e.outcome) for e in audit_rows(sqlite_db.factory)]


def test_sign_in_is_rate_limited_per_client_and_per_address(sqlite_db):
    _seed(sqlite_db)
    portal = Portal(site=SITE, limits={"ip": (3, 60.0), "subject": (2, 60.0), "accept": (1, 60.0)})
    client = client_for(sqlite_db.factory, portal=portal)
    assert siwe_sign_in(client, PAYER_KEY).status_code == 200  # ip: 2 used (nonce + sign-in), address: 1
    challenge = client.post("/v1/auth/siwe/nonce", json={"address": Account.from_key(PAYER_KEY).address})  # ip: 3
    text = challenge.json()["message"]
    limited = client.post("/v1/auth/siwe", json={"message": text, "signature": sign(text, PAYER_KEY)})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert audit_rows(sqlite_db.factory)[-1].detail == {"method": "siwe", "reason": "rate limited"}
    # per address: a fresh client address, the same party
    portal.limits["ip"] = (100, 60.0)
    assert siwe_sign_in(client, PAYER_KEY).status_code == 200  # address: 2
    assert siwe_sign_in(client, PAYER_KEY).status_code == 429
    assert siwe_sign_in(client, PAYEE_KEY).status_code == 200  # another address is not held back
    # accepting invitations has a limit of its own
    assert client.post("/v1/staff/invites/accept", json={"token": "sti_x", "password": "p" * 12}).status_code == 400
    assert client.post("/v1/staff/invites/accept", json={"token": "sti_x", "password": "p" * 12}).status_code == 429
    assert audit_rows(sqlite_db.factory)[-1].detail == {"reason": "rate limited"}


def test_an_erc1271_wallet_signs_in_through_the_node(chain, sqlite_db, accounts):
    owner = accounts[4]
    wallet = chain.deploy("MockERC1271Wallet", owner.address, sender=accounts[0])
    with sqlite_db.session() as session:
        add_agreement(session, AGREEMENT, wallet.address, PAYEE, chain_id=chain.chain_id)
    client = client_for(sqlite_db.factory, chain=chain, erc1271=erc1271_for(chain.url))
    challenge = client.post("/v1/auth/siwe/nonce", json={"address": wallet.address}).json()
    assert challenge["chain_id"] == chain.chain_id
    text = challenge["message"]
    digest = message_hash(text)
    stranger_signature = "0x" + bytes(Account.unsafe_sign_hash(digest, STRANGER_KEY).signature).hex()
    refused = client.post("/v1/auth/siwe", json={"message": text, "signature": stranger_signature})
    assert refused.status_code == 401 and "not the address's" in refused.json()["detail"]
    signature = "0x" + bytes(Account.unsafe_sign_hash(digest, owner.key).signature).hex()
    answer = client.post("/v1/auth/siwe", json={"message": text, "signature": signature})
    assert answer.status_code == 200, answer.text
    assert answer.json()["party"] == wallet.address.lower()
    # an EOA that is no wallet: the eth_call answers nothing, the check says no (not an error)
    with sqlite_db.session() as session:
        add_agreement(session, "0x" + "a2" * 20, STRANGER, PAYEE, chain_id=chain.chain_id)
    text = client.post("/v1/auth/siwe/nonce", json={"address": Account.from_key(STRANGER_KEY).address}).json()["message"]
    wrong = client.post("/v1/auth/siwe", json={"message": text, "signature": sign(text, PAYER_KEY)})
    assert wrong.status_code == 401


def test_without_a_chain_siwe_is_off(sqlite_db):
    client = client_for(sqlite_db.factory, chain_id=None)
    assert client.post("/v1/auth/siwe/nonce").status_code == 503

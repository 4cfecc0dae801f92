"""Staff: a party invites by e-mail through a real SMTP server on loopback, the link sets the password once, staff
sign in with it (lockout after repeated failures, across gateway instances), TOTP once enrolled, a disabled
account's session stops at once; nothing secret reaches the audit log."""

from __future__ import annotations

import re
import statistics
import time
from datetime import timedelta

import pytest
from portal_support import (
    OPERATOR_TOKEN,
    PAYEE,
    PAYEE_KEY,
    PAYER,
    PAYER_KEY,
    add_agreement,
    audit_rows,
    audit_text,
    client_for,
    siwe_sign_in,
)
from receivables_testdata import PASSWORD as SMTP_PASSWORD
from receivables_testdata import USER as SMTP_USER
from sqlalchemy import select

from gateway.models import StaffAccount, StaffInvite
from gateway.models.base import utcnow
from gateway.portal import accounts
from gateway.receivables.mail import Mailer
from settle.auth.passwords import totp_now

GOOD_PASSWORD = "correct horse battery staple 7"
EMAIL = "ap.clerk@payer.example"
LINK = re.compile(r"http://portal\.test/invite\?token=(sti_[A-Za-z0-9_-]+)")


def _mailer(smtp):  # type: ignore[no-untyped-def]
    return lambda: Mailer(smtp.host, smtp.port, sender="portal@settle.test", user=SMTP_USER, password=SMTP_PASSWORD, starttls=False)


def _seed(db) -> None:  # type: ignore[no-untyped-def]
    with db.session() as session:
        add_agreement(session, "0x" + "a1" * 20, PAYER, PAYEE)


def _party(client, key=PAYER_KEY) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Sign ``client`` in as a party (cookie) and answer the CSRF header its changes need."""
    body = siwe_sign_in(client, key).json()
    return {"X-CSRF-Token": body["csrf"]}


def _invite(client, smtp, email=EMAIL, role="finance") -> str:  # type: ignore[no-untyped-def]
    headers = _party(client)
    answer = client.post("/v1/staff", json={"email": email, "role": role}, headers=headers)
    assert answer.status_code == 201, answer.text
    assert "token" not in answer.text and answer.json()["state"] == "invited"
    recipients, message = smtp.mailbox.messages[-1]
    assert recipients == [email]
    found = LINK.search(message.get_content())
    assert found is not None, message.get_content()
    return found.group(1)


def _staff_client(db, smtp, email=EMAIL, role="finance"):  # type: ignore[no-untyped-def]
    client = client_for(db.factory, mailer_factory=_mailer(smtp))
    token = _invite(client, smtp, email, role)
    accepted = client.post("/v1/staff/invites/accept", json={"token": token, "password": GOOD_PASSWORD})
    assert accepted.status_code == 200, accepted.text
    return client, token, accepted.json()["id"]


def test_an_invitation_by_email_sets_the_password_once_and_staff_sign_in(sqlite_db, smtp):
    _seed(sqlite_db)
    client, token, account_id = _staff_client(sqlite_db, smtp)
    assert smtp.logins == [SMTP_USER]
    _, message = smtp.mailbox.messages[-1]
    assert "finance" in message.get_content() and "7 days" in message.get_content()
    again = client.post("/v1/staff/invites/accept", json={"token": token, "password": GOOD_PASSWORD + "x"})
    assert again.status_code == 400 and "used already" in again.json()["detail"]
    assert [(e["loc"], e["type"]) for e in again.json()["errors"]] == [(["body", "token"], "invite_used")]

    staff = client_for(sqlite_db.factory)
    signed = staff.post("/v1/auth/password", json={"email": EMAIL.upper().replace("AP.CLERK", "ap.clerk"), "password": GOOD_PASSWORD})
    assert signed.status_code == 200, signed.text
    assert signed.json()["kind"] == "staff" and signed.json()["role"] == "finance" and signed.json()["party"] == PAYER
    assert "HttpOnly" in signed.headers["set-cookie"]
    me = staff.get("/v1/auth/me").json()
    assert me["kind"] == "staff" and me["subject"] == f"staff:{account_id}" and me["scopes"] == ["master-data", "read"]

    listed = client.get("/v1/staff").json()  # the party's cookie
    assert [(s["email"], s["state"], s["role"]) for s in listed] == [(EMAIL, "active", "finance")]
    other = client_for(sqlite_db.factory)
    _party(other, PAYEE_KEY)
    assert other.get("/v1/staff").json() == []
    assert other.get("/v1/staff", params={"party": PAYER}).status_code == 403
    assert staff.get("/v1/staff").status_code == 403  # staff do not manage staff
    everyone = client_for(sqlite_db.factory).get("/v1/staff", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})
    assert everyone.status_code == 200, everyone.text
    assert [s["id"] for s in everyone.json()] == [account_id]


def test_invitation_rules(sqlite_db, smtp):
    _seed(sqlite_db)
    client = client_for(sqlite_db.factory, mailer_factory=_mailer(smtp))
    headers = _party(client)
    assert client.post("/v1/staff", json={"email": EMAIL, "role": "finance"}).status_code == 403  # cookie without CSRF
    assert client.post("/v1/staff", json={"email": EMAIL, "role": "owner"}, headers=headers).status_code == 422
    assert client.post("/v1/staff", json={"email": "not-an-address", "role": "viewer"}, headers=headers).status_code == 422
    foreign = client.post("/v1/staff", json={"email": EMAIL, "role": "viewer", "party": PAYEE}, headers=headers)
    assert foreign.status_code == 403
    anonymous = client_for(sqlite_db.factory, mailer_factory=_mailer(smtp)).post("/v1/staff", json={"email": EMAIL, "role": "viewer"})
    assert anonymous.status_code == 401
    operator = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    plain = client_for(sqlite_db.factory, mailer_factory=_mailer(smtp))
    assert plain.post("/v1/staff", json={"email": EMAIL, "role": "viewer"}, headers=operator).status_code == 422  # names no party
    assert plain.post("/v1/staff", json={"email": EMAIL, "role": "viewer", "party": PAYEE}, headers=operator).status_code == 201
    taken = client.post("/v1/staff", json={"email": EMAIL, "role": "viewer"}, headers=headers)
    assert taken.status_code == 409  # invited for another party
    no_smtp = client_for(sqlite_db.factory)
    h = _party(no_smtp)
    refused = no_smtp.post("/v1/staff", json={"email": "x.y@payer.example", "role": "viewer"}, headers=h)
    assert refused.status_code == 503 and "settle portal staff invite" in refused.json()["detail"]
    with sqlite_db.factory() as session:
        assert session.scalar(select(StaffAccount).where(StaffAccount.email == "x.y@payer.example")) is None


def test_a_failed_send_stores_nothing(sqlite_db, smtp):
    _seed(sqlite_db)
    dead = lambda: Mailer("127.0.0.1", 1, sender="portal@settle.test", starttls=False, timeout=2)  # noqa: E731
    client = client_for(sqlite_db.factory, mailer_factory=dead)
    answer = client.post("/v1/staff", json={"email": EMAIL, "role": "viewer"}, headers=_party(client))
    assert answer.status_code == 502 and "nothing was stored" in answer.json()["detail"]
    with sqlite_db.factory() as session:
        assert session.scalars(select(StaffAccount)).all() == []


def test_expired_invitations_and_weak_passwords_are_refused(sqlite_db, smtp):
    _seed(sqlite_db)
    client = client_for(sqlite_db.factory, mailer_factory=_mailer(smtp))
    token = _invite(client, smtp)
    weak = client.post("/v1/staff/invites/accept", json={"token": token, "password": "short"})
    assert weak.status_code == 422 and "12 characters" in weak.json()["detail"]
    assert weak.json()["errors"][0]["type"] == "password_too_short" and weak.json()["errors"][0]["loc"] == ["body", "password"]
    # every rule a password breaks has a kind of its own, for programs (the dashboard words each in its language)
    kinds = {
        password: client.post("/v1/staff/invites/accept", json={"token": token, "password": password}).json()["errors"][0]["type"]
        for password in (EMAIL.split("@")[0] + "-Zq9#x", "abababababababab")
    }
    assert list(kinds.values()) == ["password_contains_email", "password_too_simple"]
    with sqlite_db.session() as session:
        for invite in session.scalars(select(StaffInvite)):
            invite.expires_at = utcnow() - timedelta(seconds=1)
    expired = client.post("/v1/staff/invites/accept", json={"token": token, "password": GOOD_PASSWORD})
    assert expired.status_code == 400 and "expired" in expired.json()["detail"] and expired.json()["errors"][0]["type"] == "invite_expired"
    unknown = client.post("/v1/staff/invites/accept", json={"token": "sti_nothing", "password": GOOD_PASSWORD})
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["type"] == "invite_unknown"
    # a new invitation gives a new link; the old one stays dead
    fresh = _invite(client, smtp)
    with sqlite_db.session() as session:  # disabled while its invitation waits: the link no longer works
        session.scalars(select(StaffAccount)).one().state = "disabled"
    off = client.post("/v1/staff/invites/accept", json={"token": fresh, "password": GOOD_PASSWORD})
    assert off.status_code == 400 and off.json()["errors"][0]["type"] == "invite_account_not_invited"
    with sqlite_db.session() as session:
        session.scalars(select(StaffAccount)).one().state = "invited"
    assert client.post("/v1/staff/invites/accept", json={"token": token, "password": GOOD_PASSWORD}).status_code == 400
    assert client.post("/v1/staff/invites/accept", json={"token": fresh, "password": GOOD_PASSWORD}).status_code == 200
    refused = [
        e.detail.get("reason", "") for e in audit_rows(sqlite_db.factory) if e.action == "staff.invite_accepted" and e.outcome == "refused"
    ]
    assert any("expired" in r for r in refused) and any("12 characters" in r for r in refused)


def test_lockout_after_five_failures_holds_in_a_second_gateway(db, smtp):
    _seed(db)
    _staff_client(db, smtp)
    first, second = client_for(db.factory), client_for(db.factory)
    answers = [
        first.post("/v1/auth/password", json={"email": EMAIL, "password": f"wrong password {i}"}) for i in range(accounts.MAX_FAILURES)
    ]
    assert {a.status_code for a in answers} == {401}
    assert {a.json()["detail"] for a in answers} == {accounts.REFUSED}
    assert {a.json()["errors"][0]["type"] for a in answers} == {"sign_in_refused"}
    # locked: the right password is refused, with the same text, in this gateway and in another one
    for client in (first, second):
        locked = client.post("/v1/auth/password", json={"email": EMAIL, "password": GOOD_PASSWORD})
        assert locked.status_code == 401 and locked.json()["detail"] == accounts.REFUSED
        assert locked.json()["errors"][0]["type"] == "sign_in_refused"  # a locked account's kind is a wrong password's
    unknown = second.post("/v1/auth/password", json={"email": "nobody@payer.example", "password": GOOD_PASSWORD})
    assert unknown.status_code == 401 and unknown.json()["detail"] == accounts.REFUSED
    reasons = [e.detail["reason"] for e in audit_rows(db.factory) if e.action == "sign_in" and e.outcome == "refused"]
    assert reasons.count("wrong password") == accounts.MAX_FAILURES
    assert sum(r.startswith("account locked until") for r in reasons) == 2 and "unknown e-mail" in reasons
    with db.session() as session:
        account = session.scalars(select(StaffAccount)).one()
        assert account.locked_until is not None and account.locked_until > utcnow() + timedelta(minutes=14)
        account.locked_until = utcnow() - timedelta(seconds=1)  # the 15 minutes are over
    assert second.post("/v1/auth/password", json={"email": EMAIL, "password": GOOD_PASSWORD}).status_code == 200


def test_unknown_email_costs_the_same_work_as_a_wrong_password(sqlite_db, smtp):
    _seed(sqlite_db)
    _staff_client(sqlite_db, smtp)
    client = client_for(sqlite_db.factory)

    def timed(email: str) -> float:
        started = time.perf_counter()
        assert client.post("/v1/auth/password", json={"email": email, "password": "wrong password!"}).status_code == 401
        return time.perf_counter() - started

    known = statistics.median(timed(EMAIL) for _ in range(3))
    with sqlite_db.session() as session:  # three failures so far: reset them so the next runs do not lock the account
        session.scalars(select(StaffAccount)).one().failed_attempts = 0
    unknown = statistics.median(timed("nobody@payer.example") for _ in range(3))
    # both run one argon2id hash (tens of milliseconds); a missing hash would make the unknown one far faster
    assert unknown > known / 3, (known, unknown)


def test_totp_is_required_once_confirmed(sqlite_db, smtp):
    _seed(sqlite_db)
    _staff_client(sqlite_db, smtp)
    staff = client_for(sqlite_db.factory)
    csrf = staff.post("/v1/auth/password", json={"email": EMAIL, "password": GOOD_PASSWORD}).json()["csrf"]
    assert staff.post("/v1/staff/me/totp").status_code == 403  # cookie without CSRF
    enrolled = staff.post("/v1/staff/me/totp", headers={"X-CSRF-Token": csrf})
    assert enrolled.status_code == 200, enrolled.text
    secret = enrolled.json()["secret"]
    assert enrolled.json()["uri"].startswith("otpauth://totp/") and secret in enrolled.json()["uri"]
    # not confirmed yet: the password alone still signs in
    assert client_for(sqlite_db.factory).post("/v1/auth/password", json={"email": EMAIL, "password": GOOD_PASSWORD}).status_code == 200
    wrong = staff.post("/v1/staff/me/totp/confirm", json={"code": "000000"}, headers={"X-CSRF-Token": csrf})
    if totp_now(secret) != "000000":
        assert wrong.status_code == 422
    assert staff.post("/v1/staff/me/totp/confirm", json={"code": totp_now(secret)}, headers={"X-CSRF-Token": csrf}).status_code == 200
    assert staff.post("/v1/staff/me/totp", headers={"X-CSRF-Token": csrf}).status_code == 409  # already on

    fresh = client_for(sqlite_db.factory)
    missing = fresh.post("/v1/auth/password", json={"email": EMAIL, "password": GOOD_PASSWORD})
    assert missing.status_code == 401 and missing.json()["detail"] == accounts.TOTP_NEEDED
    assert missing.json()["errors"][0]["type"] == "totp_required"
    bad_code = "111111" if totp_now(secret) != "111111" else "222222"
    wrong_code = fresh.post("/v1/auth/password", json={"email": EMAIL, "password": GOOD_PASSWORD, "totp": bad_code})
    assert wrong_code.status_code == 401 and wrong_code.json()["detail"] == accounts.REFUSED
    assert wrong_code.json()["errors"][0]["type"] == "sign_in_refused"
    ok = fresh.post("/v1/auth/password", json={"email": EMAIL, "password": GOOD_PASSWORD, "totp": totp_now(secret)})
    assert ok.status_code == 200, ok.text
    # a wrong password with the right code is still a wrong password
    assert fresh.post("/v1/auth/password", json={"email": EMAIL, "password": "nope nope nope", "totp": totp_now(secret)}).status_code == 401
    assert secret not in audit_text(sqlite_db.factory)
    # a party has no TOTP of its own (it signs with its key)
    party = client_for(sqlite_db.factory)
    assert party.post("/v1/staff/me/totp", headers=_party(party)).status_code == 403


def test_a_disabled_account_stops_at_once_and_can_be_enabled(sqlite_db, smtp):
    _seed(sqlite_db)
    client, _, account_id = _staff_client(sqlite_db, smtp)
    party_headers = _party(client)
    staff_token = client_for(sqlite_db.factory).post("/v1/auth/password", json={"email": EMAIL, "password": GOOD_PASSWORD}).json()["token"]
    bearer = {"Authorization": f"Bearer {staff_token}"}
    reader = client_for(sqlite_db.factory)
    assert reader.get("/v1/auth/me", headers=bearer).status_code == 200  # now cached by that app's authenticator
    other = client_for(sqlite_db.factory)
    assert other.post(f"/v1/staff/{account_id}/disable", headers=_party(other, PAYEE_KEY)).status_code == 404
    assert client.post(f"/v1/staff/{account_id}/disable").status_code == 403  # no CSRF
    disabled = client.post(f"/v1/staff/{account_id}/disable", headers=party_headers)
    assert disabled.status_code == 200 and disabled.json()["state"] == "disabled"
    assert client.get("/v1/auth/me", headers=bearer).status_code == 401
    refused = client_for(sqlite_db.factory).post("/v1/auth/password", json={"email": EMAIL, "password": GOOD_PASSWORD})
    assert refused.status_code == 401 and refused.json()["detail"] == accounts.REFUSED
    enabled = client.post(f"/v1/staff/{account_id}/enable", headers=party_headers)
    assert enabled.status_code == 200 and enabled.json()["state"] == "active"
    assert client.get("/v1/auth/me", headers=bearer).status_code == 401  # its old sessions stay ended
    assert client_for(sqlite_db.factory).post("/v1/auth/password", json={"email": EMAIL, "password": GOOD_PASSWORD}).status_code == 200
    actions = [(e.action, e.actor) for e in audit_rows(sqlite_db.factory)]
    assert ("staff.disabled", f"party:{PAYER}") in actions and ("staff.enabled", f"party:{PAYER}") in actions


@pytest.mark.parametrize("role", ["viewer", "finance"])
def test_staff_scopes_follow_the_role(sqlite_db, smtp, role):
    _seed(sqlite_db)
    _staff_client(sqlite_db, smtp, role=role)
    me = client_for(sqlite_db.factory)
    me.post("/v1/auth/password", json={"email": EMAIL, "password": GOOD_PASSWORD})
    assert me.get("/v1/auth/me").json()["role"] == role
    assert ("master-data" in me.get("/v1/auth/me").json()["scopes"]) is (role == "finance")


def test_the_audit_log_holds_no_secret(sqlite_db, smtp):
    _seed(sqlite_db)
    client, invite_token, _ = _staff_client(sqlite_db, smtp)
    staff = client_for(sqlite_db.factory)
    signed = staff.post("/v1/auth/password", json={"email": EMAIL, "password": GOOD_PASSWORD}).json()
    secret = staff.post("/v1/staff/me/totp", headers={"X-CSRF-Token": signed["csrf"]}).json()["secret"]
    staff.post("/v1/staff/me/totp/confirm", json={"code": totp_now(secret)}, headers={"X-CSRF-Token": signed["csrf"]})
    client_for(sqlite_db.factory).post("/v1/auth/password", json={"email": EMAIL, "password": "a wrong password 1"})
    client_for(sqlite_db.factory).post("/v1/auth/password", json={"email": GOOD_PASSWORD, "password": GOOD_PASSWORD})  # fields swapped
    issued = client.post(
        "/v1/tokens", json={"scopes": ["read"], "label": "erp"}, headers={"X-CSRF-Token": client.get("/v1/auth/me").json()["csrf"]}
    )
    assert issued.status_code == 201
    log = audit_text(sqlite_db.factory)
    for secret_value in (
        GOOD_PASSWORD,
        "a wrong password 1",
        invite_token,
        secret,
        signed["token"],
        issued.json()["token"],
        signed["csrf"],
    ):
        assert secret_value not in log
    assert issued.json()["token"][:12] in log  # tokens appear by their prefix
    with sqlite_db.factory() as session:
        account = session.scalars(select(StaffAccount)).one()
        assert account.password_hash is not None and account.password_hash.startswith("$argon2id$")
        assert session.scalars(select(StaffInvite.token_hash)).one() != invite_token

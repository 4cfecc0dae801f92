"""``settle portal``: tokens printed once and refused by the API once revoked; staff invited (the link printed
without SMTP, sent through a real SMTP server with it), listed, disabled (its sessions end) and enabled; the
audit log, with ``--json``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from portal_support import PAYER, client_for
from receivables_testdata import PASSWORD as SMTP_PASSWORD
from receivables_testdata import USER as SMTP_USER
from typer.testing import CliRunner

from gateway import cli
from gateway.database import open_database
from gateway.portal.cli import portal_app

runner = CliRunner()
GOOD_PASSWORD = "correct horse battery staple 7"


@pytest.fixture()
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("SETTLE_GATEWAY_DATABASE_URL", url)
    monkeypatch.setenv("SETTLE_ACTOR", "cli-test")
    monkeypatch.setenv("SETTLE_GATEWAY_PORTAL_URL", "https://billing.example.com/portal/")
    monkeypatch.delenv("SETTLE_GATEWAY_SMTP_HOST", raising=False)
    cli.reset()
    yield url
    cli.reset()


def ok(*args: object) -> str:
    result = runner.invoke(portal_app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def ok_json(*args: object) -> Any:
    """A ``--json`` command's answer, from standard output alone (a log line on standard error, such as the loopback
    SMTP server's, must not break it)."""
    result = runner.invoke(portal_app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_tokens_are_printed_once_and_revoked(database: str) -> None:
    issued = ok("token", "issue", "--scopes", "read,usage", "--owner", PAYER.upper().replace("0X", "0x"), "--label", "ERP", "--days", "30")
    token = issued.split("token (shown once, keep it with the client): ")[1].strip()
    assert token.startswith("stl_") and f"for {PAYER}" in issued
    listed = ok("token", "list")
    assert token[:12] in listed and token not in listed and "live" in listed and "[read, usage]" in listed
    as_json = ok_json("token", "issue", "--scopes", "audit", "--no-expiry", "--json")
    assert as_json["token"].startswith("stl_") and as_json["expires_at"] is None and as_json["owner"] is None
    refused = runner.invoke(portal_app, ["token", "issue", "--scopes", "operator", "--owner", PAYER])
    assert refused.exit_code != 0 and "without an owner party" in refused.output
    refused = runner.invoke(portal_app, ["token", "issue", "--scopes", "reed"])
    assert refused.exit_code != 0 and "unknown scope 'reed'" in refused.output

    _, factory = open_database(database)
    api = client_for(factory)
    assert api.get("/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).json()["party"] == PAYER
    assert "revoked" in ok("token", "revoke", token[:12])
    assert client_for(factory).get("/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    rows = ok_json("token", "list", "--json", "--owner", PAYER)["tokens"]
    assert [(r["prefix"], r["live"]) for r in rows] == [(token[:12], False)]
    assert runner.invoke(portal_app, ["token", "revoke", "stl_nothing0"]).exit_code != 0

    entries = ok_json("audit", "--json")["entries"]
    assert [e["action"] for e in entries][:3] == ["token.revoked", "token.issued", "token.issued"]
    assert {e["actor"] for e in entries} == {"cli-test"}
    assert token not in json.dumps(entries) and as_json["token"] not in json.dumps(entries)


def test_staff_invite_prints_the_link_without_smtp_and_sends_it_with(database: str, smtp, monkeypatch: pytest.MonkeyPatch) -> None:
    printed = ok("staff", "invite", "--party", PAYER, "--email", "clerk@payer.example", "--role", "finance")
    link = re.search(r"https://billing\.example\.com/portal/invite\?token=(sti_\S+)", printed)
    assert link is not None, printed
    _, factory = open_database(database)
    api = client_for(factory)
    assert api.post("/v1/staff/invites/accept", json={"token": link.group(1), "password": GOOD_PASSWORD}).status_code == 200
    session = api.post("/v1/auth/password", json={"email": "clerk@payer.example", "password": GOOD_PASSWORD})
    assert session.status_code == 200
    bearer = {"Authorization": f"Bearer {session.json()['token']}"}

    monkeypatch.setenv("SETTLE_GATEWAY_SMTP_HOST", smtp.host)
    monkeypatch.setenv("SETTLE_GATEWAY_SMTP_PORT", str(smtp.port))
    monkeypatch.setenv("SETTLE_GATEWAY_SMTP_USER", SMTP_USER)
    monkeypatch.setenv("SETTLE_GATEWAY_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("SETTLE_GATEWAY_SMTP_STARTTLS", "false")
    sent = ok_json("staff", "invite", "--party", PAYER, "--email", "viewer@payer.example", "--json")
    assert sent["sent"] is True and "link" not in sent and sent["role"] == "viewer"
    recipients, message = smtp.mailbox.messages[-1]
    assert recipients == ["viewer@payer.example"] and "https://billing.example.com/portal/invite?token=sti_" in message.get_content()

    staff = ok_json("staff", "list", "--json", "--party", PAYER)["staff"]
    assert [(s["email"], s["state"]) for s in staff] == [("clerk@payer.example", "active"), ("viewer@payer.example", "invited")]
    clerk = staff[0]["id"]
    assert "1 session(s) ended" in ok("staff", "disable", clerk)
    assert client_for(factory).get("/v1/auth/me", headers=bearer).status_code == 401
    assert "enabled: active" in ok("staff", "enable", clerk)
    assert "disabled" not in ok("staff", "list")
    assert runner.invoke(portal_app, ["staff", "disable", "999"]).exit_code != 0
    text = ok("audit", "--party", PAYER)
    assert "staff.disabled" in text and "staff.invited" in text and GOOD_PASSWORD not in text and link.group(1) not in text

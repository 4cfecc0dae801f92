"""``settle webhooks``: add prints the secret once, list never shows it, disable and enable, the delivery log with
every attempt, and replay of one event or a date range."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner
from webhook_support import Clock, Receiver

from gateway import cli
from gateway.database import open_database, unit_of_work
from gateway.receivables.events import record_event
from gateway.webhooks.cli import webhooks_app
from gateway.webhooks.dispatch import Dispatcher

runner = CliRunner()
PAYER = "0x" + "11" * 20
PAYEE = "0x" + "22" * 20


@pytest.fixture()
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("SETTLE_GATEWAY_DATABASE_URL", url)
    monkeypatch.setenv("SETTLE_ACTOR", "cli-test")
    cli.reset()
    yield url
    cli.reset()


def ok(*args: object) -> str:
    result = runner.invoke(webhooks_app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def test_add_list_deliveries_replay_disable_enable(database: str, receiver: Receiver, clock: Clock) -> None:
    added = ok("add", "--owner", PAYER, "--url", receiver.url("payer") + "?token=abc", "--events", "payment.confirmed,payment.returned")
    secret = added.split("signing secret (shown once, keep it with the receiver): ")[1].strip()
    receiver.secrets["payer"] = secret
    listed = ok("list")
    assert "payment.confirmed, payment.returned" in listed and secret not in listed and "token=abc" not in listed
    refused = runner.invoke(webhooks_app, ["add", "--owner", PAYER, "--url", "https://u:p@example.com/"])
    assert refused.exit_code != 0 and "must not contain a user or password" in refused.output

    _, factory = open_database(database)
    with unit_of_work(factory, "test") as session:
        event, _ = record_event(session, "payment.confirmed", "paid:1", payer=PAYER, payee=PAYEE)
        event_id, occurred = event.id, event.occurred_at
    receiver.plans["payer"] = [502]
    work = Dispatcher(factory, timeout=1, clock=clock)
    work.run_once()
    log = ok("deliveries", "--endpoint", 1)
    assert f"event {event_id} → endpoint 1: pending, 1 attempt(s)" in log and " 502 " in log and "HTTP 502" in log

    assert f"event {event_id} → endpoint 1: replay 1 queued" in ok("replay", event_id)
    day = occurred.date().isoformat()
    assert "replay 2 queued" in ok("replay", "--from", day, "--to", f"{day}T23:59:59")
    clock.advance(timedelta(seconds=30))  # replays are due from the wall clock's now; the first one's retry after a minute
    work.run_once()
    assert ok("deliveries", "--state", "delivered").count("delivered") == 2
    assert [r.body["id"] for r in receiver.of("payer")] == [event_id] * 3

    assert "disabled: maintenance" in ok("disable", 1, "--reason", "maintenance")
    assert "disabled (maintenance)" in ok("list")
    failed = runner.invoke(webhooks_app, ["replay", str(event_id), "--endpoint", "1"])
    assert failed.exit_code != 0 and "enable it first" in failed.output
    assert "enabled" in ok("enable", 1)
    missing = runner.invoke(webhooks_app, ["replay"])
    assert missing.exit_code != 0 and "give an EVENT_ID" in missing.output
    work.close()

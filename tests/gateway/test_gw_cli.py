"""The gateway's command groups: help everywhere, one clear line for bad input, nothing stored on failure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from gateway_testdata import AGREEMENT, CHAIN_ID, FIXTURES, PAYEE, PAYEE_IBAN, PAYER, PAYER_IBAN, on_chain
from typer.testing import CliRunner

from gateway import cli
from gateway.banking.references import end_to_end_id
from gateway.database import open_database

runner = CliRunner()


@pytest.fixture()
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("SETTLE_GATEWAY_DATABASE_URL", url)
    monkeypatch.setenv("SETTLE_ACTOR", "cli-test")
    cli.reset()
    yield url
    cli.reset()


def run(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(cli.app, [str(a) for a in args])


def ok(*args: str) -> str:
    result = run(*args)
    assert result.exit_code == 0, result.output + result.stderr
    return result.stdout


def fails(*args: str) -> str:
    result = run(*args)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output
    return lines[0]


def counts(url: str) -> dict[str, int]:
    from gateway_testdata import Database

    engine, factory = open_database(url)
    try:
        return Database(engine, factory).counts()
    finally:
        engine.dispose()


def commands(app: typer.Typer) -> Iterator[tuple[str, typer.models.CommandInfo]]:
    for name, sub in cli.SUBCOMMANDS.items():
        for command in sub.registered_commands:
            yield f"{name} {command.name}", command


def test_every_command_has_help() -> None:
    names = []
    for name, command in commands(cli.app):
        assert (command.callback.__doc__ or "").strip(), f"{name} has no help text"
        result = run(*name.split(), "--help")
        assert result.exit_code == 0 and "Usage:" in result.stdout, name
        names.append(name)
    for expected in (
        "party add",
        "party show",
        "party list",
        "party history",
        "mandate add",
        "bank simulate",
        "statements import",
        "unmatched list",
    ):
        assert expected in names
    parent = typer.Typer()
    cli.register(parent)
    assert {g.name for g in parent.registered_groups} == set(cli.SUBCOMMANDS)


def test_party_commands(database: str) -> None:
    assert "registered" in ok(
        "party", "add", PAYER, "--name", "Payer Müller GmbH", "--country", "DE", "--city", "Berlin", "--iban", PAYER_IBAN
    )
    ok("party", "add", PAYEE, "--name", "Payee AG", "--country", "DE", "--creditor-id", "DE98ZZZ09999999999", "--iban", PAYEE_IBAN)
    listing = ok("party", "list")
    assert "Payer Müller GmbH" in listing and "Payee AG" in listing
    shown = ok("party", "show", PAYER)
    assert "DE89 **** **** **** **30 00" in shown and PAYER_IBAN not in shown and "COBADEFFXXX" in shown
    assert PAYER_IBAN in ok("party", "show", PAYER, "--reveal")
    ok("party", "update", PAYER, "--city", "Hamburg")
    history = ok("party", "history", PAYER)
    assert "cli-test  update gw_party#1" in history and "city: 'Berlin' -> 'Hamburg'" in history
    assert PAYER_IBAN not in history
    ok("party", "add-account", PAYER, "--iban", "DE44500105175407324931", "--holder", "Payer Treasury")
    assert "DE44" in ok("party", "show", PAYER)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("party", "add", "0x12", "--name", "X", "--country", "DE"), "error: chain address: '0x12' is not a 0x-prefixed 40-digit"),
        (("party", "add", PAYER, "--name", "X" * 141, "--country", "DE"), "is 141 characters; the limit is 140"),
        (("party", "add", PAYER, "--name", "X", "--country", "DE", "--iban", "DE00123"), "error: IBAN: 'DE00123' is not valid"),
        (("party", "show", PAYER), f"error: party '{PAYER}' is not registered"),
        (("party", "update", PAYER), "error: nothing to change: give at least one option (see --help)"),
        (("mandate", "add", "--debtor", PAYER, "--creditor", PAYEE, "--reference", "M-1", "--signed", "yesterday"),
         "error: date of signature: 'yesterday' is not a date (YYYY-MM-DD)"),
        (("bank", "simulate", "--outbox", ".", "--inbox", ".", "--return", "nonsense"),
         "error: --return: 'nonsense' must be END_TO_END_ID=REASON"),
        (("bank", "simulate", "--outbox", ".", "--inbox", ".", "--return-rate", "AM04=lots"),
         "error: --return-rate: 'AM04=lots' must be REASON=SHARE"),
        (("statements", "import", "/nonexistent/file.xml"), "error: statement file '/nonexistent/file.xml' does not exist"),
    ],
)  # fmt: skip
def test_bad_input_is_one_clear_line_and_stores_nothing(database: str, args: tuple[str, ...], message: str) -> None:
    before = counts(database)
    assert message in fails(*args)
    assert counts(database) == before


def test_from_master_data_to_matched_statement(database: str, tmp_path: Path) -> None:
    ok("party", "add", PAYER, "--name", "Payer", "--country", "DE", "--iban", PAYER_IBAN)
    ok("party", "add", PAYEE, "--name", "Payee AG", "--country", "DE", "--creditor-id", "DE98ZZZ09999999999", "--iban", PAYEE_IBAN)
    assert "next FRST" in ok("mandate", "add", "--debtor", PAYER, "--creditor", PAYEE, "--reference", "M-001", "--signed", "2024-05-01")
    from gateway.banking import payments
    from gateway.database import unit_of_work
    from gateway.parties import masterdata as parties

    _, factory = open_database(database)
    with unit_of_work(factory) as session:
        from datetime import date

        # `payment-method set` reads the agreement from the chain (test_gw_master_data_checks.py); this one is made up.
        parties.set_payment_method(session, on_chain(), kind="sepa_dd", mandate="M-001")
        payments.record_settlement(session, chain_id=CHAIN_ID, agreement=AGREEMENT, period=0, amount=10_000, due_date=date(2025, 3, 5))
        payments.record_settlement(session, chain_id=CHAIN_ID, agreement=AGREEMENT, period=1, amount=12_000, due_date=date(2025, 3, 5))
    assert "2 payments" in ok("payments", "prepare", "--files-dir", tmp_path / "files", "--today", "2025-03-03")
    assert "uploaded STLDD" in ok("payments", "upload", "--outbox", tmp_path / "bank-out")
    returned = end_to_end_id(CHAIN_ID, AGREEMENT, 1)
    simulated = ok(
        "bank",
        "simulate",
        "--outbox",
        tmp_path / "bank-out",
        "--inbox",
        tmp_path / "bank-in",
        "--return",
        f"{returned}=MD06",
        "--seed",
        "3",
    )
    assert simulated.count("wrote ") == 4
    statements_written = sorted((tmp_path / "bank-in").glob("*.xml"))
    imported = [ok("statements", "import", path) for path in statements_written]
    assert sum("matched" in line for line in imported) == 4
    assert "already imported" in fails("statements", "import", statements_written[0])
    assert ok("unmatched", "list").strip() == "no unmatched lines"
    # A foreign booking lands on the unmatched list with its reason.
    ok("statements", "import", FIXTURES / "camt053_v02_collection.xml")
    unmatched = ok("unmatched", "list")
    assert "unmatched: end-to-end id UNKNOWN-E2E-77 is not one of ours" in unmatched and PAYER_IBAN not in unmatched
    assert "no statements waiting" in ok("statements", "poll", "--inbox", tmp_path / "empty")

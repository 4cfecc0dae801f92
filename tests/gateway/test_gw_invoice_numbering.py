"""Invoice numbers, storage and immutability: gapless series under concurrent workers and rollbacks (SQLite and
PostgreSQL), number patterns, the content-addressed store, issued rows that never change, and the arithmetic that
splits amounts into lines and credit notes."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest
from gateway_testdata import Database
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from gateway.database import unit_of_work
from gateway.errors import ConflictError
from gateway.invoicing.document import VatCategory, vat_amount
from gateway.invoicing.issuance import apportion, split_gross
from gateway.invoicing.numbering import check_pattern, format_number, next_number
from gateway.invoicing.store import DocumentStore
from gateway.models import InvoiceFile, InvoiceSeries, IssuedInvoice
from settle.errors import ValidationError

ISSUER = "0x" + "ab" * 20


class Rollback(Exception):
    pass


def test_numbers_stay_gapless_with_concurrent_workers_and_rollbacks(db: Database) -> None:
    """Four workers take numbers at once; every third transaction fails after taking its number. The numbers that
    were committed are exactly 1..n: a rolled-back number is given back, none is taken twice."""
    committed: list[str] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for attempt in range(9):
                try:
                    with unit_of_work(db.factory, f"w{worker}") as session:
                        _, _, number = next_number(session, "RE-{yyyy}-{seq:06}", ISSUER, date(2026, 3, 1))
                        if (worker + attempt) % 3 == 0:
                            raise Rollback
                    with lock:
                        committed.append(number)
                except Rollback:
                    pass
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(committed) == len(set(committed)) == 24
    assert sorted(committed) == [f"RE-2026-{n:06d}" for n in range(1, 25)]
    with unit_of_work(db.factory) as session:
        assert session.scalar(select(InvoiceSeries.last_seq)) == 24


def test_a_pattern_with_the_year_starts_a_series_per_year(sqlite_db: Database) -> None:
    with unit_of_work(sqlite_db.factory) as session:
        days = (date(2026, 12, 31), date(2026, 12, 31), date(2027, 1, 1))
        numbers = [next_number(session, "RE-{yy}-{seq:04}", ISSUER, day)[2] for day in days]
        plain = [next_number(session, "INV{seq}", ISSUER, day)[2] for day in (date(2026, 12, 31), date(2027, 1, 1))]
        other = next_number(session, "INV{seq}", "0x" + "cd" * 20, date(2027, 1, 1))[2]
    assert numbers == ["RE-26-0001", "RE-26-0002", "RE-27-0001"]
    assert plain == ["INV1", "INV2"]  # no year in the pattern: one series across years
    assert other == "INV1"  # each issuer has its own series


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("RE-{yyyy}", "has no {seq}"),
        ("RE-{month}-{seq}", "unknown field(s) ['month']"),
        ("RE/{yyyy}/{seq}", "letters, digits"),
        ("RE {seq}", "letters, digits"),
        ("re-{seq}", "upper-case"),
        ("RE-{seq", "RE-{seq"),
    ],
)
def test_a_bad_number_pattern_is_refused_naming_the_problem(pattern: str, problem: str) -> None:
    with pytest.raises(ValidationError) as err:
        check_pattern(pattern)
    assert problem in str(err.value)


def test_the_default_pattern_and_the_settings_check(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.settings import GatewaySettings, load_settings

    assert format_number(GatewaySettings().invoice_pattern, 7, date(2026, 5, 1)) == "RE-2026-000007"
    monkeypatch.setenv("SETTLE_GATEWAY_INVOICE_PATTERN", "RE-{yyyy}")
    with pytest.raises(Exception, match=r"has no \{seq\}"):
        load_settings()


def test_the_store_is_content_addressed_and_finds_a_changed_file(tmp_path) -> None:
    store = DocumentStore(tmp_path)
    digest = store.put(b"<Invoice/>", "ubl")
    assert store.put(b"<Invoice/>", "ubl") == digest  # same bytes, same name, written once
    assert store.path(digest, "ubl").name == f"{digest}.xml"
    assert store.get(digest, "ubl") == b"<Invoice/>"
    store.path(digest, "ubl").write_bytes(b"<Invoice>changed</Invoice>")
    with pytest.raises(ConflictError, match="changed after issuance"):
        store.get(digest, "ubl")


def _issued(session, number: str = "RE-2026-000001") -> IssuedInvoice:  # type: ignore[no-untyped-def]
    row = IssuedInvoice(
        number=number,
        issuer=ISSUER,
        buyer="0x" + "cd" * 20,
        series_scope="2026",
        seq=1,
        chain_id=31337,
        agreement="0x" + "ef" * 20,
        period=0,
        type_code="380",
        source_key=f"settlement:31337:x:{number}",
        kind="settlement",
        issue_date=date(2026, 2, 4),
        currency="EUR",
        net=10000,
        vat=1900,
        gross=11900,
        vat_category="S",
        vat_rate=1900,
        document_hash="0x" + number.encode().hex().ljust(64, "0"),
        number_hash="0x" + "11" * 32,
    )
    session.add(row)
    session.flush()
    session.add(InvoiceFile(invoice_id=row.id, format="ubl", media_type="application/xml", sha256="00" * 32, size=10))
    session.flush()
    return row


def test_an_issued_invoice_never_changes_and_is_never_deleted(db: Database) -> None:
    with unit_of_work(db.factory) as session:
        _issued(session)
    with unit_of_work(db.factory) as session:  # the anchoring columns are the only ones that change
        row = session.scalar(select(IssuedInvoice))
        assert row is not None
        row.anchor_state, row.anchor_tx = "anchored", "0x" + "22" * 32
    for change in ("gross", "number", "delete", "file"):
        with pytest.raises(ConflictError, match="never"), unit_of_work(db.factory) as session:
            row = session.scalar(select(IssuedInvoice))
            assert row is not None
            if change == "gross":
                row.gross = 1
            elif change == "number":
                row.number = "RE-2026-000099"
            elif change == "delete":
                session.delete(row)
            else:
                row.files[0].sha256 = "11" * 32
    with unit_of_work(db.factory) as session:
        row = session.scalar(select(IssuedInvoice))
        assert row is not None
        assert (row.number, row.gross, row.anchor_state, row.files[0].sha256) == ("RE-2026-000001", 11900, "anchored", "00" * 32)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 10**12), min_size=1, max_size=8), st.sampled_from([1, 10, 100, 10_000]))
def test_line_amounts_add_up_to_the_once_rounded_total(amounts: list[int], scale: int) -> None:
    total = (sum(amounts) + scale // 2) // scale  # what the contract bills: the sum, rounded half up once
    lines = apportion(amounts, scale, total)
    assert sum(lines) == total
    assert all(abs(line * scale - amount) < scale for line, amount in zip(lines, amounts, strict=True))


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 10**13), st.sampled_from([0, 700, 1900, 2000, 1, 9999]))
def test_a_credit_gross_splits_into_net_vat_and_at_most_a_cent_of_rounding(gross: int, rate: int) -> None:
    category = VatCategory.STANDARD if rate else VatCategory.ZERO_RATED
    net, vat, rounding = split_gross(gross, category, rate)
    assert net + vat + rounding == gross
    assert vat == vat_amount(net, Decimal(rate).scaleb(-2))  # BR-CO-17: the VAT of the net, rounded half up
    assert 0 <= rounding <= 1
    if rate:  # the net is the largest whose gross does not exceed the credit
        assert net + 1 + vat_amount(net + 1, Decimal(rate).scaleb(-2)) > gross

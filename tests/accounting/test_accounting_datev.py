"""The DATEV EXTF writer: golden Buchungsstapel and Debitoren/Kreditoren, round trip through the reader, SKR03 vs
SKR04, and bad input refused naming the field."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from accounting_samples import CREATED_AT, PARTIES, PERIOD, config_for, golden, sample_bookings
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.accounting import (
    AccountingConfig,
    AccountingError,
    Booking,
    BookingKind,
    DatevSettings,
    PartyRecord,
    Side,
    check_extf,
    read_extf,
    validate_extf,
    write_buchungsstapel,
    write_debitoren_kreditoren,
)
from gateway.accounting.datev import format_amount


def _batch(config: AccountingConfig, bookings: list[Booking] | None = None, period: tuple[date, date] = PERIOD) -> bytes:
    return write_buchungsstapel(
        sample_bookings(config.chart) if bookings is None else bookings,
        chart=config.chart,
        settings=config.datev,
        period_from=period[0],
        period_to=period[1],
        created_at=CREATED_AT,
    )


@pytest.mark.parametrize("chart", ["SKR03", "SKR04"])
def test_golden_buchungsstapel(chart: str) -> None:
    data = _batch(config_for(chart))
    assert data == golden(f"golden_EXTF_Buchungsstapel_{chart}.csv", data)


def test_golden_debitoren_kreditoren() -> None:
    config = config_for("SKR03")
    data = write_debitoren_kreditoren(PARTIES, chart=config.chart, settings=config.datev, created_at=CREATED_AT)
    assert data == golden("golden_EXTF_Debitoren_Kreditoren.csv", data)


def test_the_file_is_windows_1252_with_crlf_and_the_header_datev_expects(skr03: AccountingConfig) -> None:
    data = _batch(skr03)
    assert "Müller".encode("cp1252") in data and "Müller".encode() not in data
    assert data.count(b"\n") == data.count(b"\r\n") == 2 + 6
    header = data.split(b"\r\n")[0].decode("cp1252")
    assert header == (
        '"EXTF";700;21;"Buchungsstapel";13;20260501083015123;;"RE";"Settle";"";29098;55003;20260101;4;20260301;20260430;'
        '"Settle 01.03.2026-30.04.2026";"";1;0;0;"EUR";;"";;;"03";;;"";"Settle"'
    )
    first = data.split(b"\r\n")[2].decode("cp1252").split(";")
    assert first[:14] == ["1487,50", '"S"', '""', "", "", '""', "10001", "8400", '""', "3103", '"RE-2026-000001"', '""', "", first[13]]
    assert first[13] == '"Rechnung RE-2026-000001 Müller & Söhne GmbH"'
    assert len(first) == 125


def test_round_trip_through_the_reader(config: AccountingConfig) -> None:
    bookings = sample_bookings(config.chart)
    extf = validate_extf(_batch(config))
    assert (extf.category, extf.format_name, extf.format_version, extf.account_length) == (21, "Buchungsstapel", 13, 4)
    assert extf.period == PERIOD
    assert extf.header_value(27) == config.chart.skr
    assert len(extf.rows) == len(bookings)
    assert extf.values("Umsatz (ohne Soll/Haben-Kz)") == [format_amount(b.amount) for b in bookings]
    assert extf.values("Soll/Haben-Kennzeichen") == [b.side.value for b in bookings]
    assert extf.values("Konto") == [str(b.account) for b in bookings]
    assert extf.values("Gegenkonto (ohne BU-Schlüssel)") == [str(b.contra_account) for b in bookings]
    assert extf.values("Belegdatum") == [f"{b.booking_date:%d%m}" for b in bookings]
    assert extf.values("Belegfeld 1") == [b.document for b in bookings]
    assert extf.values("Buchungstext") == [b.text for b in bookings]
    assert extf.values("EU-Land u. UStID (Bestimmung)")[1] == "FR12345678901"
    assert extf.values("Leistungsdatum")[0] == "31032026"
    # the quote inside the customer's name is doubled in the file and undone by the reader
    assert 'Dupont "Logistique" SARL' in extf.values("Buchungstext")[1]


def test_skr03_and_skr04_differ_only_in_accounts_and_the_chart_field() -> None:
    a = read_extf(_batch(config_for("SKR03")))
    b = read_extf(_batch(config_for("SKR04")))
    assert [f.value for f in a.header if f.value not in ("03",)] == [f.value for f in b.header if f.value not in ("04",)]
    assert a.values("Gegenkonto (ohne BU-Schlüssel)") == ["8400", "8337", "8400", "10002", "10001", "4970"]
    assert b.values("Gegenkonto (ohne BU-Schlüssel)") == ["4400", "4337", "4400", "10002", "10001", "6855"]
    assert a.values("Konto")[3:] == ["1200"] * 3 and b.values("Konto")[3:] == ["1800"] * 3
    assert a.values("Umsatz (ohne Soll/Haben-Kz)") == b.values("Umsatz (ohne Soll/Haben-Kz)")


def test_debitoren_kreditoren_round_trip(skr03: AccountingConfig) -> None:
    data = write_debitoren_kreditoren(PARTIES, chart=skr03.chart, settings=skr03.datev, created_at=CREATED_AT)
    extf = validate_extf(data)
    assert (extf.category, extf.format_name, extf.format_version) == (16, "Debitoren/Kreditoren", 5)
    assert extf.header_value(15) == extf.header_value(16) == ""
    assert extf.values("Konto") == ["10001", "10002"]
    assert extf.values("Name (Adressatentyp Unternehmen)") == ["Müller & Söhne GmbH", 'Dupont "Logistique" SARL']
    assert extf.values("Adressatentyp") == ["2", "2"]
    assert extf.values("EU-Land") == ["DE", "FR"]
    assert extf.values("EU-USt-IdNr.") == ["123456789", "12345678901"]
    assert extf.values("Ort") == ["Köln", "Paris"]
    assert extf.values("IBAN 1") == ["DE89370400440532013000", ""]
    assert extf.values("Kundennummer") == ["10001", "10002"]


def _booking(**changes: object) -> Booking:
    values: dict[str, object] = dict(
        kind=BookingKind.INVOICE,
        booking_date=date(2026, 3, 31),
        amount=119_000,
        currency="EUR",
        account=10001,
        side=Side.DEBIT,
        contra_account=8400,
        document="RE-2026-000001",
        text="Rechnung",
    )
    values.update(changes)
    return Booking(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"text": "Rechnung Łódź Sp. z o.o."}, r"text \(Buchungstext\) .* contains 'Ł' \(U\+0141\), which Windows-1252 cannot encode"),
        ({"text": "x" * 61}, r"text \(Buchungstext\) .* is 61 characters long; DATEV takes at most 60"),
        ({"text": "zwei\nZeilen"}, "control character"),
        ({"account": 123456}, r"account \(Konto\) 123456 does not fit account length 4"),
        ({"contra_account": 840000}, r"contra_account \(Gegenkonto\) 840000 does not fit account length 4"),
        ({"contra_account": 10001}, "account and contra_account are both 10001"),
        ({"document": "re-2026-1"}, "is not a DATEV Belegfeld 1"),
        ({"document": "RE_2026_1"}, "is not a DATEV Belegfeld 1"),
        ({"document2": "1234567890123"}, r"document2 \(Belegfeld 2\) .* at most 12"),
        ({"currency": "USD"}, "currency USD is not the batch currency EUR"),
        ({"booking_date": date(2026, 5, 1)}, "outside the batch period"),
        ({"tax_key": "AB"}, "is not a DATEV BU key"),
        ({"eu_vat_id": "fr 123"}, "eu_vat_id"),
    ],
)
def test_bad_bookings_are_refused_naming_the_field(skr03: AccountingConfig, changes: dict[str, object], message: str) -> None:
    with pytest.raises(AccountingError, match=message):
        _batch(skr03, [_booking(**changes)])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"amount": -1}, "amount must be positive, got -1"),
        ({"amount": 0}, "amount must be positive, got 0"),
        ({"amount": 1.5}, "integer amount in minor units"),
        ({"net": 100, "vat": 19}, "net 100 \\+ vat 19 is not the amount 119000"),
        ({"document": ""}, "document .* is missing"),
    ],
)
def test_a_booking_refuses_bad_amounts_at_construction(changes: dict[str, object], message: str) -> None:
    with pytest.raises(AccountingError, match=message):
        _booking(**changes)


def test_header_settings_are_checked(skr03: AccountingConfig) -> None:
    with pytest.raises(AccountingError, match="datev.consultant_number is not configured"):
        _batch(AccountingConfig(chart=skr03.chart))
    with pytest.raises(AccountingError, match="spans two calendar years"):
        _batch(skr03, [], (date(2025, 12, 1), date(2026, 1, 31)))
    july = replace(skr03, datev=replace(skr03.datev, fiscal_year_start_month=7))
    with pytest.raises(AccountingError, match="spans two fiscal years"):
        _batch(july, [], (date(2026, 6, 1), date(2026, 7, 31)))
    extf = read_extf(_batch(july, [], (date(2026, 3, 1), date(2026, 3, 31))))
    assert extf.header_value(13) == "20250701"
    locked = replace(skr03, datev=DatevSettings(consultant_number=1001, client_number=1, locked=True, label="Mein Stapel"))
    header = read_extf(_batch(locked, [], (date(2026, 3, 1), date(2026, 3, 31))))
    assert (header.header_value(21), header.header_value(17), header.header_value(11)) == ("1", "Mein Stapel", "1001")


@pytest.mark.parametrize(
    ("party", "message"),
    [
        (PartyRecord(10001, "Zakład Łódź", "PL"), "name .* which Windows-1252 cannot encode"),
        (PartyRecord(10001, "x" * 51, "DE"), "name .* at most 50"),
        (PartyRecord(1200, "Bank", "DE"), "neither a debtor"),
        (PartyRecord(10001, "", "DE"), "name is missing"),
        (PartyRecord(10001, "A GmbH", "Deutschland"), "country must be an ISO 3166 code"),
        (PartyRecord(10001, "A GmbH", "DE", iban="nope"), "iban 'nope' is not an IBAN"),
        (PartyRecord(10001, "A GmbH", "DE", vat_id="123"), "vat_id '123' is not a VAT id"),
    ],
)
def test_bad_party_records_are_refused(skr03: AccountingConfig, party: PartyRecord, message: str) -> None:
    with pytest.raises(AccountingError, match=message):
        write_debitoren_kreditoren([party], chart=skr03.chart, settings=skr03.datev, created_at=CREATED_AT)


def test_a_party_appears_once(skr03: AccountingConfig) -> None:
    with pytest.raises(AccountingError, match="appears twice"):
        write_debitoren_kreditoren([PARTIES[0], PARTIES[0]], chart=skr03.chart, settings=skr03.datev, created_at=CREATED_AT)


@settings(max_examples=60, deadline=None)
@given(
    amounts=st.lists(st.integers(min_value=1, max_value=10**12 - 1), min_size=1, max_size=5),
    text=st.text(alphabet=st.characters(codec="cp1252", exclude_categories=("Cc", "Cs")), max_size=60),
    day=st.dates(min_value=date(2026, 3, 1), max_value=date(2026, 4, 30)),
)
def test_any_valid_booking_survives_the_round_trip(amounts: list[int], text: str, day: date) -> None:
    config = config_for("SKR04")
    bookings = [_booking(amount=a, text=text, booking_date=day, contra_account=4400) for a in amounts]
    extf = read_extf(_batch(config, bookings))
    assert check_extf(extf) == []
    assert [int(v.replace(",", "")) for v in extf.values("Umsatz (ohne Soll/Haben-Kz)")] == amounts
    assert extf.values("Buchungstext") == [text] * len(amounts)
    assert extf.values("Belegdatum") == [f"{day:%d%m}"] * len(amounts)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"account": "10001"}, "account must be a positive account number, got '10001'"),
        ({"contra_account": -8400}, "contra_account must be a positive account number"),
        ({"side": "X"}, "'X' is not a valid Side"),
    ],
)
def test_a_booking_refuses_bad_accounts_and_sides(changes: dict[str, object], message: str) -> None:
    with pytest.raises(AccountingError, match=message):
        _booking(**changes)

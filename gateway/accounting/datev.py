"""The DATEV-Format (EXTF) writer: Buchungsstapel (data category 21, format version 13) and Debitoren/Kreditoren
(data category 16, format version 5), header version 700.

Files are Windows-1252, ``;`` separated, CRLF, text in double quotes (embedded quotes doubled), numbers bare,
amounts positive with a decimal comma and the Soll/Haben flag, document dates ``DDMM`` (the year comes from the
header's date range). Everything is checked before a byte is produced: an amount, account, text or date DATEV
would refuse or misread is an :class:`AccountingError` naming the booking and the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from gateway.accounting.bookings import Booking
from gateway.accounting.charts import AccountChart
from gateway.accounting.columns import BUCHUNGSSTAPEL_COLUMNS, DEBITOREN_KREDITOREN_COLUMNS, Column
from gateway.accounting.config import DatevSettings
from gateway.accounting.errors import AccountingError

HEADER_VERSION = 700
BUCHUNGSSTAPEL = (21, "Buchungsstapel", 13)
DEBITOREN_KREDITOREN = (16, "Debitoren/Kreditoren", 5)
MAX_BOOKINGS_PER_FILE = 99_999
ENCODING = "cp1252"
#: DATEV's characters for Belegfeld 1 (open-item matching).
DOCUMENT_FIELD = re.compile(r"^[A-Z0-9$&%*+\-/]{1,36}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: Currencies whose minor unit is not 1/100: DATEV amounts always have two decimals.
_NOT_TWO_DECIMALS = frozenset("BHD BIF CLP DJF GNF IQD ISK JOD JPY KMF KRW KWD LYD OMR PYG RWF TND UGX UYI VND VUV XAF XOF XPF".split())

_B_INDEX = {column.heading: i for i, column in enumerate(BUCHUNGSSTAPEL_COLUMNS)}
_D_INDEX = {column.heading: i for i, column in enumerate(DEBITOREN_KREDITOREN_COLUMNS)}


@dataclass(frozen=True)
class PartyRecord:
    """A customer (debtor) or supplier (creditor) for the Debitoren/Kreditoren master data; ``account`` is its
    personal account (debtor or creditor range of the chart). Limits are DATEV's field lengths."""

    account: int
    name: str
    country: str
    street: str | None = None
    postal_code: str | None = None
    city: str | None = None
    vat_id: str | None = None
    email: str | None = None
    iban: str | None = None
    bic: str | None = None
    #: Kurzbezeichnung (max 15).
    short_name: str | None = None
    #: Kundennummer (max 15), e.g. the customer number in Settle.
    customer_number: str | None = None
    #: Nummer Fremdsystem (max 15), e.g. Settle's party id.
    external_id: str | None = None


def format_amount(minor: int) -> str:
    """Minor units as DATEV writes an amount: 119000 -> "1190,00" (no thousands separator)."""
    return f"{minor // 100},{minor % 100:02d}"


def format_document_date(day: date) -> str:
    """DATEV Belegdatum TTMM: 2026-03-05 -> "0503"."""
    return f"{day.day:02d}{day.month:02d}"


def fiscal_year_start(day: date, start_month: int) -> date:
    """The first day of the fiscal year ``day`` falls in."""
    year = day.year if day.month >= start_month else day.year - 1
    return date(year, start_month, 1)


def check_period(period_from: date, period_to: date, start_month: int) -> None:
    """DATEV's rule for a batch: Datum vom..bis in one calendar year and one fiscal year."""
    if period_from > period_to:
        raise AccountingError(f"period: from {period_from} is after to {period_to}")
    if period_from.year != period_to.year:
        raise AccountingError(f"period {period_from}..{period_to} spans two calendar years: DATEV needs one batch per year")
    if fiscal_year_start(period_from, start_month) != fiscal_year_start(period_to, start_month):
        raise AccountingError(f"period {period_from}..{period_to} spans two fiscal years (start month {start_month})")


def write_buchungsstapel(
    bookings: Sequence[Booking],
    *,
    chart: AccountChart,
    settings: DatevSettings,
    period_from: date,
    period_to: date,
    created_at: datetime,
) -> bytes:
    """One EXTF Buchungsstapel for ``period_from``..``period_to`` (one calendar and fiscal year) as bytes."""
    check_period(period_from, period_to, settings.fiscal_year_start_month)
    if len(bookings) > MAX_BOOKINGS_PER_FILE:
        raise AccountingError(f"{len(bookings)} bookings: DATEV takes at most {MAX_BOOKINGS_PER_FILE} per file (split the period)")
    label = settings.label or f"Settle {period_from:%d.%m.%Y}-{period_to:%d.%m.%Y}"
    lines = [
        _header(BUCHUNGSSTAPEL, chart, settings, created_at, period_from, period_to, label),
        _headings(BUCHUNGSSTAPEL_COLUMNS),
    ]
    for booking in bookings:
        lines.append(_render(BUCHUNGSSTAPEL_COLUMNS, _booking_values(booking, chart, settings, period_from, period_to)))
    return _encode(lines)


def write_debitoren_kreditoren(
    parties: Iterable[PartyRecord], *, chart: AccountChart, settings: DatevSettings, created_at: datetime
) -> bytes:
    """EXTF Debitoren/Kreditoren master data of ``parties`` (sorted by account) as bytes."""
    records = sorted(parties, key=lambda p: p.account)
    seen: set[int] = set()
    label = settings.label or "Settle Debitoren/Kreditoren"
    lines = [_header(DEBITOREN_KREDITOREN, chart, settings, created_at, None, None, label), _headings(DEBITOREN_KREDITOREN_COLUMNS)]
    for party in records:
        if party.account in seen:
            raise AccountingError(f"party account {party.account} appears twice in the master data")
        seen.add(party.account)
        lines.append(_render(DEBITOREN_KREDITOREN_COLUMNS, _party_values(party, chart)))
    return _encode(lines)


def _header(
    kind: tuple[int, str, int],
    chart: AccountChart,
    settings: DatevSettings,
    created_at: datetime,
    period_from: date | None,
    period_to: date | None,
    label: str,
) -> str:
    category, name, version = kind
    for key in ("consultant_number", "client_number"):
        if getattr(settings, key) is None:
            raise AccountingError(
                f"datev.{key} is not configured: the EXTF header needs the tax adviser's "
                + ("Beraternummer" if key == "consultant_number" else "Mandantennummer")
            )
    if not isinstance(created_at, datetime):
        raise AccountingError(f"created_at must be a datetime, got {created_at!r}")
    day = period_from or created_at.date()
    fy = fiscal_year_start(day, settings.fiscal_year_start_month)
    stamp = created_at.strftime("%Y%m%d%H%M%S") + f"{created_at.microsecond // 1000:03d}"
    booking = category == 21
    t = _text_field
    fields = [
        t("EXTF", "Kennzeichen"),
        str(HEADER_VERSION),
        str(category),
        t(name, "Formatname"),
        str(version),
        stamp,
        "",
        t(settings.origin, "datev.origin"),
        t(settings.exported_by, "datev.exported_by", 25),
        '""',
        str(settings.consultant_number),
        str(settings.client_number),
        f"{fy:%Y%m%d}",
        str(chart.account_length),
        f"{period_from:%Y%m%d}" if period_from else "",
        f"{period_to:%Y%m%d}" if period_to else "",
        t(label, "datev.label", 30),
        t(settings.dictation_code, "datev.dictation_code", 2),
        "1" if booking else "",
        "0" if booking else "",
        ("1" if settings.locked else "0") if booking else "",
        t(settings.currency if booking else "", "datev.currency"),
        "",
        '""',
        "",
        "",
        t(chart.skr, "Sachkontenrahmen"),
        "",
        "",
        '""',
        t(settings.application_info, "datev.application_info", 16),
    ]
    return ";".join(fields)


def _headings(columns: Sequence[Column]) -> str:
    return ";".join(column.heading for column in columns)


def _render(columns: Sequence[Column], values: dict[int, str]) -> str:
    out = []
    for i, column in enumerate(columns):
        value = values.get(i, "")
        out.append('"' + value.replace('"', '""') + '"' if column.text else value)
    return ";".join(out)


def _encode(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode(ENCODING)


def _booking_values(booking: Booking, chart: AccountChart, settings: DatevSettings, period_from: date, period_to: date) -> dict[int, str]:
    where = f"booking {booking.document} ({booking.kind.value}, {booking.booking_date})"
    if booking.currency != settings.currency:
        raise AccountingError(f"{where}: currency {booking.currency} is not the batch currency {settings.currency} (datev.currency)")
    if booking.currency in _NOT_TWO_DECIMALS:
        raise AccountingError(f"{where}: currency {booking.currency} does not have two decimals; DATEV amounts do")
    if booking.amount >= 10**12:
        raise AccountingError(f"{where}: amount {booking.amount} exceeds DATEV's 10 digits before the comma")
    if not period_from <= booking.booking_date <= period_to:
        raise AccountingError(f"{where}: date {booking.booking_date} is outside the batch period {period_from}..{period_to}")
    chart.check_account(booking.account, f"{where}: account (Konto)")
    chart.check_account(booking.contra_account, f"{where}: contra_account (Gegenkonto)")
    if booking.account == booking.contra_account:
        raise AccountingError(f"{where}: account and contra_account are both {booking.account}")
    if booking.tax_key and not re.fullmatch(r"[0-9]{1,4}", booking.tax_key):
        raise AccountingError(f"{where}: tax_key {booking.tax_key!r} is not a DATEV BU key (1 to 4 digits)")
    if not DOCUMENT_FIELD.match(booking.document):
        raise AccountingError(
            f"{where}: document {booking.document!r} is not a DATEV Belegfeld 1 (1-36 of A-Z 0-9 $ & % * + - /): "
            "use an invoice number pattern of upper-case letters, digits and '-'"
        )
    values = {
        _B_INDEX["Umsatz (ohne Soll/Haben-Kz)"]: format_amount(booking.amount),
        _B_INDEX["Soll/Haben-Kennzeichen"]: booking.side.value,
        _B_INDEX["Konto"]: str(booking.account),
        _B_INDEX["Gegenkonto (ohne BU-Schlüssel)"]: str(booking.contra_account),
        _B_INDEX["BU-Schlüssel"]: booking.tax_key,
        _B_INDEX["Belegdatum"]: format_document_date(booking.booking_date),
        _B_INDEX["Belegfeld 1"]: booking.document,
        _B_INDEX["Belegfeld 2"]: _checked(booking.document2, f"{where}: document2 (Belegfeld 2)", 12),
        _B_INDEX["Buchungstext"]: _checked(booking.text, f"{where}: text (Buchungstext)", 60),
    }
    if booking.eu_vat_id:
        if not re.fullmatch(r"[A-Z]{2}[A-Z0-9+*]{2,13}", booking.eu_vat_id):
            raise AccountingError(f"{where}: eu_vat_id {booking.eu_vat_id!r} is not a VAT id such as 'FR12345678901'")
        values[_B_INDEX["EU-Land u. UStID (Bestimmung)"]] = booking.eu_vat_id
    if booking.service_date is not None:
        values[_B_INDEX["Leistungsdatum"]] = f"{booking.service_date:%d%m%Y}"
    return values


def _party_values(party: PartyRecord, chart: AccountChart) -> dict[int, str]:
    where = f"party {party.account}"
    if isinstance(party.account, bool) or not isinstance(party.account, int):
        raise AccountingError(f"party account must be an account number, got {party.account!r}")
    if not (chart.is_debtor(party.account) or chart.is_creditor(party.account)):
        raise AccountingError(
            f"{where}: account is neither a debtor ({chart.debtors[0]}-{chart.debtors[1]}) "
            f"nor a creditor ({chart.creditors[0]}-{chart.creditors[1]}) account"
        )
    if not isinstance(party.name, str) or not party.name.strip():
        raise AccountingError(f"{where}: name is missing")
    country = party.country or ""
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise AccountingError(f"{where}: country must be an ISO 3166 code such as 'DE', got {party.country!r}")
    values = {
        _D_INDEX["Konto"]: str(party.account),
        _D_INDEX["Name (Adressatentyp Unternehmen)"]: _checked(party.name, f"{where}: name", 50),
        _D_INDEX["Adressatentyp"]: "2",
        _D_INDEX["Land"]: country,
    }
    if party.vat_id:
        vat_id = party.vat_id.replace(" ", "").upper()
        if not re.fullmatch(r"[A-Z]{2}[A-Z0-9+*]{2,13}", vat_id):
            raise AccountingError(f"{where}: vat_id {party.vat_id!r} is not a VAT id such as 'DE123456789'")
        values[_D_INDEX["EU-Land"]] = vat_id[:2]
        values[_D_INDEX["EU-USt-IdNr."]] = vat_id[2:]
    if party.street:
        values[_D_INDEX["Adressart"]] = "STR"
    optional = (
        ("Kurzbezeichnung", party.short_name, "short_name", 15),
        ("Straße", party.street, "street", 36),
        ("Postleitzahl", party.postal_code, "postal_code", 10),
        ("Ort", party.city, "city", 30),
        ("E-Mail", party.email, "email", 60),
        ("Kundennummer", party.customer_number, "customer_number", 15),
        ("Nummer Fremdsystem", party.external_id, "external_id", 15),
    )
    for heading, value, name, limit in optional:
        if value:
            values[_D_INDEX[heading]] = _checked(value, f"{where}: {name}", limit)
    if party.iban:
        iban = party.iban.replace(" ", "").upper()
        if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{10,30}", iban):
            raise AccountingError(f"{where}: iban {party.iban!r} is not an IBAN")
        values[_D_INDEX["IBAN 1"]] = iban
        values[_D_INDEX["Länderkennzeichen 1"]] = iban[:2]
        if party.bic:
            values[_D_INDEX["SWIFT-Code 1"]] = _checked(party.bic.replace(" ", "").upper(), f"{where}: bic", 11)
    return values


def _checked(value: str, field_name: str, limit: int) -> str:
    """A text field DATEV takes: Windows-1252, no control characters, at most ``limit`` characters."""
    if not isinstance(value, str):
        raise AccountingError(f"{field_name} must be text, got {value!r}")
    if _CONTROL.search(value):
        raise AccountingError(f"{field_name} {value!r} contains a control character (line break, tab ...)")
    try:
        value.encode(ENCODING)
    except UnicodeEncodeError as exc:
        bad = value[exc.start : exc.end]
        raise AccountingError(
            f"{field_name} {value!r} contains {bad!r} (U+{ord(bad[0]):04X}), which Windows-1252 cannot encode: "
            "DATEV files are Windows-1252; spell it without that character"
        ) from None
    if len(value) > limit:
        raise AccountingError(f"{field_name} {value!r} is {len(value)} characters long; DATEV takes at most {limit}")
    return value


def _text_field(value: str, field_name: str, limit: int = 100) -> str:
    return '"' + _checked(value, field_name, limit).replace('"', '""') + '"'

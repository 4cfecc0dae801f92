"""Dunning letters: a PDF (German or English) to a payer that lists every open item it has with one payee — invoice
number, due date, amount open, the dunning level, the flat fee charged on it (§ 288 (5) BGB, once per claim) and the
default interest up to the letter's date (§ 288 (2) BGB) — and how to pay: the payee's name, IBAN and BIC, and the
RF creditor reference of each item.

:func:`dunning_letter` draws a letter from :class:`LetterData` and nothing else (same data, same bytes: reportlab's
invariant mode); :func:`letter_data` gathers that data from the gateway's database for (payer, payee, date).
Interest the base-rate table cannot give (a date past its last half-year) is not guessed: the letter says it was
not computed and why.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Literal

import reportlab  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
from reportlab.pdfbase.ttfonts import TTFont  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.models import Agreement, DunningItem, FeeItem, IssuedInvoice, Party, PaymentMethod
from gateway.receivables.interest import MARGIN_B2B, BaseRateTable, InterestError, default_interest, load_base_rates
from settle.errors import ValidationError

__all__ = ["Language", "LetterData", "LetterItem", "LetterParty", "dunning_letter", "letter_data", "letter_title"]

Language = Literal["de", "en"]

_FONT, _BOLD = "SettleLetter", "SettleLetter-Bold"
_FONT_DIR = Path(reportlab.__file__).with_name("fonts")

_TEXT: dict[str, dict[str, str]] = {
    "de": {
        "level0": "Kontoauszug offener Posten",
        "level1": "Zahlungserinnerung",
        "leveln": "{n}. Mahnung",
        "date": "Datum",
        "customer": "Kunde",
        "greeting": "Sehr geehrte Damen und Herren,",
        "intro": "nach unseren Unterlagen sind die folgenden Posten noch offen. "
        "Wir bitten Sie, den Gesamtbetrag bis zum {pay_by} zu begleichen.",
        "intro_none": "nach unseren Unterlagen ist zurzeit kein Posten offen.",
        "invoice": "Rechnung",
        "due": "Fällig am",
        "open": "Offen",
        "level": "Stufe",
        "fee": "Pauschale",
        "interest": "Zinsen",
        "reference": "Verwendungszweck (RF)",
        "no_invoice": "(Abrechnung {period})",
        "sum_open": "Offene Beträge",
        "sum_fee": "Verzugspauschalen (§ 288 Abs. 5 BGB)",
        "sum_interest": "Verzugszinsen bis {date}",
        "sum_total": "Gesamtbetrag",
        "interest_how": "Verzugszinsen: Basiszinssatz + {margin} Prozentpunkte p. a. (§ 288 Abs. 2 BGB) auf den offenen Betrag, "
        "vom Tag nach der Fälligkeit bis {date}.",
        "interest_none": "Verzugszinsen wurden nicht berechnet: {why}",
        "fee_how": "Die Verzugspauschale von 40 EUR (§ 288 Abs. 5 BGB) wird je Forderung einmal berechnet.",
        "pay": "Zahlung",
        "pay_to": "Bitte überweisen Sie je Posten auf folgendes Konto und geben Sie dessen RF-Referenz als Verwendungszweck an:",
        "payee": "Empfänger",
        "iban": "IBAN",
        "bic": "BIC",
        "no_account": "(Bankverbindung bitte beim Empfänger erfragen)",
        "closing": "Sollten Sie inzwischen gezahlt haben, betrachten Sie dieses Schreiben bitte als gegenstandslos.",
        "regards": "Mit freundlichen Grüßen",
        "page": "Seite",
        "contact": "Kontakt",
    },
    "en": {
        "level0": "Statement of open items",
        "level1": "Payment reminder",
        "leveln": "Dunning notice {n}",
        "date": "Date",
        "customer": "Customer",
        "greeting": "Dear Sir or Madam,",
        "intro": "according to our records the following items are still open. Please pay the total by {pay_by}.",
        "intro_none": "according to our records no item is open at present.",
        "invoice": "Invoice",
        "due": "Due",
        "open": "Open",
        "level": "Level",
        "fee": "Flat fee",
        "interest": "Interest",
        "reference": "Reference (RF)",
        "no_invoice": "(settlement {period})",
        "sum_open": "Amounts open",
        "sum_fee": "Flat fees (§ 288 (5) BGB)",
        "sum_interest": "Default interest to {date}",
        "sum_total": "Total",
        "interest_how": "Default interest: base rate + {margin} percentage points a year (§ 288 (2) BGB) on the amount open, "
        "from the day after the due date to {date}.",
        "interest_none": "Default interest was not computed: {why}",
        "fee_how": "The flat fee of 40 EUR (§ 288 (5) BGB) is charged once per claim.",
        "pay": "Payment",
        "pay_to": "Please pay each item to the following account, quoting its RF reference as the payment reference:",
        "payee": "Payee",
        "iban": "IBAN",
        "bic": "BIC",
        "no_account": "(please ask the payee for its bank details)",
        "closing": "If you have paid in the meantime, please disregard this letter.",
        "regards": "Kind regards",
        "page": "Page",
        "contact": "Contact",
    },
}


@dataclass(frozen=True)
class LetterParty:
    name: str
    street: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country: str | None = None
    contact: str | None = None

    def lines(self) -> list[str]:
        place = " ".join(x for x in (self.postal_code, self.city) if x)
        if place and self.country:
            place = f"{self.country}-{place}"
        return [x for x in (self.name, self.street, place) if x]


@dataclass(frozen=True)
class LetterItem:
    """One open item on the letter (amounts in minor units of the letter's currency)."""

    agreement: str
    period: int
    invoice_number: str | None
    due_date: dt.date | None
    amount: int
    creditor_reference: str | None
    level: int = 0
    fee: int = 0
    #: Default interest to the letter's date; None when it was not computed (``LetterData.interest_error``).
    interest: int | None = 0


@dataclass(frozen=True)
class LetterData:
    """Everything a letter shows."""

    letter_date: dt.date
    #: The dunning level this letter is for (0: a plain statement of open items).
    level: int
    currency: str
    payer: LetterParty
    payee: LetterParty
    items: Sequence[LetterItem]
    payee_iban: str | None = None
    payee_bic: str | None = None
    #: The level's own title (from the policy), instead of the default one.
    title: str | None = None
    pay_by: dt.date | None = None
    #: Why interest was not computed (the table ends before the letter's date, …); None: it was.
    interest_error: str | None = None
    margin: Decimal = MARGIN_B2B
    #: Whether the letter claims default interest at all (the level's policy may leave it out).
    charges_interest: bool = True
    minor_digits: int = 2
    notes: Sequence[str] = field(default_factory=tuple)

    @property
    def total_open(self) -> int:
        return sum(item.amount for item in self.items)

    @property
    def total_fees(self) -> int:
        return sum(item.fee for item in self.items)

    @property
    def total_interest(self) -> int:
        return sum(item.interest or 0 for item in self.items)

    @property
    def total(self) -> int:
        return self.total_open + self.total_fees + self.total_interest


def letter_title(level: int, language: str, title: str | None = None) -> str:
    """``Zahlungserinnerung`` / ``2. Mahnung`` / ``Payment reminder`` …: level 1 reminds, level n is notice n − 1."""
    if title:
        return title
    text = _TEXT[language]
    if level <= 0:
        return text["level0"]
    if level == 1:
        return text["level1"]
    return text["leveln"].format(n=level - 1)


def money(minor: int, currency: str, language: str, digits: int = 2) -> str:
    """``1.234,56 EUR`` (de) / ``1,234.56 EUR`` (en)."""
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**digits)
    grouped = f"{whole:,}"
    if language == "de":
        grouped = grouped.replace(",", ".")
    point = "," if language == "de" else "."
    return f"{sign}{grouped}{point}{frac:0{digits}d} {currency}" if digits else f"{sign}{grouped} {currency}"


def day(value: dt.date | None, language: str) -> str:
    if value is None:
        return "–"
    return value.strftime("%d.%m.%Y") if language == "de" else value.isoformat()


@functools.cache
def _fonts() -> None:
    pdfmetrics.registerFont(TTFont(_FONT, str(_FONT_DIR / "Vera.ttf")))
    pdfmetrics.registerFont(TTFont(_BOLD, str(_FONT_DIR / "VeraBd.ttf")))


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if line and pdfmetrics.stringWidth(trial, font, size) > width:
            lines.append(line)
            line = word
        else:
            line = trial
    return lines + ([line] if line else [])


class _Writer:
    def __init__(self, canvas: Canvas, language: str, header: str):
        self.c, self.lang, self.header = canvas, language, header
        self.width, self.height = A4
        self.left, self.right = 20 * mm, self.width - 20 * mm
        self.y = self.height - 20 * mm
        self.page = 1

    def need(self, height: float) -> None:
        if self.y - height < 20 * mm:
            self.footer()
            self.c.showPage()
            self.page += 1
            self.y = self.height - 20 * mm
            self.line(self.header, bold=True)
            self.y -= 4

    def footer(self) -> None:
        self.c.setFont(_FONT, 7)
        self.c.drawRightString(self.right, 12 * mm, f"{_TEXT[self.lang]['page']} {self.page}")

    def line(self, text: str, *, size: float = 9, bold: bool = False, x: float | None = None) -> None:
        self.need(size + 3)
        self.c.setFont(_BOLD if bold else _FONT, size)
        self.c.drawString(self.left if x is None else x, self.y, text)
        self.y -= size + 3

    def paragraph(self, text: str, *, size: float = 9) -> None:
        for part in _wrap(text, _FONT, size, self.right - self.left):
            self.line(part, size=size)

    def row(self, cells: Sequence[tuple[float, str, str]], *, size: float = 8, bold: bool = False) -> None:
        self.need(size + 3)
        self.c.setFont(_BOLD if bold else _FONT, size)
        for x, align, text in cells:
            (self.c.drawRightString if align == "r" else self.c.drawString)(x, self.y, text)
        self.y -= size + 3

    def rule(self) -> None:
        self.need(4)
        self.c.setLineWidth(0.5)
        self.c.line(self.left, self.y + 6, self.right, self.y + 6)
        self.y -= 2

    def gap(self, height: float = 6) -> None:
        self.y -= height


def dunning_letter(data: LetterData, language: str) -> bytes:
    """The letter as a PDF (A4, embedded fonts); the same data gives the same bytes."""
    if language not in _TEXT:
        raise ValidationError(f"letter language {language!r} is not supported (de, en)")
    _fonts()
    text = _TEXT[language]
    title = letter_title(data.level, language, data.title)
    cur, digits = data.currency, data.minor_digits

    def amount(minor: int) -> str:
        return money(minor, cur, language, digits)

    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=1, initialFontName=_FONT, initialFontSize=9, pageCompression=1)
    canvas.setTitle(f"{title} {data.payer.name}")
    canvas.setAuthor(data.payee.name)
    canvas.setCreator("Settle")
    page = _Writer(canvas, language, f"{title} – {data.payee.name} → {data.payer.name}")

    # Sender (right), recipient (left).
    top = page.y
    sender = data.payee.lines() + ([f"{text['contact']}: {data.payee.contact}"] if data.payee.contact else [])
    for index, line in enumerate(sender):
        canvas.setFont(_BOLD if index == 0 else _FONT, 8.5)
        canvas.drawRightString(page.right, top - index * 11, _fit(line, 60))
    page.y = top - 16
    for index, line in enumerate(data.payer.lines()):
        page.line(_fit(line, 55), size=10, bold=index == 0)
    page.y = min(page.y, top - len(sender) * 11) - 18
    page.line(f"{text['date']}: {day(data.letter_date, language)}", size=9, x=page.right - 50 * mm)
    page.gap(4)
    page.line(title, size=14, bold=True)
    page.gap(4)
    page.line(text["greeting"])
    pay_by = data.pay_by or data.letter_date
    page.paragraph(text["intro"].format(pay_by=day(pay_by, language)) if data.items else text["intro_none"])
    page.gap(4)

    if data.items:
        x = page.left
        columns = [
            (x, "l", text["invoice"]),
            (x + 42 * mm, "r", text["due"]),
            (x + 68 * mm, "r", text["open"]),
            (x + 79 * mm, "r", text["level"]),
            (x + 99 * mm, "r", text["fee"]),
            (x + 119 * mm, "r", text["interest"]),
            (x + 122 * mm, "l", text["reference"]),
        ]
        page.row(columns, bold=True)
        page.rule()
        for item in data.items:
            number = item.invoice_number or text["no_invoice"].format(period=item.period)
            page.row(
                [
                    (columns[0][0], "l", _fit(number, 26)),
                    (columns[1][0], "r", day(item.due_date, language)),
                    (columns[2][0], "r", amount(item.amount)),
                    (columns[3][0], "r", str(item.level)),
                    (columns[4][0], "r", amount(item.fee) if item.fee else "–"),
                    (columns[5][0], "r", amount(item.interest) if item.interest is not None else "–"),
                    (columns[6][0], "l", item.creditor_reference or "–"),
                ]
            )
        page.rule()
        sums = [(text["sum_open"], data.total_open), (text["sum_fee"], data.total_fees)]
        if data.charges_interest and data.interest_error is None:
            sums.append((text["sum_interest"].format(date=day(data.letter_date, language)), data.total_interest))
        for label, value in sums:
            page.row([(x, "l", label), (columns[5][0], "r", amount(value))])
        page.row([(x, "l", text["sum_total"]), (columns[5][0], "r", amount(data.total))], bold=True, size=9)
        page.gap(6)
        margin = format(data.margin.normalize(), "f").replace(".", "," if language == "de" else ".")
        if not data.charges_interest:
            pass
        elif data.interest_error is None:
            page.paragraph(text["interest_how"].format(margin=margin, date=day(data.letter_date, language)), size=8)
        else:
            page.paragraph(text["interest_none"].format(why=data.interest_error), size=8)
        if data.total_fees:
            page.paragraph(text["fee_how"], size=8)
        for note in data.notes:
            page.paragraph(note, size=8)
        page.gap(6)

        page.line(text["pay"], bold=True, size=10)
        page.paragraph(text["pay_to"])
        page.line(f"{text['payee']}: {data.payee.name}")
        if data.payee_iban:
            page.line(f"{text['iban']}: {_iban(data.payee_iban)}")
            if data.payee_bic:
                page.line(f"{text['bic']}: {data.payee_bic}")
        else:
            page.line(text["no_account"])
        page.gap(6)
    page.paragraph(text["closing"])
    page.gap(6)
    page.line(text["regards"])
    page.line(data.payee.name)
    page.footer()
    canvas.save()
    return buffer.getvalue()


def _iban(value: str) -> str:
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4))


# -- from the database -------------------------------------------------------------------------------------------------


def _party(row: Party | None, address: str) -> LetterParty:
    if row is None:
        return LetterParty(name=address)
    contact = ", ".join(x for x in (row.contact_name, row.contact_email, row.contact_phone) if x) or None
    return LetterParty(row.legal_name, row.street, row.postal_code, row.city, row.country, contact)


def letter_data(
    session: Session,
    *,
    payer: str,
    payee: str,
    as_of: dt.date,
    level: int = 0,
    chain_id: int | None = None,
    title: str | None = None,
    pay_within_days: int = 7,
    interest: bool = True,
    table: BaseRateTable | None = None,
    margin: Decimal = MARGIN_B2B,
) -> LetterData:
    """The letter's data from the database: the payer's open items with the payee as the reconciliation sees them
    (:func:`gateway.reconciliation.booking.payable_items`: what the chain shows open, less what was booked and not on
    chain yet; the disputed part left out), each with its dunning level and fee (``gw_dunning_item``), invoice number
    and RF reference, and default interest from the day after its due date to ``as_of`` (``interest=False``: none).
    Items of one currency only: the payee's first currency among them; others are named in ``notes``."""
    from gateway.reconciliation.booking import FEE_PREFIX, payable_items

    payer, payee = payer.lower(), payee.lower()
    parties = {p.chain_address: p for p in session.scalars(select(Party).where(Party.chain_address.in_((payer, payee))))}
    payer_row, payee_row = parties.get(payer), parties.get(payee)
    # The agreements between the two: the read model's, and those with a payment method the chain may not show yet.
    agreements = {a.address: a for a in session.scalars(select(Agreement).where(Agreement.payer == payer, Agreement.payee == payee))}
    ours = set(agreements)
    if payer_row is not None and payee_row is not None:
        ours |= set(
            session.scalars(
                select(PaymentMethod.agreement).where(
                    PaymentMethod.payer_party_id == payer_row.id, PaymentMethod.payee_party_id == payee_row.id
                )
            )
        )
    fee_ids = {
        f"{FEE_PREFIX}{fee_id}" for fee_id in session.scalars(select(FeeItem.id).where(FeeItem.payer == payer, FeeItem.payee == payee))
    }
    items = [
        item
        for item in payable_items(session, chain_id, payee)
        if item.item_id in fee_ids or (not item.item_id.startswith(FEE_PREFIX) and item.item_id.partition(":")[0] in ours)
    ]
    keys = [
        (item.item_id.partition(":")[0], int(item.item_id.partition(":")[2])) for item in items if not item.item_id.startswith(FEE_PREFIX)
    ]
    addresses = {address for address, _ in keys} or {""}
    dunning = {
        (d.agreement, d.period): d
        for d in session.scalars(select(DunningItem).where(DunningItem.agreement.in_(addresses)))
        if chain_id is None or d.chain_id == chain_id
    }
    invoices = {
        (i.agreement, i.period): i.number
        for i in session.scalars(select(IssuedInvoice).where(IssuedInvoice.agreement.in_(addresses), IssuedInvoice.kind == "settlement"))
        if chain_id is None or i.chain_id == chain_id
    }
    currencies = sorted({item.currency for item in items})
    currency = currencies[0] if currencies else next((a.currency for a in agreements.values()), "EUR")
    notes = [
        f"{item.item_id}: {item.amount} {item.currency} (another currency, not in this letter)"
        for item in items
        if item.currency != currency
    ]
    rates = table
    interest_error: str | None = None
    if interest and rates is None:
        try:
            rates = load_base_rates()
        except InterestError as exc:
            interest_error = str(exc)
    rows: list[LetterItem] = []
    for item in items:
        if item.currency != currency:
            continue
        if item.item_id.startswith(FEE_PREFIX):
            address, period = "", 0
        else:
            address, _, text_period = item.item_id.partition(":")
            period = int(text_period)
        state = dunning.get((address, period))
        value: int | None = 0
        if interest and rates is not None and item.due_date is not None and not item.item_id.startswith(FEE_PREFIX):
            try:
                value = default_interest(item.amount, item.due_date, as_of, table=rates, margin=margin)
            except InterestError as exc:
                value, interest_error = None, str(exc)
        rows.append(
            LetterItem(
                agreement=address,
                period=period,
                invoice_number=item.invoice_number or invoices.get((address, period)),
                due_date=item.due_date,
                amount=item.amount,
                creditor_reference=item.creditor_reference,
                level=state.level if state is not None else 0,
                fee=state.fee if state is not None else 0,
                interest=value,
            )
        )
    if interest_error is not None or not interest:
        rows = [replace(row, interest=None) for row in rows]
    iban, bic = _payee_account(session, payee_row, ours)
    digits = next((a.minor_digits for a in agreements.values() if a.currency == currency), 2)
    return LetterData(
        letter_date=as_of,
        level=level,
        currency=currency,
        payer=_party(payer_row, payer),
        payee=_party(payee_row, payee),
        items=tuple(rows),
        payee_iban=iban,
        payee_bic=bic,
        title=title,
        pay_by=as_of + dt.timedelta(days=pay_within_days),
        interest_error=interest_error,
        margin=margin,
        charges_interest=interest,
        minor_digits=digits,
        notes=tuple(notes),
    )


def _payee_account(session: Session, payee: Party | None, agreements: set[str]) -> tuple[str | None, str | None]:
    """The account the payee is paid to: the one its payment methods name (the first), else its first active one."""
    if payee is None:
        return None, None
    for method in session.scalars(
        select(PaymentMethod)
        .where(PaymentMethod.payee_party_id == payee.id, PaymentMethod.agreement.in_(agreements or {""}))
        .order_by(PaymentMethod.id)
    ):
        if method.payee_account is not None and method.payee_account.active:
            return method.payee_account.iban, method.payee_account.bic
    account = next((a for a in payee.accounts if a.active), None)
    return (account.iban, account.bic) if account is not None else (None, None)

"""A seeded generator of noisy bank statements and open items with the right answer for every line (issue 13).

``generate(seed, lines)`` gives a :class:`Corpus`: open items of payers (German and foreign names, several items
each, some paying from a parent company's account), bank lines paying them the ways customers pay — our end-to-end
id or RF reference, the invoice number in free text (upper/lower case, separators missing, OCR confusions O/0 and
l/1, a typo), collective transfers without reference, structured remittance with amounts per invoice, partial,
over- and short payments (bank charges), payments by name from an unknown account, returns with reason codes,
bank charges and lines that are not ours — and for each line its :class:`Truth`.

``Truth.unique`` says whether the line has one right answer a careful person would find from the line and the
open items alone (a payer paying one of two equal items without a reference has none: it must not be ``auto``).
The same seed gives the same corpus. :func:`camt053` writes the lines as a camt.053.001.08 statement and
:func:`items_csv` the open items in the ``evaluate`` command's CSV format, for end-to-end runs.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any
from xml.sax.saxutils import escape

from gateway.banking.references import make_creditor_reference
from gateway.reconciliation.model import Allocation, BankLine, Decision, OpenItem, RemittanceRef
from settle.money import format_minor

__all__ = ["Corpus", "Truth", "camt053", "generate", "items_csv", "score"]

ACCOUNT = "DE89370400440532013000"
_SURNAMES = [
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann", "Koch",
    "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann",
    "Lange", "Schmitt", "Werner", "Krause", "Meier", "Lehmann", "Schmid", "Köhler", "Dubois", "Lefèvre", "García",
    "Martínez", "Rossi", "Bianchi", "Nowak", "Kowalczyk", "Novák", "Dvořák", "Jansen", "de Vries", "Nielsen", "Øster",
    "Åberg", "Virtanen", "O'Brien", "Murphy", "Smith", "Papadopoulos", "Horváth", "Popescu", "Ivanova", "Şahin", "Yılmaz",
]  # fmt: skip
_TRADES = [
    "Maschinenbau", "Logistik", "Software", "Bau", "Elektrotechnik", "Consulting", "Handel", "Druckerei", "Metallbau",
    "Transporte", "Medien", "Systems", "Trading", "Foods", "Textil", "Solar", "Pharma", "Immobilien", "Automotive",
    "Verpackung", "Labortechnik", "Gastronomie", "Energie", "Industries", "Holzbau", "Chemie", "Optik", "Robotics",
]  # fmt: skip
_FORMS = ["GmbH", "AG", "GmbH & Co. KG", "KG", "SE", "Ltd", "SARL", "S.p.A.", "B.V.", "sp. z o.o.", "s.r.o.", "Oy", "AB"]
_CITIES = ["Berlin", "Hamburg", "München", "Köln", "Lyon", "Milano", "Wien", "Praha", "Kraków", "Rotterdam", "Aarhus", "Dublin"]
_RETURN_CODES = ["AM04", "MS03", "AC04", "AC06", "MD01", "MD06", "MD07", "SL01", "AC01", "MS02"]
_BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#: Cases whose line carries a reference the engine finds exactly (decided in its first pass).
_REFERENCED = frozenset(
    {"e2e", "rf_structured", "rf_text", "invoice_text", "invoice_ocr", "collective_refs", "collective_structured", "partial", "over"}
)


@dataclass(frozen=True)
class Truth:
    """The right answer for one line: its allocations (empty: the line settles no item) and whether it is unique."""

    allocations: tuple[Allocation, ...]
    unique: bool
    case: str


@dataclass
class Corpus:
    lines: list[BankLine]
    items: list[OpenItem]
    truth: dict[str, Truth]
    known_accounts: dict[str, str] = field(default_factory=dict)


@dataclass
class _Payer:
    name: str
    iban: str
    items: list[OpenItem]
    #: Items no line has paid yet.
    open: list[OpenItem] = field(default_factory=list)
    #: Items paid by a line with a reference (decided before the lines without: not among the candidates then).
    gone: set[str] = field(default_factory=set)

    def candidates(self) -> list[int]:
        """Open amounts the engine may still see when it decides a line of this payer without a reference."""
        return [i.amount for i in self.items if i.item_id not in self.gone]


def _iban(rng: random.Random, country: str = "DE") -> str:
    bban = "".join(rng.choice("0123456789") for _ in range(18))
    numeric = "".join(str(_BASE36.index(c)) for c in bban + country + "00")
    return f"{country}{98 - int(numeric) % 97:02d}{bban}"


def _name_variant(rng: random.Random, name: str) -> str:
    """How a bank prints a payer's name: upper case, umlauts spelt out or dropped, legal form cut or changed."""
    variant = name
    choice = rng.random()
    if choice < 0.3:
        variant = variant.upper()
    elif choice < 0.5:
        variant = variant.replace("ü", "ue").replace("ö", "oe").replace("ä", "ae").replace("ß", "ss")
    elif choice < 0.7:
        for form in sorted(_FORMS, key=len, reverse=True):
            if variant.endswith(" " + form):
                variant = variant[: -len(form) - 1]
                break
    elif choice < 0.85:
        variant = variant.replace("GmbH & Co. KG", "GmbH u. Co KG").replace("GmbH", "G.m.b.H.")
    return variant[:70]


def _ocr(rng: random.Random, number: str) -> str:
    """OCR-like confusions and lost separators: 0→O, 1→l, dashes dropped or turned into spaces, lower case."""
    out = number
    if rng.random() < 0.7:
        out = "".join(("O" if c == "0" and rng.random() < 0.4 else "l" if c == "1" and rng.random() < 0.5 else c) for c in out)
    style = rng.random()
    if style < 0.3:
        out = out.replace("-", "")
    elif style < 0.5:
        out = out.replace("-", " ")
    elif style < 0.6:
        out = out.lower()
    return out


def _typo(rng: random.Random, number: str) -> str:
    """One slip of the finger in the digits: a wrong digit or two neighbours swapped."""
    positions = [k for k, c in enumerate(number) if c.isdigit()]
    k = rng.choice(positions[:-1])
    chars = list(number)
    if rng.random() < 0.5 and chars[k + 1].isdigit() and chars[k] != chars[k + 1]:
        chars[k], chars[k + 1] = chars[k + 1], chars[k]
    else:
        chars[k] = rng.choice([d for d in "0123456789" if d != chars[k]])
    return "".join(chars)


def _subset_count(amounts: Sequence[int], low: int, high: int, limit: int = 8) -> int:
    """How many subsets (up to ``limit`` items) of ``amounts`` sum into ``[low, high]`` (stops at 2)."""
    count = 0
    for size in range(1, min(limit, len(amounts)) + 1):
        for combo in itertools.combinations(range(len(amounts)), size):
            if low <= sum(amounts[k] for k in combo) <= high:
                count += 1
                if count >= 2:
                    return count
    return count


class _Generator:
    def __init__(self, seed: int, lines: int, items: int | None, fee_tolerance: int):
        self.rng = random.Random(seed)
        self.target_lines = lines
        self.target_items = items if items is not None else lines * 3 // 2
        self.fee_tolerance = fee_tolerance
        self.day = date(2026, 11, 2)
        self.lines: list[BankLine] = []
        self.truth: dict[str, Truth] = {}
        self.known: dict[str, str] = {}
        self.invoice_counter = 0
        self.payers = self._payers()
        self.unpaid = list(self.payers)
        self.active = {id(p) for p in self.payers}
        self.owner = {item.item_id: payer for payer in self.payers for item in payer.items}

    def _payers(self) -> list[_Payer]:
        rng, payers, names = self.rng, [], set()
        made = 0
        while made < self.target_items:
            while True:
                name = f"{rng.choice(_SURNAMES)} {rng.choice(_TRADES)} {rng.choice(_FORMS)}"
                if rng.random() < 0.3:
                    name = f"{rng.choice(_SURNAMES)} & {name}"
                if rng.random() < 0.5:
                    name = f"{name} {rng.choice(_CITIES)}"
                if name not in names:
                    names.add(name)
                    break
            country = rng.choice(["DE"] * 6 + ["FR", "IT", "NL", "AT", "PL", "CZ"])
            payer = _Payer(name, _iban(rng, country), [])
            for _ in range(min(rng.randint(1, 6), self.target_items - made)):
                payer.items.append(self._item(payer))
                made += 1
            payer.open = list(payer.items)
            payers.append(payer)
        return payers

    def _item(self, payer: _Payer) -> OpenItem:
        rng = self.rng
        self.invoice_counter += 1
        number = f"RE-2026-{self.invoice_counter:06d}"
        body = "".join(rng.choice(_BASE36) for _ in range(16))
        e2e = f"STL{''.join(rng.choice(_BASE36) for _ in range(19))}-{rng.randint(0, 40)}" if rng.random() < 0.5 else None
        amount = rng.randint(1_000, 800_000) if rng.random() < 0.9 else rng.randint(800_000, 5_000_000)
        return OpenItem(
            item_id=f"I{self.invoice_counter:07d}",
            payer_name=payer.name,
            payer_iban=payer.iban,
            amount=amount,
            currency="EUR",
            due_date=self.day + timedelta(days=rng.randint(-30, 30)),
            invoice_number=number,
            creditor_reference=make_creditor_reference(body),
            end_to_end_id=e2e,
            mandate_reference=f"MNDT-{payer.iban[-8:]}" if e2e else None,
        )

    # -- lines -----------------------------------------------------------------------------------------------

    def _line(self, case: str, allocations: Sequence[Allocation], amount: int, *, unique: bool = True, **fields: Any) -> None:
        reference = f"BREF{len(self.lines):08d}"
        line = BankLine(
            bank_reference=reference,
            account_iban=ACCOUNT,
            amount=amount,
            currency="EUR",
            direction="credit",
            booking_date=self.day,
            value_date=self.day,
            source="synthetic",
            **fields,
        )
        self.lines.append(line)
        self.truth[reference] = Truth(tuple(a for a in allocations if a.amount > 0), unique, case)
        self._use([a.item_id for a in allocations], by_reference=case in _REFERENCED)

    def _use(self, item_ids: Sequence[str], *, by_reference: bool) -> None:
        for item_id in item_ids:
            payer = self.owner[item_id]
            payer.open = [i for i in payer.open if i.item_id != item_id]
            if by_reference:
                payer.gone.add(item_id)
            if not payer.open and id(payer) in self.active:
                self.active.discard(id(payer))
                self.unpaid = [p for p in self.unpaid if p.open] if len(self.active) < len(self.unpaid) // 2 else self.unpaid

    def _take_payer(self, minimum: int = 1) -> _Payer | None:
        rng = self.rng
        for _ in range(20):
            if not self.active:
                return None
            payer = self.unpaid[rng.randrange(len(self.unpaid))]
            if len(payer.open) >= minimum:
                return payer
        return None

    def _who(self, payer: _Payer) -> dict[str, Any]:
        return {"counterparty_name": _name_variant(self.rng, payer.name), "counterparty_iban": payer.iban}

    def run(self) -> Corpus:
        rng = self.rng
        cases = [
            ("e2e", 14),
            ("rf_structured", 10),
            ("rf_text", 8),
            ("invoice_text", 12),
            ("invoice_ocr", 8),
            ("invoice_typo", 5),
            ("collective_refs", 5),
            ("collective_structured", 4),
            ("collective_noref", 7),
            ("single_noref", 7),
            ("name_only", 4),
            ("parent_account", 2),
            ("partial", 3),
            ("over", 2),
            ("short_fee", 3),
            ("ambiguous", 1),
            ("return", 4),
            ("bank_fee", 2),
            ("not_ours", 2),
        ]
        names, weights = zip(*cases, strict=True)
        while len(self.lines) < self.target_lines:
            case = rng.choices(names, weights)[0]
            if not getattr(self, f"_case_{case}")():
                if not self.active:
                    self._case_not_ours()
        items = [item for payer in self.payers for item in payer.items]
        return Corpus(
            self.lines[: self.target_lines], items, {k: self.truth[k] for k in (x.bank_reference for x in self.lines)}, self.known
        )

    def _one(self) -> tuple[_Payer, OpenItem] | None:
        payer = self._take_payer()
        if payer is None:
            return None
        return payer, self.rng.choice(payer.open)

    def _text(self, core: str) -> str:
        rng = self.rng
        before = rng.choice(["", "Rechnung ", "Invoice ", "RG ", "Zahlung ", "Payment for ", "Re.-Nr. "])
        after = rng.choice(["", " Danke", " vom 01.11.2026", " Kd-Nr 4711", " thank you"])
        return f"{before}{core}{after}"

    def _case_e2e(self) -> bool:
        found = self._one()
        if found is None or found[1].end_to_end_id is None:
            return found is not None and self._case_rf_structured(found)
        payer, item = found
        self._line("e2e", [Allocation(item.item_id, item.amount)], item.amount, end_to_end_id=item.end_to_end_id, **self._who(payer))
        return True

    def _case_rf_structured(self, found: tuple[_Payer, OpenItem] | None = None) -> bool:
        found = found or self._one()
        if found is None:
            return False
        payer, item = found
        self._line(
            "rf_structured",
            [Allocation(item.item_id, item.amount)],
            item.amount,
            creditor_reference=item.creditor_reference,
            **self._who(payer),
        )
        return True

    def _case_rf_text(self) -> bool:
        found = self._one()
        if found is None:
            return False
        payer, item = found
        rf = item.creditor_reference or ""
        printed = " ".join(rf[k : k + 4] for k in range(0, len(rf), 4)) if self.rng.random() < 0.5 else rf
        self._line("rf_text", [Allocation(item.item_id, item.amount)], item.amount, remittance_text=self._text(printed), **self._who(payer))
        return True

    def _case_invoice_text(self) -> bool:
        found = self._one()
        if found is None:
            return False
        payer, item = found
        number = item.invoice_number or ""
        style = self.rng.random()
        printed = number.replace("-", "") if style < 0.3 else number.replace("-", " ") if style < 0.5 else number
        self._line(
            "invoice_text", [Allocation(item.item_id, item.amount)], item.amount, remittance_text=self._text(printed), **self._who(payer)
        )
        return True

    def _case_invoice_ocr(self) -> bool:
        found = self._one()
        if found is None:
            return False
        payer, item = found
        printed = _ocr(self.rng, item.invoice_number or "")
        self._line(
            "invoice_ocr", [Allocation(item.item_id, item.amount)], item.amount, remittance_text=self._text(printed), **self._who(payer)
        )
        return True

    def _case_invoice_typo(self) -> bool:
        found = self._one()
        if found is None:
            return False
        payer, item = found
        printed = _typo(self.rng, item.invoice_number or "")
        self._line(
            "invoice_typo", [Allocation(item.item_id, item.amount)], item.amount, remittance_text=self._text(printed), **self._who(payer)
        )
        return True

    def _case_collective_refs(self) -> bool:
        payer = self._take_payer(minimum=2)
        if payer is None:
            return False
        chosen = self.rng.sample(payer.open, self.rng.randint(2, min(4, len(payer.open))))
        text = ", ".join(_ocr(self.rng, i.invoice_number or "") if self.rng.random() < 0.3 else i.invoice_number or "" for i in chosen)
        total = sum(i.amount for i in chosen)
        self._line(
            "collective_refs",
            [Allocation(i.item_id, i.amount) for i in chosen],
            total,
            remittance_text=self._text(text),
            **self._who(payer),
        )
        return True

    def _case_collective_structured(self) -> bool:
        payer = self._take_payer(minimum=2)
        if payer is None:
            return False
        chosen = self.rng.sample(payer.open, self.rng.randint(2, min(5, len(payer.open))))
        refs = tuple(RemittanceRef(i.invoice_number or "", i.amount, "invoice") for i in chosen)
        total = sum(i.amount for i in chosen)
        self._line("collective_structured", [Allocation(i.item_id, i.amount) for i in chosen], total, structured=refs, **self._who(payer))
        return True

    def _noref(self, case: str, payer: _Payer, chosen: list[OpenItem], amount: int, **extra: Any) -> None:
        total = sum(i.amount for i in chosen)
        amounts = payer.candidates()
        exact = _subset_count(amounts, amount, amount)
        if exact == 0:
            unique = _subset_count(amounts, amount, amount + self.fee_tolerance) == 1
        else:
            unique = exact == 1 and total == amount
        fields = {**self._who(payer), **extra}
        if "remittance_text" not in fields and self.rng.random() < 0.5:
            fields["remittance_text"] = self.rng.choice(["Zahlung", "Sammelüberweisung", "Payment", "Begleichung offener Posten"])
        self._line(case, self._spread(chosen, amount), amount, unique=unique, **fields)

    @staticmethod
    def _spread(chosen: Sequence[OpenItem], amount: int) -> list[Allocation]:
        ordered = sorted(chosen, key=lambda i: (i.due_date is None, i.due_date, i.item_id))
        allocations, left = [], amount
        for item in ordered:
            take = min(left, item.amount)
            allocations.append(Allocation(item.item_id, take))
            left -= take
        return allocations

    def _case_collective_noref(self) -> bool:
        payer = self._take_payer(minimum=2)
        if payer is None:
            return False
        chosen = self.rng.sample(payer.open, self.rng.randint(2, min(6, len(payer.open))))
        self._noref("collective_noref", payer, chosen, sum(i.amount for i in chosen))
        return True

    def _case_single_noref(self) -> bool:
        found = self._one()
        if found is None:
            return False
        payer, item = found
        self._noref("single_noref", payer, [item], item.amount)
        return True

    def _case_name_only(self) -> bool:
        found = self._one()
        if found is None:
            return False
        payer, item = found
        other = _iban(self.rng, "DE")
        name = _name_variant(self.rng, payer.name)
        if self.rng.random() < 0.5:
            text = self._text(item.invoice_number or "")
            self._line(
                "name_only",
                [Allocation(item.item_id, item.amount)],
                item.amount,
                counterparty_name=name,
                counterparty_iban=other,
                remittance_text=text,
            )
        else:
            self._noref("name_only", payer, [item], item.amount, counterparty_name=name, counterparty_iban=other)
        return True

    def _case_parent_account(self) -> bool:
        found = self._one()
        if found is None:
            return False
        payer, item = found
        parent = _iban(self.rng, "DE")
        self.known[parent] = payer.iban
        amounts = payer.candidates()
        unique = _subset_count(amounts, item.amount, item.amount) == 1
        self._line(
            "parent_account",
            [Allocation(item.item_id, item.amount)],
            item.amount,
            unique=unique,
            counterparty_name=f"{self.rng.choice(_SURNAMES)} Holding AG",
            counterparty_iban=parent,
        )
        return True

    def _case_partial(self) -> bool:
        found = self._one()
        if found is None:
            return False
        payer, item = found
        paid = item.amount // self.rng.choice([2, 3, 4])
        if paid <= 0 or item.amount - paid <= self.fee_tolerance:
            return False
        self._line(
            "partial",
            [Allocation(item.item_id, paid)],
            paid,
            creditor_reference=item.creditor_reference,
            remittance_text="Teilzahlung",
            **self._who(payer),
        )
        return True

    def _case_over(self) -> bool:
        found = self._one()
        if found is None:
            return False
        payer, item = found
        paid = item.amount + self.rng.randint(100, 50_000)
        self._line(
            "over", [Allocation(item.item_id, item.amount)], paid, remittance_text=self._text(item.invoice_number or ""), **self._who(payer)
        )
        return True

    def _case_short_fee(self) -> bool:
        found = self._one()
        if found is None:
            return False
        payer, item = found
        fee = self.rng.randint(50, self.fee_tolerance)
        if item.amount <= fee:
            return False
        with_ref = self.rng.random() < 0.6
        extra: dict[str, Any] = {"charges": fee}
        if with_ref:
            extra["remittance_text"] = self._text(item.invoice_number or "")
            self._line("short_fee", [Allocation(item.item_id, item.amount - fee)], item.amount - fee, **self._who(payer), **extra)
        else:
            self._noref("short_fee", payer, [item], item.amount - fee, **extra)
        return True

    def _case_ambiguous(self) -> bool:
        payer = self._take_payer()
        if payer is None:
            return False
        base = self.rng.choice(payer.open)
        payer.open.remove(base)  # stays open, never paid: the twin's equal
        twin = replace(self._item(payer), amount=base.amount)
        payer.items.append(twin)
        self.owner[twin.item_id] = payer
        self._line("ambiguous", [Allocation(twin.item_id, twin.amount)], twin.amount, unique=False, **self._who(payer))
        return True

    def _case_return(self) -> bool:
        found = self._one()
        if found is None or found[1].end_to_end_id is None:
            return found is not None and self._case_e2e_again(found)
        payer, item = found
        code = self.rng.choice(_RETURN_CODES)
        reference = f"BREF{len(self.lines):08d}"
        line = BankLine(
            bank_reference=reference,
            account_iban=ACCOUNT,
            amount=item.amount,
            currency="EUR",
            direction="debit",
            booking_date=self.day,
            value_date=self.day,
            kind="return",
            reason_code=code,
            end_to_end_id=item.end_to_end_id,
            mandate_reference=item.mandate_reference,
            counterparty_name=payer.name,
            counterparty_iban=payer.iban,
            bank_tx_code="PMNT-IDDT-UPDD",
            charges=self.rng.choice([0, 0, 300, 875]),
            source="synthetic",
        )
        self.lines.append(line)
        self.truth[reference] = Truth((Allocation(item.item_id, item.amount),), True, "return")
        self._use([item.item_id], by_reference=True)
        return True

    def _case_e2e_again(self, found: tuple[_Payer, OpenItem]) -> bool:
        return self._case_rf_structured(found)

    def _case_bank_fee(self) -> bool:
        reference = f"BREF{len(self.lines):08d}"
        line = BankLine(
            bank_reference=reference,
            account_iban=ACCOUNT,
            amount=self.rng.randint(50, 2_500),
            currency="EUR",
            direction="debit",
            booking_date=self.day,
            value_date=self.day,
            kind="fee",
            remittance_text="Kontoführungsentgelt",
            source="synthetic",
        )
        self.lines.append(line)
        self.truth[reference] = Truth((), True, "bank_fee")
        return True

    def _case_not_ours(self) -> bool:
        name = f"{self.rng.choice(['Finanzamt', 'Stadtwerke', 'Hausverwaltung', 'Versicherung'])} {self.rng.choice(_CITIES)}"
        self._line(
            "not_ours",
            [],
            self.rng.randint(1_000, 200_000),
            counterparty_name=name,
            counterparty_iban=_iban(self.rng),
            remittance_text=self.rng.choice(["Erstattung", "Gutschrift 2026", "Rückzahlung Kaution", ""]),
        )
        return True


def generate(seed: int = 13, lines: int = 2_000, *, items: int | None = None, fee_tolerance: int = 1000) -> Corpus:
    """A corpus of ``lines`` bank lines against ``items`` open items (default: one and a half per line, so most
    lines find a payer with open items; with fewer, lines that are not ours fill up)."""
    return _Generator(seed, lines, items, fee_tolerance).run()


@dataclass(frozen=True)
class Score:
    auto: int
    auto_right: int
    unique: int
    unique_auto_right: int
    review: int
    none: int

    @property
    def precision(self) -> float:
        return self.auto_right / self.auto if self.auto else 1.0

    @property
    def recall(self) -> float:
        return self.unique_auto_right / self.unique if self.unique else 1.0


def score(decisions: Sequence[Decision], truth: dict[str, Truth]) -> Score:
    """Auto precision (auto decisions whose allocations are exactly the truth's) and auto recall (of the lines with a
    unique right answer that settles something, those decided auto and right)."""
    auto = right = unique = unique_right = review = none = 0
    for decision in decisions:
        line, kind, allocations = decision.line, decision.decision, decision.allocations
        expected = truth[line.bank_reference]
        correct = expected.case != "ambiguous" and sorted(allocations, key=lambda a: a.item_id) == sorted(
            expected.allocations, key=lambda a: a.item_id
        )
        settles = expected.unique and bool(expected.allocations)
        unique += settles
        if kind == "auto":
            auto += 1
            right += correct
            unique_right += correct and settles
        elif kind == "review":
            review += 1
        else:
            none += 1
    return Score(auto, right, unique, unique_right, review, none)


# -- files for end-to-end runs -----------------------------------------------------------------------------------------


def _amount(minor: int) -> str:
    return format_minor(minor, 2)


def items_csv(items: Sequence[OpenItem]) -> str:
    """The open items in the ``settle reconcile evaluate --open-items`` CSV format."""
    rows = ["item_id,payer_name,payer_iban,amount,currency,due_date,invoice_number,creditor_reference,end_to_end_id,mandate_reference"]
    for i in items:
        cells = [
            i.item_id,
            i.payer_name or "",
            i.payer_iban or "",
            _amount(i.amount),
            i.currency,
            i.due_date.isoformat() if i.due_date else "",
            i.invoice_number or "",
            i.creditor_reference or "",
            i.end_to_end_id or "",
            i.mandate_reference or "",
        ]
        rows.append(",".join('"' + c.replace('"', '""') + '"' if ("," in c or '"' in c) else c for c in cells))
    return "\n".join(rows) + "\n"


def camt053(lines: Sequence[BankLine], account: str = ACCOUNT) -> bytes:
    """The lines as one camt.053.001.08 statement, one entry per line."""
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>',
        "<GrpHdr><MsgId>SYNTHETIC</MsgId><CreDtTm>2026-11-02T18:00:00</CreDtTm></GrpHdr>",
        f"<Stmt><Id>SYNTHETIC-1</Id><CreDtTm>2026-11-02T18:00:00</CreDtTm><Acct><Id><IBAN>{account}</IBAN></Id></Acct>",
    ]
    for line in lines:
        e = escape
        cd = "CRDT" if line.direction == "credit" else "DBIT"
        day = (line.booking_date or date(2026, 11, 2)).isoformat()
        family = {"return": ("IDDT", "UPDD"), "fee": ("CCRD", "CHRG")}.get(line.kind, ("RCDT", "ESCT"))
        refs = f"<AcctSvcrRef>{e(line.bank_reference)}</AcctSvcrRef>"
        refs += f"<EndToEndId>{e(line.end_to_end_id or 'NOTPROVIDED')}</EndToEndId>"
        if line.mandate_reference:
            refs += f"<MndtId>{e(line.mandate_reference)}</MndtId>"
        parties = ""
        if line.counterparty_name or line.counterparty_iban:
            role = "Dbtr" if line.direction == "credit" else "Cdtr"
            party = f"<{role}><Pty><Nm>{e(line.counterparty_name or '')}</Nm></Pty></{role}>"
            if line.counterparty_iban:
                party += f"<{role}Acct><Id><IBAN>{e(line.counterparty_iban)}</IBAN></Id></{role}Acct>"
            parties = f"<RltdPties>{party}</RltdPties>"
        remittance = ""
        if line.remittance_text:
            remittance += f"<Ustrd>{e(line.remittance_text[:140])}</Ustrd>"
        if line.creditor_reference:
            remittance += (
                "<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp>"
                f"<Ref>{e(line.creditor_reference)}</Ref></CdtrRefInf></Strd>"
            )
        for ref in line.structured:
            amount = f'<RfrdDocAmt><RmtdAmt Ccy="{line.currency}">{_amount(ref.amount)}</RmtdAmt></RfrdDocAmt>' if ref.amount else ""
            remittance += (
                f"<Strd><RfrdDocInf><Tp><CdOrPrtry><Cd>CINV</Cd></CdOrPrtry></Tp><Nb>{e(ref.reference)}</Nb></RfrdDocInf>{amount}</Strd>"
            )
        remittance = f"<RmtInf>{remittance}</RmtInf>" if remittance else ""
        charges = ""
        if line.charges:
            charges = f'<Chrgs><TtlChrgsAndTaxAmt Ccy="{line.currency}">{_amount(line.charges)}</TtlChrgsAndTaxAmt></Chrgs>'
        ret = f"<RtrInf><Rsn><Cd>{e(line.reason_code)}</Cd></Rsn></RtrInf>" if line.reason_code else ""
        out.append(
            f'<Ntry><Amt Ccy="{line.currency}">{_amount(line.amount)}</Amt><CdtDbtInd>{cd}</CdtDbtInd>'
            f"<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt>"
            f"<AcctSvcrRef>{e(line.bank_reference)}</AcctSvcrRef>"
            f"<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>{family[0]}</Cd><SubFmlyCd>{family[1]}</SubFmlyCd></Fmly></Domn></BkTxCd>"
            f'<NtryDtls><TxDtls><Refs>{refs}</Refs><Amt Ccy="{line.currency}">{_amount(line.amount)}</Amt>'
            f"<CdtDbtInd>{cd}</CdtDbtInd>{charges}{parties}{remittance}{ret}</TxDtls></NtryDtls></Ntry>"
        )
    out.append("</Stmt></BkToCstmrStmt></Document>")
    return "\n".join(out).encode("utf-8")

"""The matching engine: bank lines to open items, one :class:`~.model.Decision` per line (issue 13).

Evidence, strongest first:

* **exact keys** — the SEPA end-to-end id (a re-presentation's ``…R<n>`` also finds its item), the ISO 11649 RF
  creditor reference (structured, or found in the free text, check digits verified), invoice numbers given as
  structured references, in a remittance advice or in the free text (compared in a canonical form: upper case,
  letters and digits only, ``O``→``0``, ``I``/``L``→``1``, so ``re 2O26-000l23`` finds ``RE-2026-000123``);
* **typo-tolerant invoice numbers** — one edit (two for numbers of 12 characters or more; an adjacent swap is one
  edit) against the few items that could be meant: the payer's open items and the items open for the line's
  amount; never against the whole book;
* **payer identity** — the counterparty IBAN, then learnt alternative accounts (``known_accounts``: an IBAN that
  paid for another payer before), then name similarity (rapidfuzz, legal forms and accents folded, blocked by name
  tokens so a line compares with a handful of payers);
* **amounts** — the payer's open items: bounded subset-sum for collective transfers without reference
  (exactly, else within the fee tolerance); partial, over- and short payments.

Decisions: ``auto`` only when exactly one allocation fits; two allocations that fit equally well (two subsets,
two equal items, two payers) go to ``review`` with the candidates and why; ``none`` when nothing fits.

Allocations never exceed the line's amount in total nor an item's open amount: payments use what is still open
after the ``auto`` allocations of the lines decided before (lines with exact keys are decided first); a partial or
short payment allocates what was paid, an over-payment allocates the open amount and leaves the surplus
unallocated (the payer's credit balance). Returns and rejections are allocated to the item they reverse (at most
its amount) and do not consume what is open. ``review`` allocations are suggestions and consume nothing.
"""

from __future__ import annotations

import gc
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from gateway.banking.references import find_creditor_references, first_attempt_id, mod97
from gateway.reconciliation.model import Allocation, BankLine, Decision, OpenItem, RemittanceRef
from settle.money import format_minor

__all__ = ["Advice", "Matcher", "Policy", "canonical_reference", "gc_paused", "match", "normalize_name"]


@dataclass(frozen=True)
class Policy:
    """What the engine may decide alone. Amounts in minor units of the line's currency."""

    #: A payer may pay this much less than the open amount (bank charges deducted on the way) and the item is
    #: still settled: the shortfall is written off by policy (logged in the evidence). Also the window within
    #: which a collective transfer's amount may fall short of a subset's sum.
    fee_tolerance: int = 1000
    #: rapidfuzz ``token_sort_ratio`` (0..100) from which a counterparty name identifies a payer …
    name_threshold: float = 90.0
    #: … when the next payer's score is at least this much lower (else the name is ambiguous: review).
    name_margin: float = 4.0
    #: Collective transfers: at most this many of the payer's open items (oldest due first) are searched …
    max_subset_items: int = 30
    #: … for subsets of at most this many items …
    max_subset_size: int = 8
    #: … visiting at most this many search nodes; a search cut short is inconclusive (review, never auto).
    subset_budget: int = 50_000
    #: Invoice numbers shorter than this (canonical form) are not looked for in free text.
    min_reference_length: int = 5
    #: Auto-allocate a partial payment or an over-payment identified by payer alone (no reference) when the payer
    #: (by IBAN or a learnt account) has exactly one open item.
    single_item_partial: bool = True


class Advice(Protocol):
    """What the engine reads of a remittance advice (:class:`gateway.reconciliation.remittance.RemittanceAdvice`)."""

    @property
    def payer_name(self) -> str | None: ...

    @property
    def total(self) -> int | None: ...

    @property
    def items(self) -> tuple[RemittanceRef, ...]: ...


# -- normal forms ----------------------------------------------------------------------------------------------------

_OCR = str.maketrans({"O": "0", "I": "1", "L": "1"})
_NON_ALNUM = re.compile(r"[^0-9A-Z]+")
_CANONICAL_TOKENS = re.compile(r"[0-9A-Z]+")
_DIGIT = re.compile(r"\d")
_RF = re.compile(r"^RF\d{2}[0-9A-Z]{1,21}$")
_GERMAN = str.maketrans(
    {
        "ä": "ae",
        "ö": "oe",
        "ü": "ue",
        "ß": "ss",
        "Ä": "ae",
        "Ö": "oe",
        "Ü": "ue",
        "ı": "i",
        "ł": "l",
        "Ł": "l",
        "ø": "o",
        "Ø": "o",
        "æ": "ae",
        "œ": "oe",
        "đ": "d",
    }
)
_LEGAL_FORMS = frozenset(
    "gmbh mbh ag kg kgaa ohg ug gbr ev eg se co cokg haftungsbeschraenkt ltd limited llc inc corp plc sa sas sarl srl spa "
    "bv nv oy ab as aps gesmbh sro zoo sp".split()
)
_CONNECTORS = frozenset({"u", "und", "and", "et", "e", "y"})
_WINDOW = 5  # free-text tokens joined to find a reference written with separators
_BLOCK = 200  # at most this many payer names compared with a line's counterparty name


@lru_cache(maxsize=4_096)
def _windows(text: str, minimum: int) -> tuple[str, ...]:
    """Runs of up to :data:`_WINDOW` consecutive words of ``text`` joined, canonical, at least ``minimum`` long: an
    invoice number written with or without separators (``RE 2026 000123``, ``RE2026-000123``) is one of them."""
    tokens = _CANONICAL_TOKENS.findall(text.upper().translate(_OCR))
    found: dict[str, None] = {}
    for start in range(len(tokens)):
        joined = ""
        for token in tokens[start : start + _WINDOW]:
            joined += token
            if len(joined) >= minimum:
                found[joined] = None
    return tuple(found)


def _valid_rf(reference: str) -> bool:
    """ISO 11649: ``RF``, two check digits, 1 to 21 letters or digits, mod 97 of the rearranged number is 1 (the
    check :func:`gateway.banking.references.parse_creditor_reference` makes, for a reference already in canonical
    form)."""
    return bool(_RF.match(reference)) and mod97(reference[4:] + reference[:4]) == 1


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while large acyclic structures are built (indexes of 100,000 items, a
    statement's lines): its full passes over every new container would otherwise take two thirds of the time.
    Nothing the engine builds holds a reference cycle."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def canonical_reference(text: str) -> str:
    """A reference's comparable form: upper case, letters and digits only, OCR confusions folded (O→0, I/L→1)."""
    return _NON_ALNUM.sub("", text.upper()).translate(_OCR)


@lru_cache(maxsize=65_536)
def normalize_name(name: str) -> str:
    """A party name's comparable form: lower case, umlauts spelt out, accents dropped, punctuation and legal forms
    (GmbH, AG, Ltd, SARL …) removed."""
    folded = unicodedata.normalize("NFKD", name.translate(_GERMAN))
    ascii_only = "".join(c for c in folded if not unicodedata.combining(c)).lower()
    words = re.findall(r"[a-z0-9]+", ascii_only.replace(".", "").replace("&", " "))
    words = [w for w in words if w not in _LEGAL_FORMS and w not in _CONNECTORS]
    return " ".join(words)


@lru_cache(maxsize=65_536)
def _full_name(name: str) -> str:
    """A name folded for comparison but with its legal form kept: tells ``Meyer AG`` from ``Meyer SE``."""
    folded = unicodedata.normalize("NFKD", name.translate(_GERMAN))
    ascii_only = "".join(c for c in folded if not unicodedata.combining(c)).lower()
    return " ".join(re.findall(r"[a-z0-9]+", ascii_only.replace(".", "").replace("&", " ")))


def _compact_iban(iban: str | None) -> str:
    if not iban:
        return ""
    return iban.upper() if " " not in iban else "".join(iban.split()).upper()


def _money(amount: int) -> str:
    return format_minor(amount, 2)


# -- the book: open items indexed ----------------------------------------------------------------------------------


@dataclass
class _Book:
    items: dict[str, OpenItem]
    open: dict[str, int]
    by_e2e: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    by_rf: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    by_invoice: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    by_mandate: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    by_iban: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    by_name: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    name_payers: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    by_full_name: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    by_amount: dict[tuple[str, int], list[str]] = field(default_factory=lambda: defaultdict(list))
    name_tokens: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    invoice_key: dict[str, str] = field(default_factory=dict)
    max_invoice_tokens: int = _WINDOW

    @classmethod
    def build(cls, items: Iterable[OpenItem], policy: Policy) -> _Book:
        book = cls(items={}, open={})
        for item in items:
            if item.item_id in book.items:
                raise ValueError(f"open items: item id {item.item_id!r} appears twice")
            book.items[item.item_id] = item
            book.open[item.item_id] = max(item.amount, 0)
            if item.end_to_end_id:
                book.by_e2e[item.end_to_end_id.strip().upper()].append(item.item_id)
            if item.creditor_reference:
                book.by_rf["".join(item.creditor_reference.split()).upper()].append(item.item_id)
            if item.invoice_number:
                key = canonical_reference(item.invoice_number)
                if len(key) >= policy.min_reference_length and _DIGIT.search(key):
                    book.by_invoice[key].append(item.item_id)
                    book.invoice_key[item.item_id] = key
            if item.mandate_reference:
                book.by_mandate[item.mandate_reference.strip().upper()].append(item.item_id)
            iban = _compact_iban(item.payer_iban)
            if iban:
                book.by_iban[iban].append(item.item_id)
            if item.payer_name:
                name = normalize_name(item.payer_name)
                if name:
                    if name not in book.by_name:
                        for token in name.split():
                            if len(token) >= 3:
                                book.name_tokens[token].add(name)
                    book.by_name[name].append(item.item_id)
                    book.name_payers[name].add(iban or name)
                    book.by_full_name[_full_name(item.payer_name)].add(item.item_id)
            book.by_amount[(item.currency, item.amount)].append(item.item_id)
        return book

    def payer_of(self, item_id: str) -> str:
        item = self.items[item_id]
        return _compact_iban(item.payer_iban) or normalize_name(item.payer_name or "")


# -- what a line says ------------------------------------------------------------------------------------------------


@dataclass
class _Found:
    """Items a line's references point to, with the reference's amount when the reference gave one."""

    strong: dict[str, list[str]] = field(default_factory=dict)  # item -> evidence (e2e, RF)
    invoices: dict[str, list[str]] = field(default_factory=dict)  # item -> evidence (invoice numbers, exact)
    amounts: dict[str, int] = field(default_factory=dict)  # item -> amount stated for it
    unknown_refs: list[str] = field(default_factory=list)
    credit_notes: list[tuple[str, int]] = field(default_factory=list)  # (number, amount) deducted by the payer
    #: The remittance advice's items do not add up to its printed total (a misread digit?): its amounts only suggest.
    advice_doubtful: bool = False

    def add(self, target: dict[str, list[str]], item_id: str, evidence: str, amount: int | None = None) -> None:
        target.setdefault(item_id, []).append(evidence)
        if amount is not None and amount > 0:
            self.amounts[item_id] = amount

    @property
    def items(self) -> list[str]:
        return list(dict.fromkeys([*self.strong, *self.invoices]))


@dataclass
class _Payer:
    item_ids: list[str]
    evidence: str
    by_iban: bool
    confidence: float


class _Engine:
    def __init__(self, items: Iterable[OpenItem], advices: Sequence[Advice], known_accounts: Mapping[str, str], policy: Policy):
        self.policy = policy
        self.book = _Book.build(items, policy)
        self.known = {_compact_iban(k): v for k, v in known_accounts.items()}
        self.names = list(self.book.by_name)
        #: What each line's references point to, read once (``id`` of the line: the caller keeps the lines alive).
        self._references: dict[int, tuple[_Found, list[RemittanceRef], str]] = {}
        self.advices: dict[int, list[Advice]] = defaultdict(list)
        for advice in advices:
            total = advice.total if advice.total is not None else sum(r.amount or 0 for r in advice.items)
            if total > 0:
                self.advices[total].append(advice)

    # -- references ------------------------------------------------------------------------------------------

    def _invoice_ids(self, key: str) -> list[str]:
        return self.book.by_invoice.get(key, [])

    def forget_lines(self) -> None:
        self._references.clear()

    def references(self, line: BankLine) -> tuple[_Found, list[RemittanceRef], str]:
        cached = self._references.get(id(line))
        if cached is None:
            cached = self._references[id(line)] = self._read_references(line)
        return cached

    def _read_references(self, line: BankLine) -> tuple[_Found, list[RemittanceRef], str]:
        book, found = self.book, _Found()
        refs: list[RemittanceRef] = list(line.structured)
        advice_note = ""
        advice = self._advice_for(line)
        if advice is not None:
            refs.extend(advice.items)
            source = getattr(advice, "source", "")
            advice_note = (
                f"remittance advice{f' {source}' if source else ''} from {advice.payer_name or 'unnamed payer'} over {_money(line.amount)}"
            )
            found.advice_doubtful = getattr(advice, "adds_up", True) is False
        if line.end_to_end_id:
            e2e = line.end_to_end_id.strip().upper()
            ids = book.by_e2e.get(e2e) or book.by_e2e.get(first_attempt_id(e2e), [])
            for item_id in ids:
                found.add(found.strong, item_id, f"end-to-end id {e2e} of item {item_id}")
        rf_seen: set[str] = set()
        candidates_rf: list[tuple[str, str]] = []
        if line.creditor_reference:
            candidates_rf.append(("".join(line.creditor_reference.split()).upper(), "structured RF reference"))
        for ref in refs:
            if ref.kind == "creditor_reference" or ref.reference.upper().startswith("RF"):
                candidates_rf.append(("".join(ref.reference.split()).upper(), "structured RF reference"))
        text = line.remittance_text or ""
        for rf in find_creditor_references(text) if "RF" in text.upper() else ():
            candidates_rf.append((rf, "RF reference in the remittance text"))
        for rf, where in candidates_rf:
            if rf in rf_seen or not _valid_rf(rf):
                continue
            rf_seen.add(rf)
            ids = book.by_rf.get(rf, [])
            amount = next((r.amount for r in refs if "".join(r.reference.split()).upper() == rf), None)
            for item_id in ids:
                found.add(found.strong, item_id, f"{where} {rf} (ISO 11649 check digits valid) of item {item_id}", amount)
            if not ids and rf.startswith("RF"):
                found.unknown_refs.append(rf)
        for ref in refs:
            if ref.kind == "creditor_reference" or ref.reference.upper().startswith("RF"):
                continue
            if ref.kind == "credit_note":
                found.credit_notes.append((ref.reference, ref.amount or 0))
                continue
            key = canonical_reference(ref.reference)
            ids = self._invoice_ids(key)
            source = "remittance advice" if advice is not None and ref in advice.items else "structured reference"
            for item_id in ids:
                found.add(found.invoices, item_id, f"invoice number {ref.reference} ({source}) of item {item_id}", ref.amount)
            if not ids and key:
                found.unknown_refs.append(ref.reference)
        if line.remittance_text:
            for key in self._text_windows(line.remittance_text):
                for item_id in self._invoice_ids(key):
                    if item_id not in found.invoices:
                        number = book.items[item_id].invoice_number
                        found.add(found.invoices, item_id, f"invoice number {number} in the remittance text")
        return found, refs, advice_note

    def _text_windows(self, text: str) -> tuple[str, ...]:
        return _windows(text, self.policy.min_reference_length)

    def _advice_for(self, line: BankLine) -> Advice | None:
        candidates = self.advices.get(line.amount, [])
        if not candidates:
            return None
        if line.counterparty_name:
            name = normalize_name(line.counterparty_name)
            named = [a for a in candidates if a.payer_name and fuzz.token_sort_ratio(name, normalize_name(a.payer_name)) >= 85]
            if len(named) == 1:
                return named[0]
        return candidates[0] if len(candidates) == 1 else None

    def fuzzy_invoices(self, line: BankLine, pool: Iterable[str]) -> dict[str, tuple[int, str]]:
        """Items of ``pool`` whose invoice number is in the free text with one or two edits: item -> (edits, text)."""
        if not line.remittance_text:
            return {}
        windows = list(self._text_windows(line.remittance_text))
        found: dict[str, tuple[int, str]] = {}
        for item_id in pool:
            key = self.book.invoice_key.get(item_id)
            if key is None:
                continue
            limit = 2 if len(key) >= 12 else 1
            best = limit + 1
            for window in windows:
                if abs(len(window) - len(key)) > limit:
                    continue
                distance = OSA.distance(key, window, score_cutoff=limit)
                if distance < best:
                    best = distance
                    seen = window
            if best <= limit:
                found[item_id] = (best, seen)
        return found

    # -- payer ---------------------------------------------------------------------------------------------

    def payer(self, line: BankLine) -> _Payer | None:
        book = self.book
        iban = _compact_iban(line.counterparty_iban)
        if iban and iban in book.by_iban:
            return _Payer(list(book.by_iban[iban]), f"payer IBAN {iban} is the items' payer account", True, 1.0)
        if iban and iban in self.known:
            target = self.known[iban]
            ids = book.by_iban.get(_compact_iban(target)) or book.by_name.get(normalize_name(target), [])
            if ids:
                return _Payer(list(ids), f"IBAN {iban} is a learnt alternative account of payer {target}", True, 0.95)
        if not line.counterparty_name:
            return None
        name = normalize_name(line.counterparty_name)
        if not name:
            return None
        if name in book.by_name:
            if len(book.name_payers[name]) > 1:
                # Several payers under one name without legal form: the full name (with its form) may still say which.
                full = book.by_full_name.get(_full_name(line.counterparty_name), set())
                if len({book.payer_of(i) for i in full}) != 1:
                    return None
                ids = sorted(full)
                return _Payer(ids, f"payer name {line.counterparty_name!r} equals the items' payer (with legal form)", False, 0.9)
            exact = book.by_name[name]
            return _Payer(list(exact), f"payer name {line.counterparty_name!r} equals the items' payer", False, 0.9)
        # Block on the rarest name tokens: a misspelt or shortened name still shares one with its payer.
        blocks = sorted((book.name_tokens[t] for t in set(name.split()) if t in book.name_tokens), key=len)
        if not blocks:
            return None
        pool = blocks[0] | blocks[1] if len(blocks) > 1 and len(blocks[0]) + len(blocks[1]) <= _BLOCK else blocks[0]
        if len(pool) > _BLOCK:
            pool = blocks[0] & blocks[1] if len(blocks) > 1 else set()
        if not pool:
            return None
        scored = process.extract(name, list(pool), scorer=fuzz.token_sort_ratio, limit=2)
        best_name, best, _ = scored[0]
        if best < self.policy.name_threshold:
            return None
        if len(scored) > 1 and best - scored[1][1] < self.policy.name_margin or len(book.name_payers[best_name]) > 1:
            return None
        return _Payer(
            list(book.by_name[best_name]),
            f"payer name {line.counterparty_name!r} is similar to {best_name!r} ({best:.0f} %)",
            False,
            0.8,
        )

    # -- deciding ------------------------------------------------------------------------------------------

    def decide(self, line: BankLine, *, strong_only: bool) -> Decision | None:
        if line.kind in ("return", "rejection"):
            return None if strong_only else self.reverse(line)
        if line.direction == "debit" or line.kind == "fee":
            if strong_only:
                return None
            what = "bank charges" if line.kind == "fee" else "an outgoing debit"
            return Decision(line, "none", (), (f"{what}: no open item to settle",), 0.0)
        found, refs, advice_note = self.references(line)
        evidence = [advice_note] if advice_note else []
        same_currency = [i for i in found.items if self.book.items[i].currency == line.currency]
        if strong_only and not same_currency:
            return None
        if same_currency:
            return self.by_reference(line, found, same_currency, evidence)
        return self.by_payer(line, found, evidence)

    def by_reference(self, line: BankLine, found: _Found, ids: list[str], evidence: list[str]) -> Decision:
        book, policy = self.book, self.policy
        for item_id in ids:
            evidence.extend(found.strong.get(item_id, []) + found.invoices.get(item_id, []))
        strong = [i for i in ids if i in found.strong]
        if strong and len({book.payer_of(i) for i in strong}) > 1 and len(strong) > 1 and not found.amounts:
            return self._review(line, evidence + ["references point to items of different payers"], strong, 0.5)
        if found.amounts:
            return self._stated(line, found, ids, evidence)
        open_total = sum(book.open[i] for i in ids)
        settled = [i for i in ids if book.open[i] == 0]
        if settled and len(ids) > 1:
            evidence.append(f"item(s) {', '.join(settled)} already settled by another line")
            return self._review(line, evidence, ids, 0.5)
        fits = open_total - policy.fee_tolerance <= line.amount <= open_total
        if not strong and len(ids) == 1 and line.amount != open_total:
            # An invoice number typed by a person: the neighbour's number is one slip away. The payer's item open for
            # the amount with a number one or two edits from the text may be the better explanation.
            decided = self._typed_number(line, ids[0], fits, evidence)
            if decided is not None:
                return decided
        if open_total == 0:
            return self._review(line, evidence + ["the referenced items are already settled (paid twice?)"], [], 0.4)
        if line.amount == open_total:
            evidence.append(f"amount {_money(line.amount)} equals the open amount")
            return self._auto(line, self._fill(ids, line.amount), evidence, 0.99 if strong else 0.96)
        if line.amount > open_total:
            evidence.append(f"over-payment: {_money(line.amount - open_total)} left unallocated (credit balance of the payer)")
            return self._auto(line, self._fill(ids, open_total), evidence, 0.93 if strong else 0.9)
        if fits:
            self._amount_evidence(line, open_total, evidence)
            return self._auto(line, self._fill(ids, line.amount), evidence, 0.94 if strong else 0.9)
        if len(ids) > 1:
            evidence.append(f"partial payment of {_money(line.amount)} for {len(ids)} items open {_money(open_total)}: split unclear")
            return self._review(line, evidence, ids, 0.6)
        evidence.append(f"partial payment: {_money(line.amount)} of {_money(open_total)}; {_money(open_total - line.amount)} stays open")
        return self._auto(line, self._fill(ids, line.amount), evidence, 0.9 if strong else 0.85)

    def _typed_number(self, line: BankLine, item_id: str, fits: bool, evidence: list[str]) -> Decision | None:
        """The line names one item by an invoice number whose amount is not exactly the line's: is a neighbour meant?"""
        book, policy = self.book, self.policy
        payer = self.payer(line)
        payer_ids = set(payer.item_ids) if payer else set()
        mine = item_id in payer_ids
        pool = [*payer_ids, *book.by_amount.get((line.currency, line.amount), [])]
        near = {
            i: v
            for i, v in self.fuzzy_invoices(line, dict.fromkeys(pool)).items()
            if i != item_id and book.open[i] - policy.fee_tolerance <= line.amount <= book.open[i]
        }
        exact_near = [i for i in near if book.open[i] == line.amount]
        named_is_open = mine and book.open[item_id] > 0
        if len(near) == 1 and payer is not None and payer.by_iban and next(iter(near)) in payer_ids and not named_is_open:
            (other,) = near
            evidence.append(
                f"but {_money(line.amount)} does not fit item {item_id} ({'the payer' if mine else 'another payer'}'s, "
                f"open {_money(book.open[item_id])}); the payer's item {other} (invoice number {book.items[other].invoice_number}, "
                f"{near[other][0]} edit(s) from {near[other][1]!r}) does"
            )
            evidence.append(payer.evidence)
            self._amount_evidence(line, book.open[other], evidence)
            return self._auto(line, self._fill([other], line.amount), evidence, 0.85)
        if near and (not fits or exact_near):
            evidence.append(f"the amount fits item(s) {', '.join(near)} with a close invoice number instead")
            return self._review(line, evidence, [item_id, *near], 0.5, suggest=list(near)[:1])
        if payer is not None and payer.by_iban and not mine and not fits:
            evidence.append(f"{payer.evidence}, but item {item_id} is another payer's and the amount does not fit")
            return self._review(line, evidence, [item_id], 0.5)
        if payer is not None and payer.by_iban and not mine and fits:
            evidence.append(f"{payer.evidence}, but item {item_id} is another payer's and the amount is not exact")
            return self._review(line, evidence, [item_id], 0.5)
        return None

    def _stated(self, line: BankLine, found: _Found, ids: list[str], evidence: list[str]) -> Decision:
        """Structured remittance or an advice stating the amount paid per document (credit notes deducted)."""
        book = self.book
        stated = [(i, min(found.amounts[i], book.open[i])) for i in ids if i in found.amounts]
        total = sum(a for _, a in stated)
        credit = sum(amount for _, amount in found.credit_notes)
        if credit:
            notes = ", ".join(f"{number} {_money(amount)}" for number, amount in found.credit_notes)
            evidence.append(f"credit note(s) deducted by the payer: {notes}")
        if len(stated) != len(ids) or total - credit > line.amount or total - credit <= 0:
            evidence.append("the amounts stated per document exceed the line or the open amounts")
            return self._review(line, evidence, ids, 0.6)
        evidence.append(f"amounts stated per document: {', '.join(f'{i} {_money(a)}' for i, a in stated)}")
        if credit and len(stated) > 1:
            evidence.append("which invoice the credit note reduces is not stated")
            return self._review(line, evidence, ids, 0.6)
        allocations = [Allocation(i, a - credit) for i, a in stated if a - credit > 0]
        paid = total - credit
        if line.amount > paid:
            evidence.append(f"{_money(line.amount - paid)} not allocated (over-payment: credit balance of the payer)")
        if found.advice_doubtful:
            evidence.append("the advice's items do not add up to its total: its split is a suggestion")
            return Decision(line, "review", tuple(allocations), tuple(evidence), 0.6)
        return self._auto(line, allocations, evidence, 0.97)

    def by_payer(self, line: BankLine, found: _Found, evidence: list[str]) -> Decision:
        book, policy = self.book, self.policy
        payer = self.payer(line)
        pool = [i for i in (payer.item_ids if payer else []) if book.items[i].currency == line.currency and book.open[i] > 0]
        amount_pool = [i for i in book.by_amount.get((line.currency, line.amount), []) if book.open[i] == line.amount]
        fuzzy = self.fuzzy_invoices(line, dict.fromkeys([*pool, *amount_pool]))
        if payer is not None:
            evidence.append(payer.evidence)
        if fuzzy:
            best = min(d for d, _ in fuzzy.values())
            tops = [i for i, (d, _) in fuzzy.items() if d == best]
            fits = [i for i in tops if line.amount <= book.open[i] and book.open[i] - line.amount <= policy.fee_tolerance]
            for i in tops:
                evidence.append(
                    f"invoice number {book.items[i].invoice_number} of item {i} read as {fuzzy[i][1]!r} "
                    f"in the remittance text ({fuzzy[i][0]} edit{'s' if fuzzy[i][0] > 1 else ''})"
                )
            if len(tops) == 1 and len(fits) == 1 and (payer is not None or line.amount == book.open[fits[0]]):
                item_id = fits[0]
                payer_ok = payer is not None and item_id in payer.item_ids
                if payer_ok or line.amount == book.open[item_id]:
                    self._amount_evidence(line, book.open[item_id], evidence)
                    return self._auto(line, self._fill([item_id], line.amount), evidence, 0.9 if payer_ok else 0.85)
            return self._review(line, evidence + ["a typo-tolerant invoice number alone does not decide"], tops, 0.6)
        if payer is None:
            if found.unknown_refs:
                evidence.append(f"references not among the open items: {', '.join(found.unknown_refs[:3])}")
            if len(amount_pool) == 1:
                evidence.append(f"payer unknown; item {amount_pool[0]} is open for exactly {_money(line.amount)}")
                return self._review(line, evidence, amount_pool, 0.3)
            return Decision(line, "none", (), tuple(evidence or ["no reference, payer unknown, no open item for the amount"]), 0.0)
        if not pool:
            return self._review(line, evidence + ["the payer has no open item in this currency"], [], 0.3)
        pool.sort(key=lambda i: (book.items[i].due_date is None, book.items[i].due_date, i))
        searched = pool[: policy.max_subset_items]
        truncated = len(pool) > len(searched)
        # One search over exact and fee-short fits: an exact fit beside a fee-short one is two explanations.
        subsets, complete = self._subsets(searched, line.amount, line.amount + policy.fee_tolerance)
        tolerant = bool(subsets) and sum(book.open[i] for i in subsets[0]) != line.amount
        if len(subsets) == 1 and complete and not truncated:
            (subset,) = subsets
            total = sum(book.open[i] for i in subset)
            what = "collective transfer: " if len(subset) > 1 else ""
            evidence.append(
                f"{what}the only combination of the payer's open items ({len(pool)}) matching {_money(line.amount)}"
                f"{' within the fee tolerance' if tolerant else ''}: {', '.join(subset)}"
            )
            self._amount_evidence(line, total, evidence)
            # By IBAN or a learnt account; by name only when the name points to one payer and no other is close.
            confidence = (0.9 if tolerant else 0.92) * payer.confidence
            return self._auto(line, self._fill(subset, line.amount), evidence, confidence)
        if len(subsets) > 1:
            listed = "; ".join("+".join(s) for s in subsets[:3])
            evidence.append(f"at least two combinations of the payer's open items fit equally well: {listed}")
            return self._review(line, evidence, list(dict.fromkeys(i for s in subsets[:2] for i in s)), 0.5, suggest=subsets[0])
        if subsets and (truncated or not complete):
            evidence.append("subset search bounded: another combination may fit")
            return self._review(line, evidence, subsets[0], 0.5, suggest=subsets[0])
        if not complete:
            evidence.append("subset search bounded without a result")
            return self._review(line, evidence, pool[:3], 0.3)
        open_total = sum(book.open[i] for i in pool)
        if len(pool) == 1 and payer.by_iban and policy.single_item_partial:
            item_id = pool[0]
            if line.amount < book.open[item_id]:
                evidence.append(
                    f"partial payment: {_money(line.amount)} of the payer's only open item {item_id} "
                    f"({_money(book.open[item_id])}); {_money(book.open[item_id] - line.amount)} stays open"
                )
                return self._auto(line, [Allocation(item_id, line.amount)], evidence, 0.8)
            evidence.append(
                f"over-payment: the payer's only open item {item_id} takes {_money(book.open[item_id])}; "
                f"{_money(line.amount - book.open[item_id])} left unallocated (credit balance of the payer)"
            )
            return self._auto(line, [Allocation(item_id, book.open[item_id])], evidence, 0.8)
        if line.amount > open_total:
            evidence.append(f"the line exceeds all {len(pool)} open items of the payer ({_money(open_total)})")
            return self._review(line, evidence, pool, 0.4)
        evidence.append(f"no combination of the payer's {len(pool)} open items matches {_money(line.amount)}")
        return self._review(line, evidence, pool, 0.3)

    def _amount_evidence(self, line: BankLine, total: int, evidence: list[str]) -> None:
        if line.amount == total:
            evidence.append(f"amount {_money(line.amount)} equals the open amount")
        elif line.amount < total:
            short = total - line.amount
            charges = " (the bank's charges)" if short == line.charges else ""
            evidence.append(
                f"short payment: {_money(short)}{charges} less than open, within the fee tolerance "
                f"{_money(self.policy.fee_tolerance)}: written off by policy"
            )

    def _subsets(self, pool: list[str], low: int, high: int) -> tuple[list[list[str]], bool]:
        """Up to two subsets of ``pool`` (at most ``max_subset_size`` items) whose open amounts sum into
        ``[low, high]``, and whether the search finished within its budget."""
        amounts = sorted(((self.book.open[i], i) for i in pool), key=lambda pair: (-pair[0], pair[1]))
        values = [a for a, _ in amounts]
        suffix = [0] * (len(values) + 1)
        for k in range(len(values) - 1, -1, -1):
            suffix[k] = suffix[k + 1] + values[k]
        found: list[list[str]] = []
        budget = [self.policy.subset_budget]
        limit = self.policy.max_subset_size
        chosen: list[int] = []

        def walk(start: int, total: int) -> bool:
            budget[0] -= 1
            if budget[0] < 0:
                return False
            if low <= total <= high and chosen:
                found.append([amounts[k][1] for k in chosen])
                if len(found) >= 2:
                    return False
            if len(chosen) >= limit:
                return True
            for k in range(start, len(values)):
                if total + suffix[k] < low:
                    break
                if total + values[k] > high:
                    continue
                chosen.append(k)
                going = walk(k + 1, total + values[k])
                chosen.pop()
                if not going:
                    return False
            return True

        finished = walk(0, 0)
        return found, finished or len(found) >= 2

    def reverse(self, line: BankLine) -> Decision:
        """A return or rejection: the item it reverses, by end-to-end id, RF reference, mandate and amount."""
        book = self.book
        evidence = [f"{line.kind}{f' with reason {line.reason_code}' if line.reason_code else ''}"]
        ids: list[str] = []
        if line.end_to_end_id:
            e2e = line.end_to_end_id.strip().upper()
            ids = list(book.by_e2e.get(e2e) or book.by_e2e.get(first_attempt_id(e2e), []))
            if ids:
                evidence.append(f"original end-to-end id {e2e} of item {ids[0]}")
        if not ids:
            found, _, _ = self.references(line)
            ids = found.items
            for item_id in ids:
                evidence.extend(found.strong.get(item_id, []) + found.invoices.get(item_id, []))
        if not ids and line.mandate_reference:
            mandate = line.mandate_reference.strip().upper()
            ids = [i for i in book.by_mandate.get(mandate, []) if book.items[i].amount == line.amount]
            if ids:
                evidence.append(f"mandate {mandate} with an item of the returned amount")
        if not ids:
            return Decision(line, "none", (), (*evidence, "no open item it reverses was found"), 0.0)
        if len(ids) > 1:
            return self._review(line, [*evidence, "several items could be reversed"], ids, 0.5)
        item = book.items[ids[0]]
        amount = min(line.amount, item.amount)
        if amount <= 0:
            return self._review(line, [*evidence, "no amount on the line"], [], 0.5)
        if line.amount > item.amount:
            evidence.append(f"{_money(line.amount - item.amount)} more than the item (return fees?) not allocated")
        return Decision(line, "auto", (Allocation(item.item_id, amount),), tuple(evidence), 0.97)

    # -- results -------------------------------------------------------------------------------------------

    def _fill(self, ids: Sequence[str], amount: int) -> list[Allocation]:
        """``amount`` spread over ``ids`` in order (oldest due first), each at most its open amount."""
        allocations, left = [], amount
        for item_id in ids:
            take = min(left, self.book.open[item_id])
            if take > 0:
                allocations.append(Allocation(item_id, take))
                left -= take
        return allocations

    def _auto(self, line: BankLine, allocations: list[Allocation], evidence: list[str], confidence: float) -> Decision:
        book = self.book
        for allocation in allocations:
            book.open[allocation.item_id] -= allocation.amount
        left = sum(book.open[a.item_id] for a in allocations)
        if 0 < left <= self.policy.fee_tolerance and sum(a.amount for a in allocations) == line.amount:
            for allocation in allocations:  # a short payment: the shortfall is written off, the items are settled
                book.open[allocation.item_id] = 0
        return Decision(line, "auto", tuple(allocations), tuple(evidence), round(confidence, 3))

    def _review(
        self, line: BankLine, evidence: list[str], candidates: Sequence[str], confidence: float, suggest: Sequence[str] | None = None
    ) -> Decision:
        shown = list(dict.fromkeys(candidates))
        if shown:
            evidence = [*evidence, f"candidates: {', '.join(shown[:10])}"]
        chosen = [i for i in (suggest if suggest is not None else shown) if self.book.items[i].currency == line.currency]
        chosen.sort(key=lambda i: (self.book.items[i].due_date is None, self.book.items[i].due_date, i))
        allocations = self._fill(chosen, line.amount)
        return Decision(line, "review", tuple(allocations), tuple(evidence), round(confidence, 3))


class Matcher:
    """The open items indexed once, then :meth:`match` for batches of lines: each batch's ``auto`` allocations
    reduce what is open for the next (the live gateway keeps one per intake run; ``evaluate`` builds it while the
    statements are still being parsed).

    ``known_accounts`` maps an IBAN learnt from confirmed matches (a parent company paying for a subsidiary) to the
    payer it pays for: that payer's IBAN or name as it appears on the open items. ``advices`` are remittance
    advices (:class:`Advice`): one is linked to the line of its total and payer, and its invoice numbers and
    amounts split that line.
    """

    def __init__(
        self,
        items: Iterable[OpenItem],
        *,
        advices: Sequence[Advice] = (),
        known_accounts: Mapping[str, str] | None = None,
        policy: Policy | None = None,
    ):
        with gc_paused():
            self._engine = _Engine(items, advices, known_accounts or {}, policy or Policy())

    def open_amount(self, item_id: str) -> int:
        """What is still open of ``item_id`` after the ``auto`` allocations so far (minor units)."""
        return self._engine.book.open[item_id]

    def advice_for(self, line: BankLine) -> Advice | None:
        """The remittance advice linked to ``line`` (by its total and payer), if any: the live gateway records the link."""
        return self._engine._advice_for(line)

    def match(self, lines: Sequence[BankLine]) -> list[Decision]:
        """One :class:`Decision` per line, in the lines' order. Lines with an exact key (end-to-end id, RF reference,
        invoice number) are decided first, so amount-based matching sees what those settled."""
        engine = self._engine
        with gc_paused():
            try:
                decisions: list[Decision | None] = [engine.decide(line, strong_only=True) for line in lines]
                for index, line in enumerate(lines):
                    if decisions[index] is None:
                        decisions[index] = engine.decide(line, strong_only=False)
            finally:
                engine.forget_lines()
        return [d for d in decisions if d is not None]


def match(
    lines: Sequence[BankLine],
    items: Iterable[OpenItem],
    *,
    advices: Sequence[Advice] = (),
    known_accounts: Mapping[str, str] | None = None,
    policy: Policy | None = None,
) -> list[Decision]:
    """One :class:`Decision` per line, in the lines' order (a :class:`Matcher` used once)."""
    return Matcher(items, advices=advices, known_accounts=known_accounts, policy=policy).match(lines)

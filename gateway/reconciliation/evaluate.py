"""Offline evaluation (``settle reconcile evaluate``): statements and an open-items CSV in, one decision per booked
transaction out, as JSON. Touches no database and no chain; the same engine the gateway uses.

The open-items CSV has a header row with the columns :data:`COLUMNS` (``item_id``, ``amount`` and ``currency``
required, the others may be missing or empty); ``amount`` is a decimal string in the currency's units
(``1234.50``). Anything wrong in it is an :class:`OpenItemsError` naming the file, the line and the column.
"""

from __future__ import annotations

import csv
import difflib
import io
import os
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

from gateway.banking.camt import minor_digits
from gateway.errors import StatementError
from gateway.reconciliation.engine import Advice, Matcher, Policy, gc_paused
from gateway.reconciliation.model import BankLine, Decision, OpenItem
from settle.errors import ValidationError
from settle.money import InvalidAmount, format_minor, parse_minor

__all__ = [
    "COLUMNS",
    "OpenItemsError",
    "decision_json",
    "evaluate",
    "read_known_accounts",
    "read_open_items",
    "read_statements",
    "start_reading",
]

COLUMNS = (
    "item_id",
    "payer_name",
    "payer_iban",
    "amount",
    "currency",
    "due_date",
    "invoice_number",
    "creditor_reference",
    "end_to_end_id",
    "mandate_reference",
)
REQUIRED = ("item_id", "amount", "currency")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_PLAIN_AMOUNT = re.compile(r"^(\d{1,15})\.(\d\d)$")  # the common case, read without Decimal
#: Statement files parsed in worker processes when there are several and together at least this many bytes.
PARALLEL_BYTES = 4_000_000


class OpenItemsError(ValidationError):
    """The open-items CSV cannot be read: the message names the file, the line and the column, and what to fix."""


def read_open_items(data: bytes | str, name: str = "open items") -> list[OpenItem]:
    """The open items of a CSV (UTF-8, with or without BOM; ``,`` or ``;`` separated)."""
    with gc_paused():
        return _read_open_items(data, name)


def _read_open_items(data: bytes | str, name: str) -> list[OpenItem]:
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise OpenItemsError(f"{name}: not UTF-8 text (byte {exc.start}); save the CSV as UTF-8") from None
    else:
        text = data.removeprefix("\ufeff")
    if not text.strip():
        raise OpenItemsError(f"{name}: empty; expected a header row with {', '.join(COLUMNS)}")
    first = text.splitlines()[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [cell.strip().lower() for cell in next(reader)]
    unknown = [column for column in header if column not in COLUMNS]
    if unknown:
        hints = []
        for column in unknown:
            close = difflib.get_close_matches(column, COLUMNS, n=1)
            hints.append(f"{column!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise OpenItemsError(f"{name}: unknown column(s) {', '.join(hints)}; the columns are {', '.join(COLUMNS)}")
    missing = [column for column in REQUIRED if column not in header]
    if missing:
        raise OpenItemsError(f"{name}: the header lacks {', '.join(missing)}; the columns are {', '.join(COLUMNS)}")
    doubled = sorted({column for column in header if header.count(column) > 1})
    if doubled:
        raise OpenItemsError(f"{name}: column(s) {', '.join(doubled)} appear twice in the header")
    items: list[OpenItem] = []
    seen: dict[str, int] = {}
    for row in reader:
        number = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise OpenItemsError(
                f"{name}, line {number}: {len(row)} cells, the header has {len(header)} (a separator inside an unquoted cell?)"
            )
        cells = {column: cell.strip() for column, cell in zip(header, row, strict=True)}
        items.append(_item(cells, f"{name}, line {number}"))
        if items[-1].item_id in seen:
            raise OpenItemsError(f"{name}, line {number}: item_id {items[-1].item_id!r} already on line {seen[items[-1].item_id]}")
        seen[items[-1].item_id] = number
    return items


def _item(cells: Mapping[str, str], where: str) -> OpenItem:
    item_id = cells["item_id"]
    if not item_id:
        raise OpenItemsError(f"{where}: item_id is empty")
    currency = cells["currency"].upper()
    if not _CURRENCY.match(currency):
        raise OpenItemsError(f"{where}: currency {cells['currency']!r} is not a three-letter ISO 4217 code (e.g. EUR)")
    if not cells["amount"]:
        raise OpenItemsError(f"{where}: amount is empty")
    digits = minor_digits(currency)
    plain = _PLAIN_AMOUNT.match(cells["amount"]) if digits == 2 else None
    try:
        amount = int(plain[1]) * 100 + int(plain[2]) if plain else parse_minor(cells["amount"], digits, field="amount")
    except InvalidAmount as exc:
        raise OpenItemsError(f"{where}: amount {exc.problem} (write it like 1234.50)") from None
    if amount == 0:
        raise OpenItemsError(f"{where}: amount is 0; an open item has something open")
    due: date | None = None
    if cells.get("due_date"):
        try:
            due = date.fromisoformat(cells["due_date"])
        except ValueError:
            raise OpenItemsError(f"{where}: due_date {cells['due_date']!r} is not a date (YYYY-MM-DD)") from None

    def optional(column: str) -> str | None:
        return cells.get(column) or None

    iban = optional("payer_iban")
    return OpenItem(
        item_id=item_id,
        payer_name=optional("payer_name"),
        payer_iban="".join(iban.split()).upper() if iban else None,
        amount=amount,
        currency=currency,
        due_date=due,
        invoice_number=optional("invoice_number"),
        creditor_reference=optional("creditor_reference"),
        end_to_end_id=optional("end_to_end_id"),
        mandate_reference=optional("mandate_reference"),
    )


def read_known_accounts(data: bytes | str, name: str = "known accounts") -> dict[str, str]:
    """Learnt alternative accounts from a CSV with the columns ``iban,payer`` (``payer``: the IBAN or the name the
    open items give for the payer that account pays for)."""
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames is None or {"iban", "payer"} - {f.strip().lower() for f in reader.fieldnames}:
        raise OpenItemsError(f"{name}: expected the columns iban,payer")
    known: dict[str, str] = {}
    for row in reader:
        cells = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
        if not cells["iban"] or not cells["payer"]:
            raise OpenItemsError(f"{name}, line {reader.line_num}: iban and payer must both be given")
        known["".join(cells["iban"].split()).upper()] = cells["payer"]
    return known


def _read_one(path: str) -> list[BankLine]:
    from gateway.reconciliation.statements import read_statement

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise StatementError(f"{path}: cannot be read ({exc.strerror})") from None
    with gc_paused():
        return read_statement(data, Path(path).name)


def read_statements(paths: Sequence[str | Path]) -> list[BankLine]:
    """Every booked transaction of the files, in file order; a transaction seen before (same account and bank
    reference: the camt.054 and later the camt.053 of one booking) is kept once. Several large files are read in
    parallel worker processes."""
    return start_reading(paths)()


def start_reading(paths: Sequence[str | Path]) -> Callable[[], list[BankLine]]:
    """Start reading the statement files (in worker processes when there are several large ones) and return the
    function that waits for the lines (:func:`read_statements`): the caller can do other work meanwhile."""
    names = [str(p) for p in paths]
    total = sum(os.path.getsize(p) for p in names if os.path.isfile(p))
    workers = min(len(names), os.cpu_count() or 1)
    if workers < 2 or total < PARALLEL_BYTES:
        return lambda: _unique([_read_one(name) for name in names])
    pool = ProcessPoolExecutor(max_workers=workers)
    futures = [pool.submit(_read_one, name) for name in names]

    def wait() -> list[BankLine]:
        # The caller's process helps instead of idling: it takes files from the end of the queue that no worker
        # has started (a pending future can be cancelled), while the workers go on from the front.
        results: list[list[BankLine] | None] = [None] * len(futures)
        try:
            for k in reversed(range(len(futures))):
                if futures[k].cancel():
                    results[k] = _read_one(names[k])
            return _unique([result if result is not None else futures[k].result() for k, result in enumerate(results)])
        finally:
            pool.shutdown(cancel_futures=True)

    return wait


def _unique(per_file: Sequence[Sequence[BankLine]]) -> list[BankLine]:
    seen: set[tuple[str, str]] = set()
    lines: list[BankLine] = []
    for file_lines in per_file:
        for line in file_lines:
            key = (line.account_iban or "", line.bank_reference)
            if key not in seen:
                seen.add(key)
                lines.append(line)
    return lines


def read_advices(folder: Path) -> list[Advice]:
    """The remittance advices (PDF) of ``folder``, read by :func:`gateway.reconciliation.remittance.read_advice`."""
    from gateway.reconciliation import remittance

    if not folder.is_dir():
        raise ValidationError(f"--remittance: {folder} is not a folder")
    return [remittance.read_advice(path.read_bytes(), path.name) for path in sorted(folder.iterdir()) if path.suffix.lower() == ".pdf"]


def _money(amount: int, currency: str) -> str:
    return format_minor(amount, minor_digits(currency))


def decision_json(decision: Decision) -> dict[str, Any]:
    """One line of the ``evaluate`` output."""
    line = decision.line
    return {
        "bank_reference": line.bank_reference,
        "amount": _money(line.amount, line.currency),
        "direction": line.direction,
        "kind": line.kind,
        "reason_code": line.reason_code,
        "decision": decision.decision,
        "allocations": [{"item_id": a.item_id, "amount": _money(a.amount, line.currency)} for a in decision.allocations],
        "evidence": list(decision.evidence),
        "confidence": decision.confidence,
    }


def evaluate(
    lines: Sequence[BankLine],
    items: Sequence[OpenItem] | Matcher,
    *,
    advices: Sequence[Advice] = (),
    known_accounts: Mapping[str, str] | None = None,
    policy: Policy | None = None,
) -> dict[str, Any]:
    """``{"lines": [...]}``: one entry per line, in the statements' order. ``items`` may be a :class:`Matcher`
    built already (then ``advices``, ``known_accounts`` and ``policy`` are its own)."""
    matcher = items if isinstance(items, Matcher) else Matcher(items, advices=advices, known_accounts=known_accounts, policy=policy)
    decisions = matcher.match(lines)
    with gc_paused():
        return {"lines": [decision_json(d) for d in decisions]}

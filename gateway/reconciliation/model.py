"""The reconciliation model shared by the statement readers, the remittance-advice reader and the matching engine.

Frozen dataclasses only, no behaviour beyond small derived properties. Money is ``int`` minor units of the line's or
item's currency (``Decimal`` only at the input and output edges); dates are :class:`datetime.date`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

Direction = Literal["credit", "debit"]
#: ``payment`` an ordinary transfer or direct debit; ``return`` a returned transfer/debit (R-transaction, with
#: ``reason_code``); ``rejection`` a payment the bank refused before booking (pain.002 RJCT, with ``reason_code``);
#: ``fee`` bank charges; ``other`` anything else (interest, cash, internal transfers …).
LineKind = Literal["payment", "return", "rejection", "fee", "other"]
DecisionKind = Literal["auto", "review", "none"]

DIRECTIONS: tuple[Direction, ...] = ("credit", "debit")
LINE_KINDS: tuple[LineKind, ...] = ("payment", "return", "rejection", "fee", "other")
DECISION_KINDS: tuple[DecisionKind, ...] = ("auto", "review", "none")


@dataclass(frozen=True)
class RemittanceRef:
    """One structured reference: camt ``RmtInf/Strd/CdtrRefInf/Ref`` or ``RfrdDocInf/Nb`` (with ``RfrdDocAmt``),
    or one item of a remittance advice.

    ``kind`` is ``"invoice"`` (a referred document number), ``"creditor_reference"`` (an RF/SCOR reference) or
    ``"credit_note"``; ``amount`` is the amount paid for that document in minor units, when given.
    """

    reference: str
    amount: int | None = None
    kind: str = "invoice"


@dataclass(frozen=True)
class BankLine:
    """One transaction on a bank account, read from a statement (camt.052/053/054, MT940) or a status report (pain.002).

    ``bank_reference`` is unique among the lines of one :func:`~gateway.reconciliation.statements.read_statement`
    call (a reference the bank repeats gets a ``/suffix``). ``amount`` is never negative: ``direction`` says which
    way the money went. A collective booking gives one line per transaction.
    """

    bank_reference: str
    account_iban: str | None
    amount: int
    currency: str
    direction: Direction
    booking_date: date | None = None
    value_date: date | None = None
    kind: LineKind = "payment"
    reason_code: str | None = None
    end_to_end_id: str | None = None
    mandate_reference: str | None = None
    creditor_reference: str | None = None
    remittance_text: str | None = None
    structured: tuple[RemittanceRef, ...] = ()
    counterparty_name: str | None = None
    counterparty_iban: str | None = None
    bank_tx_code: str | None = None
    charges: int = 0
    source: str = ""
    entry_reference: str | None = None

    @property
    def signed_amount(self) -> int:
        """The amount with its sign: positive for a credit, negative for a debit."""
        return self.amount if self.direction == "credit" else -self.amount


@dataclass(frozen=True)
class OpenItem:
    """A receivable (or payable) still open: what a bank line may settle, in whole or in part."""

    item_id: str
    payer_name: str | None
    payer_iban: str | None
    amount: int
    currency: str
    due_date: date | None = None
    invoice_number: str | None = None
    creditor_reference: str | None = None
    end_to_end_id: str | None = None
    mandate_reference: str | None = None


@dataclass(frozen=True)
class Allocation:
    """Part of a bank line's amount applied to one open item (minor units, > 0)."""

    item_id: str
    amount: int


@dataclass(frozen=True)
class Decision:
    """The matching engine's verdict for one bank line.

    ``auto``: book ``allocations`` without a human; ``review``: ``allocations`` are the proposed candidates, a human
    decides; ``none``: nothing fits. ``evidence`` says why in short human-readable facts; ``confidence`` is in [0, 1].
    """

    line: BankLine
    decision: DecisionKind
    allocations: tuple[Allocation, ...] = ()
    evidence: tuple[str, ...] = ()
    confidence: float = 0.0

    @property
    def allocated(self) -> int:
        """Sum of the allocations in minor units."""
        return sum(allocation.amount for allocation in self.allocations)

"""What happens to a payment after the bank returned it (camt ``RtrInf``) or rejected it before settlement (pain.002):
one policy per ISO 20022 reason code (:data:`POLICY`), applied by :func:`after_return`.

- ``AM04`` (insufficient funds), ``MS03`` (reason not specified): presented again once, after
  ``reconcile_represent_days``, as a new payment with its own end-to-end id (``…R1``) for what is open; a second
  return of that re-presentation is not presented again.
- ``AC04``/``AC06`` (account closed / blocked): the mandate becomes unusable and the debtor's account inactive;
  ``MD01``/``MD07``/``SL01`` (no mandate, debtor deceased, blocked by the debtor's bank): the mandate becomes
  unusable. Never presented again; the payee has to agree another way to pay (a warning is logged).
- ``MD06`` (refund claim of a CORE debit): re-opened and flagged (``refund_claim``) for the payee, not collected
  again by itself.
- Any other code: re-opened (``returned``, or ``rejected`` for a rejection), nothing else.

The caller books the money first (``paid_amount`` / ``returned_amount`` of the instruction, the ``reportReturn``
outbox item); this module only decides what the gateway does next. The table is the one source for the docs
(:func:`policy_table`, checked against docs/reconciliation.md by a test).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, timedelta
from enum import StrEnum
from types import MappingProxyType

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.banking.references import end_to_end_id
from gateway.models import (
    BankAccount,
    InstructionState,
    Mandate,
    MandateStatus,
    PaymentInstruction,
    PaymentMethod,
    PaymentMethodKind,
)
from gateway.parties.masterdata import mask_iban
from settle.errors import ValidationError
from settle.money import format_minor

log = logging.getLogger(__name__)


class ReturnAction(StrEnum):
    """What the gateway does after a return or rejection with a given reason code."""

    REPRESENT = "represent"  # present again once after the delay, for what is open
    ACCOUNT_UNUSABLE = "account_unusable"  # mandate unusable and the debtor's account inactive
    MANDATE_UNUSABLE = "mandate_unusable"  # mandate unusable
    REFUND_CLAIM = "refund_claim"  # re-opened and flagged for the payee
    REOPEN = "reopen"  # re-opened, nothing else


#: The action per ISO 20022 return/reject reason code; codes not listed get :data:`DEFAULT_ACTION`.
POLICY: Mapping[str, ReturnAction] = MappingProxyType(
    {
        "AM04": ReturnAction.REPRESENT,
        "MS03": ReturnAction.REPRESENT,
        "AC04": ReturnAction.ACCOUNT_UNUSABLE,
        "AC06": ReturnAction.ACCOUNT_UNUSABLE,
        "MD01": ReturnAction.MANDATE_UNUSABLE,
        "MD07": ReturnAction.MANDATE_UNUSABLE,
        "SL01": ReturnAction.MANDATE_UNUSABLE,
        "MD06": ReturnAction.REFUND_CLAIM,
    }
)
DEFAULT_ACTION = ReturnAction.REOPEN

#: What the codes of :data:`POLICY` mean (ISO 20022 external code set, shortened).
MEANINGS: Mapping[str, str] = MappingProxyType(
    {
        "AM04": "insufficient funds",
        "MS03": "reason not specified",
        "AC04": "account closed",
        "AC06": "account blocked",
        "MD01": "no mandate",
        "MD07": "debtor deceased",
        "SL01": "specific service of the debtor's bank (e.g. creditor blocked)",
        "MD06": "refund requested by the debtor (CORE)",
    }
)

#: What each action does, in words (the docs' table is made from this).
ACTION_TEXT: Mapping[ReturnAction, str] = MappingProxyType(
    {
        ReturnAction.REPRESENT: (
            "presented again once: a new payment (end-to-end id `…R1`) for the open amount, collected or executed "
            "no earlier than `reconcile_represent_days` (default 5) days later; a return of that re-presentation is not "
            "presented again"
        ),
        ReturnAction.ACCOUNT_UNUSABLE: (
            "the agreement's mandate becomes `unusable` (reason: code and bank reference) and the debtor's account "
            "inactive (for a transfer: the payer's account); never presented again; a warning is logged"
        ),
        ReturnAction.MANDATE_UNUSABLE: (
            "the agreement's mandate becomes `unusable` (reason: code and bank reference); never presented again; a warning is logged"
        ),
        ReturnAction.REFUND_CLAIM: "re-opened and flagged for the payee (`refund_claim`); never presented again by itself",
        ReturnAction.REOPEN: "re-opened, nothing else",
    }
)

#: How many times a returned payment is presented again at most.
MAX_REPRESENTATIONS = 1

_UNUSABLE = (ReturnAction.ACCOUNT_UNUSABLE, ReturnAction.MANDATE_UNUSABLE)


def action_for(code: str) -> ReturnAction:
    """The action for reason ``code`` (case and surrounding spaces ignored)."""
    return POLICY.get(code.strip().upper(), DEFAULT_ACTION)


def policy_table() -> str:
    """The policy as a Markdown table (docs/reconciliation.md holds exactly this)."""
    rows = ["| reason codes | what the gateway does |", "|---|---|"]
    for action in ReturnAction:
        codes = [f"`{code}` {MEANINGS[code]}" for code, listed in POLICY.items() if listed is action]
        if action is DEFAULT_ACTION:
            codes.append("any other code")
        rows.append(f"| {', '.join(codes)} | {ACTION_TEXT[action]} |")
    return "\n".join(rows) + "\n"


def after_return(
    session: Session,
    instruction: PaymentInstruction,
    *,
    code: str,
    bank_reference: str,
    today: date,
    represent_days: int,
    rejected: bool,
) -> str:
    """Apply the policy of reason ``code`` to ``instruction`` after its return (``rejected``: refused before
    settlement, pain.002) reported by the bank line ``bank_reference``; returns one line for people.

    The instruction ends ``returned`` (``rejected``), or ``pending`` again when it is presented again (attempt + 1, a
    new end-to-end id, not before ``today + represent_days``, out of its old file). The caller has booked the money.
    """
    code = code.strip().upper()
    if not code:
        raise ValidationError("reason code: empty; a return needs its ISO reason code")
    if not isinstance(represent_days, int) or isinstance(represent_days, bool) or represent_days < 0:
        raise ValidationError(f"represent_days: {represent_days!r} must be a whole number of days, 0 or more")
    action = action_for(code)
    meaning = MEANINGS.get(code)
    what = "rejection" if rejected else "return"
    label = f"{code} ({meaning})" if meaning else code
    head = f"{label} on period {instruction.period} of {_short(instruction.agreement)} ({instruction.end_to_end_id})"
    instruction.return_reason = code[:4]
    ended = InstructionState.REJECTED if rejected else InstructionState.RETURNED
    instruction.state = ended

    if action is ReturnAction.REPRESENT:
        why_not = _why_not_present_again(instruction)
        if why_not is None:
            return _present_again(instruction, head, today=today, days=represent_days)
        return f"{head}: {ended.value}; not presented again ({why_not})"

    if action is ReturnAction.REFUND_CLAIM:
        instruction.refund_claim = True
        return f"{head}: {ended.value} and flagged as a refund claim for the payee; not collected again by itself"

    if action in _UNUSABLE:
        reason = f"{code} {what} {bank_reference}"[:200]
        method = session.scalar(
            select(PaymentMethod).where(PaymentMethod.chain_id == instruction.chain_id, PaymentMethod.agreement == instruction.agreement)
        )
        done = [_mandate_unusable(method.mandate if method is not None else None, reason)]
        if action is ReturnAction.ACCOUNT_UNUSABLE:
            done.append(_account_inactive(_debtor_account(instruction, method)))
        text = f"{head}: {ended.value}, never presented again; " + "; ".join(d for d in done if d)
        log.warning("%s; the payee has to agree another way to pay", text)
        return text

    return f"{head}: {ended.value}"


def _why_not_present_again(instruction: PaymentInstruction) -> str | None:
    if instruction.method not in (PaymentMethodKind.SEPA_DIRECT_DEBIT, PaymentMethodKind.SEPA_CREDIT_TRANSFER):
        return f"the payer pays by {instruction.method.value}; the gateway builds no payment for it"
    if instruction.attempt >= MAX_REPRESENTATIONS:
        return f"it was presented again {instruction.attempt} time(s) already"
    if instruction.open_amount <= 0:
        return "nothing is open"
    return None


def _present_again(instruction: PaymentInstruction, head: str, *, today: date, days: int) -> str:
    instruction.attempt += 1
    instruction.end_to_end_id = end_to_end_id(instruction.chain_id, instruction.agreement, instruction.period, attempt=instruction.attempt)
    instruction.state = InstructionState.PENDING
    instruction.not_before = today + timedelta(days=days)
    instruction.payment_file_id = None
    instruction.payment_info_id = None
    instruction.collection_date = None
    instruction.sequence_type = None
    amount = format_minor(instruction.open_amount, instruction.currency_digits, instruction.currency)
    return f"{head}: presented again from {instruction.not_before} as {instruction.end_to_end_id} ({amount})"


def _mandate_unusable(mandate: Mandate | None, reason: str) -> str:
    if mandate is None:
        return ""
    if mandate.status is MandateStatus.ACTIVE:
        mandate.status = MandateStatus.UNUSABLE
        mandate.status_reason = reason
        return f"mandate {mandate.reference!r} is now unusable"
    # Already out of use (revoked, expired, or unusable by an earlier return): the first reason stays.
    return f"mandate {mandate.reference!r} was {mandate.status.value} already"


def _debtor_account(instruction: PaymentInstruction, method: PaymentMethod | None) -> BankAccount | None:
    if method is None:
        return None
    if instruction.method is PaymentMethodKind.SEPA_DIRECT_DEBIT and method.mandate is not None:
        return method.mandate.debtor_account
    return method.payer_account


def _account_inactive(account: BankAccount | None) -> str:
    if account is None:
        return ""
    if not account.active:
        return f"account {mask_iban(account.iban)} was inactive already"
    account.active = False
    return f"account {mask_iban(account.iban)} is now inactive"


def _short(agreement: str) -> str:
    return f"{agreement[:10]}…" if len(agreement) > 10 else agreement

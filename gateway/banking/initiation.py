"""Payment initiation: from the read model's settlements to payment instructions, files and the bank.

* :func:`record_settlements` turns every due fiat settlement without an instruction into one
  (:func:`gateway.banking.payments.record_settlement`: one per settlement, end-to-end id and RF reference derived from
  agreement and period). Settlements whose master data is missing (no payment method) wait and are reported;
  ERC-20 settlements need no instruction (the agreement pulls the token; the listener marks them paid).
* :func:`gateway.banking.payments.prepare_payment_files` then groups pending instructions into validated pain.008 /
  pain.001 files, and :func:`gateway.banking.payments.upload_payment_files` hands them to the bank.

Several workers may run this: on PostgreSQL the settlement rows are claimed with ``FOR UPDATE SKIP LOCKED``; on
SQLite every transaction holds the single write lock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import and_, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.banking import payments
from gateway.chain.readmodel import ZERO_ADDRESS
from gateway.errors import ConflictError, NotFoundError
from gateway.faults import crashpoint
from gateway.models import Agreement, PaymentInstruction, Settlement
from settle.errors import ValidationError

log = logging.getLogger(__name__)


@dataclass
class Recorded:
    instructions: list[str] = field(default_factory=list)  # end-to-end ids
    waiting: dict[str, str] = field(default_factory=dict)  # "agreement/period" → why it waits


def record_settlements(session: Session, chain_id: int, *, limit: int = 500) -> Recorded:
    """Record payment instructions for due fiat settlements that have none (in the caller's transaction)."""
    result = Recorded()
    has_instruction = exists().where(
        and_(
            PaymentInstruction.chain_id == chain_id,
            PaymentInstruction.agreement == Agreement.address,
            PaymentInstruction.period == Settlement.period,
        )
    )
    query = (
        select(Settlement, Agreement)
        .join(Agreement, Agreement.id == Settlement.agreement_id)
        .where(Agreement.chain_id == chain_id, Agreement.token == ZERO_ADDRESS, Settlement.status == "due", ~has_instruction)
        .order_by(Settlement.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=Settlement, skip_locked=True)
    for settlement, agreement in session.execute(query).all():
        label = f"{agreement.address}/{settlement.period}"
        try:
            with session.begin_nested():
                instruction = payments.record_settlement(
                    session,
                    chain_id=chain_id,
                    agreement=agreement.address,
                    period=settlement.period,
                    amount=settlement.amount,
                    due_date=_due_date(settlement),
                    currency=agreement.currency,
                    currency_digits=agreement.minor_digits,
                    settlement_tx=settlement.settled_tx,
                    settlement_block=settlement.settled_block,
                )
        except (NotFoundError, ConflictError, ValidationError) as exc:
            result.waiting[label] = str(exc)
            continue
        except IntegrityError:
            continue  # another worker recorded it a moment ago
        if instruction is not None:
            result.instructions.append(instruction.end_to_end_id)
    if result.instructions:
        crashpoint("payments.recorded")
    return result


def _due_date(settlement: Settlement) -> date:
    return settlement.due_at.date()

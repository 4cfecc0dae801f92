"""On-chain work of the gateway, each item exactly once: the keeper's ``settle(period)``, retried ERC-20 pulls
(``collect(period)``), the statement intake's ``confirmPayment`` / ``reportReturn``, and the dunning's
``setServiceStatus``.

Every item is an outbox row (:mod:`gateway.outbox`) claimed under a lease. Carrying it out:

1. If a transaction was already signed for the item (``gw_chain_tx``), follow it: its receipt decides; if the
   node has never seen it and its nonce is still free, the *same bytes* are broadcast again; only if another
   transaction took the nonce is it written off and the item reconsidered.
2. Otherwise ask the chain whether the work is already done: the period is settled, the pull is no longer open,
   or a ``PaymentConfirmed`` / ``PaymentReturned`` / ``InvoiceIssued`` event of the agreement and period carries the item's
   ``bankRefHash`` or document hash. If so the item is complete without a transaction.
3. Otherwise estimate the call (a revert is decoded and classified: done, try later, or give up), allocate the
   signer's next nonce under a row lock (``gw_signer_nonce``: several workers share one key safely), sign, and
   commit the signed bytes *before* broadcasting them.
4. Broadcast, wait for the receipt and the network's confirmation depth, complete the item.

A crash anywhere therefore leads, on restart, to step 1 with the same transaction, or to step 2 finding the work
done: no period is settled twice, no payment is confirmed twice, and none is left out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from web3.contract.contract import ContractFunction

from gateway import outbox
from gateway.database import unit_of_work
from gateway.errors import OutboxError
from gateway.faults import crashpoint
from gateway.invoicing.issuance import ANCHOR_KIND
from gateway.models import Agreement, ChainTransaction, OutboxItem, OutboxState, Settlement, SignerNonce
from gateway.receivables.dunning import SERVICE_KIND
from gateway.reconciliation.booking import CONFIRM_KIND, RETURN_KIND
from gateway.workers import Pass, Worker
from settle.chain import Chain
from settle.chaintypes import OPEN_FOR_PULL, SettlementView
from settle.errors import ChainError, ContractRevert

if TYPE_CHECKING:
    from gateway.service import Gateway

log = logging.getLogger(__name__)

SETTLE_KIND = "keeper_settle"
COLLECT_KIND = "token_collect"
KINDS = (SETTLE_KIND, COLLECT_KIND, CONFIRM_KIND, RETURN_KIND, ANCHOR_KIND, SERVICE_KIND)

#: Settlement status numbers (BillingTypes.PaymentStatus) in which a token pull is still open.
_PAYMENT_CONFIRMED = "0x" + keccak(text="PaymentConfirmed(uint32,uint96,bytes32)").hex()
_PAYMENT_RETURNED = "0x" + keccak(text="PaymentReturned(uint32,uint96,bytes4,bytes32,uint8)").hex()
_INVOICE_ISSUED = "0x" + keccak(text="InvoiceIssued(uint32,bytes32,bytes32)").hex()
#: Per kind that leaves an event: (its topic, the payload field it carries, at which byte of the event's data).
#: bankRefHash is the 2nd data word of PaymentConfirmed (amount, bankRefHash), the 3rd of PaymentReturned; the
#: document hash the 2nd of InvoiceIssued (numberHash, documentHash).
_EVIDENCE = {
    CONFIRM_KIND: (_PAYMENT_CONFIRMED, "bank_ref_hash", 32),
    RETURN_KIND: (_PAYMENT_RETURNED, "bank_ref_hash", 64),
    ANCHOR_KIND: (_INVOICE_ISSUED, "document_hash", 32),
}

DONE, RETRY, GIVE_UP = "done", "retry", "give_up"


@dataclass
class Outcome:
    """What happened to one item in a round."""

    item_id: int
    kind: str
    result: str  # done | retry | give_up | busy
    detail: str
    tx_hash: str | None = None


@dataclass(frozen=True)
class Action:
    """How to carry out one kind of item."""

    kind: str
    describe: Callable[[dict[str, Any]], str]
    build: Callable[[Any, dict[str, Any]], ContractFunction]
    #: Reverts (by custom error name) and what they mean for the item.
    reverts: dict[str, str]


def _period_label(payload: dict[str, Any]) -> str:
    return f"period {payload['period']} of {payload['agreement']}"


ACTIONS: dict[str, Action] = {
    SETTLE_KIND: Action(
        SETTLE_KIND,
        lambda p: f"settle {_period_label(p)}",
        lambda c, p: c.functions.settle(int(p["period"])),
        {
            "BillingAgreement_PeriodSettled": DONE,
            "BillingAgreement_PeriodAfterEnd": DONE,
            "BillingAgreement_PeriodNotEnded": RETRY,
            "BillingAgreement_SettleOutOfOrder": RETRY,
            "BillingAgreement_InvalidState": RETRY,
            "BillingAgreement_Reentrancy": RETRY,
        },
    ),
    COLLECT_KIND: Action(
        COLLECT_KIND,
        lambda p: f"collect {_period_label(p)}",
        lambda c, p: c.functions.collect(int(p["period"])),
        {"BillingAgreement_InvalidPaymentStatus": DONE, "BillingAgreement_NotSettled": GIVE_UP, "BillingAgreement_Reentrancy": RETRY},
    ),
    CONFIRM_KIND: Action(
        CONFIRM_KIND,
        lambda p: f"confirmPayment {p['amount']} for {_period_label(p)}",
        lambda c, p: c.functions.confirmPayment(int(p["period"]), int(p["amount"]), bytes.fromhex(str(p["bank_ref_hash"])[2:])),
        {
            "BillingAgreement_NotSettled": RETRY,
            "BillingAgreement_NotGateway": RETRY,
            "BillingAgreement_Reentrancy": RETRY,
            "BillingAgreement_Overpayment": GIVE_UP,
            "BillingAgreement_InvalidPaymentStatus": GIVE_UP,
            "BillingAgreement_NotFiat": GIVE_UP,
        },
    ),
    RETURN_KIND: Action(
        RETURN_KIND,
        lambda p: f"reportReturn {p['amount']} ({p.get('reason_code')}) for {_period_label(p)}",
        lambda c, p: c.functions.reportReturn(
            int(p["period"]),
            int(p["amount"]),
            bytes.fromhex(str(p["reason_code_bytes4"])[2:]),
            bytes.fromhex(str(p["bank_ref_hash"])[2:]),
        ),
        {
            "BillingAgreement_ReturnExceedsPaid": RETRY,  # the confirmation it returns may still be on its way
            "BillingAgreement_NotSettled": RETRY,
            "BillingAgreement_NotGateway": RETRY,
            "BillingAgreement_Reentrancy": RETRY,
            "BillingAgreement_InvalidPaymentStatus": GIVE_UP,
            "BillingAgreement_NotFiat": GIVE_UP,
        },
    ),
    ANCHOR_KIND: Action(
        ANCHOR_KIND,
        lambda p: f"anchorInvoice {p.get('number', '')} for {_period_label(p)}",
        lambda c, p: c.functions.anchorInvoice(
            int(p["period"]), bytes.fromhex(str(p["number_hash"])[2:]), bytes.fromhex(str(p["document_hash"])[2:])
        ),
        {"BillingAgreement_NotGateway": RETRY, "BillingAgreement_Reentrancy": RETRY},
    ),
    SERVICE_KIND: Action(
        SERVICE_KIND,
        lambda p: f"setServiceStatus {p['status_name']} of {p['agreement']} ({p['reason']})",
        lambda c, p: c.functions.setServiceStatus(int(p["status"]), bytes.fromhex(str(p["reason_hash"])[2:])),
        {
            "BillingAgreement_ServiceStatusUnchanged": DONE,
            "BillingAgreement_NotGateway": RETRY,
            "BillingAgreement_Reentrancy": RETRY,
        },
    ),
}


class ChainTxWorker:
    """Claims and carries out on-chain outbox items (see the module docstring)."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        chain: Chain,
        signer: LocalAccount,
        *,
        worker: str,
        confirmations: int = 0,
        lease_seconds: float = 60.0,
        receipt_timeout: float = 60.0,
        retry_seconds: float = 5.0,
    ):
        self.db = factory
        self.chain = chain
        self.rpc = chain.rpc()
        self.signer = signer
        self.sender = signer.address
        self.worker = worker
        self.confirmations = confirmations
        self.lease = timedelta(seconds=lease_seconds)
        self.receipt_timeout = receipt_timeout
        self.retry_seconds = retry_seconds
        chain.check_signer(signer)

    # -- the round ----------------------------------------------------------------------------------------------------

    def run_once(self, limit: int = 5) -> list[Outcome]:
        """Claim up to ``limit`` due items (oldest first) and carry each out."""
        with unit_of_work(self.db, self.worker) as session:
            claimed = [(i.id, i.kind, dict(i.payload)) for i in outbox.claim(session, KINDS, self.worker, limit, lease=self.lease)]
        outcomes = []
        for item_id, kind, payload in claimed:
            try:
                self._renew(item_id)  # the items of a batch are worked one after the other: keep the later ones held
                outcome = self._carry_out(item_id, kind, payload)
            except OutboxError as exc:  # our lease ran out and another worker took the item over
                log.warning("%s", exc)
                continue
            except (ChainError, OSError) as exc:
                outcome = Outcome(item_id, kind, RETRY, f"{type(exc).__name__}: {exc}")
                self._finish(item_id, outcome)
            outcomes.append(outcome)
        return outcomes

    def recover(self) -> int:
        """Broadcast again every stored transaction that is neither mined nor replaced (after a crash): the same
        bytes, so nothing new happens, but a nonce gap left by a crash between signing and sending is closed at
        once instead of when the crashed worker's lease runs out. Returns how many were sent again."""
        with self.db() as session:
            rows = list(
                session.scalars(
                    select(ChainTransaction).where(
                        ChainTransaction.chain_id == self.chain.chain_id,
                        ChainTransaction.sender == self.sender.lower(),
                        ChainTransaction.state.in_(("signed", "sent")),
                    )
                )
            )
        latest = self._nonce("latest")
        count = 0
        for row in sorted(rows, key=lambda r: r.nonce):
            if row.nonce >= latest and self._receipt(row.tx_hash) is None:
                self._broadcast(row.raw)
                count += 1
        return count

    # -- one item -----------------------------------------------------------------------------------------------------

    def _carry_out(self, item_id: int, kind: str, payload: dict[str, Any]) -> Outcome:
        action = ACTIONS[kind]
        what = action.describe(payload)
        contract = self.chain.contract("IBillingAgreement", str(payload["agreement"]))
        with self.db() as session:
            row = session.scalar(select(ChainTransaction).where(ChainTransaction.outbox_item_id == item_id))
        if row is not None and row.state in ("signed", "sent", "mined"):
            followed = self._follow(row, action, payload, item_id, what)
            if followed is not None:
                return self._finish(item_id, followed)
        done = self._already_done(kind, payload, contract)
        if done:
            return self._finish(item_id, Outcome(item_id, kind, DONE, f"{what}: already done on-chain ({done})"))
        fn = action.build(contract, payload)
        tx = {"to": fn.address, "data": fn._encode_transaction_data()}
        try:
            gas = self.chain.estimate(tx, self.sender)
        except ContractRevert as exc:
            verdict = action.reverts.get(exc.error_name or "", GIVE_UP)
            return self._finish(item_id, Outcome(item_id, kind, verdict, f"{what}: {exc}"))
        tx_hash = self._sign_and_store(item_id, kind, tx, gas)
        crashpoint("chaintx.signed")
        with self.db() as session:
            raw = session.scalar(select(ChainTransaction.raw).where(ChainTransaction.outbox_item_id == item_id))
        self._broadcast(str(raw))
        crashpoint("chaintx.broadcast")
        with unit_of_work(self.db, self.worker) as session:
            stored = session.scalar(select(ChainTransaction).where(ChainTransaction.outbox_item_id == item_id))
            if stored is not None and stored.state == "signed":
                stored.state = "sent"
        log.info("%s: sent tx %s", what, tx_hash)
        with self.db() as session:
            row = session.scalar(select(ChainTransaction).where(ChainTransaction.outbox_item_id == item_id))
        assert row is not None
        followed = self._follow(row, action, payload, item_id, what, wait=True)
        return self._finish(item_id, followed or Outcome(item_id, kind, RETRY, f"{what}: tx {tx_hash} not mined yet", tx_hash))

    def _follow(
        self, row: ChainTransaction, action: Action, payload: dict[str, Any], item_id: int, what: str, *, wait: bool = False
    ) -> Outcome | None:
        """The outcome of the item's stored transaction, or ``None`` if it was replaced and the item must be
        reconsidered from the chain's state."""
        receipt = self._wait_receipt(row.tx_hash) if wait else self._receipt(row.tx_hash)
        if receipt is None:
            if self._nonce("latest") > row.nonce:
                # The nonce was used by another transaction and ours is unknown: it can never be mined.
                self._set_state(row.id, "dropped", error="nonce taken by another transaction")
                log.warning("%s: tx %s was replaced (nonce %d taken); reconsidering", what, row.tx_hash, row.nonce)
                return None
            self._broadcast(row.raw)
            receipt = self._wait_receipt(row.tx_hash)
            if receipt is None:
                return Outcome(item_id, action.kind, RETRY, f"{what}: tx {row.tx_hash} sent, not mined yet", row.tx_hash)
        block = int(receipt["blockNumber"], 16)
        if self.confirmations and self.rpc.head() - block + 1 < self.confirmations:
            self._set_state(row.id, "mined", block=block)
            return Outcome(
                item_id, action.kind, RETRY, f"{what}: tx {row.tx_hash} waits for {self.confirmations} confirmations", row.tx_hash
            )
        if int(receipt["status"], 16) == 1:
            self._set_state(row.id, "mined", block=block)
            crashpoint("chaintx.mined")
            return Outcome(item_id, action.kind, DONE, f"{what}: tx {row.tx_hash} in block {block}", row.tx_hash)
        revert = self._revert_of(row, action.build(self.chain.contract("IBillingAgreement", str(payload["agreement"])), payload), block)
        self._set_state(row.id, "reverted", block=block, error=str(revert))
        verdict = action.reverts.get(revert.error_name or "", GIVE_UP)
        if verdict == RETRY:
            return None  # reconsider (a new transaction after the chain's state allows it)
        return Outcome(item_id, action.kind, verdict, f"{what}: tx {row.tx_hash} reverted: {revert}", row.tx_hash)

    def _already_done(self, kind: str, payload: dict[str, Any], contract: Any) -> str | None:
        if kind == SERVICE_KIND:
            status = int(self.chain.call(contract.functions.serviceStatus()))
            return f"service status is {payload['status_name']} already" if status == int(payload["status"]) else None
        period = int(payload["period"])
        if kind == SETTLE_KIND:
            settlement = SettlementView.decode(self.chain.call(contract.functions.settlement(period)))
            return f"period {period} is settled" if settlement.settled else None
        if kind == COLLECT_KIND:
            settlement = SettlementView.decode(self.chain.call(contract.functions.settlement(period)))
            if settlement.status not in OPEN_FOR_PULL:
                return f"settlement status is {settlement.status.label}, nothing to pull"
            if settlement.open_amount <= settlement.disputed:
                return f"all that is open ({settlement.open_amount}) is disputed, nothing to pull"
            return None
        topic0, carried, at = _EVIDENCE[kind]
        wanted = str(payload[carried]).lower()
        from_block = payload.get("from_block") or self._settled_block(str(payload["agreement"]), period)
        logs = self.rpc.call(
            "eth_getLogs",
            [
                {
                    "fromBlock": hex(int(from_block)),
                    "toBlock": "latest",
                    "address": to_checksum_address(str(payload["agreement"])),
                    "topics": [topic0, "0x" + period.to_bytes(32, "big").hex()],
                }
            ],
        )
        for item in logs:
            data = bytes.fromhex(str(item["data"])[2:])
            if len(data) >= at + 32 and "0x" + data[at : at + 32].hex() == wanted:
                return f"event in tx {item['transactionHash']} carries {carried} {wanted[:10]}…"
        return None

    def _settled_block(self, agreement: str, period: int) -> int:
        """Where the read model saw the settlement (events about it cannot be older); 0 if not seen yet."""
        with self.db() as session:
            block = session.scalar(
                select(Settlement.settled_block)
                .join(Agreement, Agreement.id == Settlement.agreement_id)
                .where(Agreement.chain_id == self.chain.chain_id, Agreement.address == agreement.lower(), Settlement.period == period)
            )
        return int(block or 0)

    # -- transactions -------------------------------------------------------------------------------------------------

    def _nonce(self, block: str) -> int:
        return int(self.rpc.call("eth_getTransactionCount", [self.sender, block]), 16)

    def _receipt(self, tx_hash: str) -> dict[str, Any] | None:
        receipt = self.rpc.call("eth_getTransactionReceipt", [tx_hash])
        return dict(receipt) if receipt else None

    def _wait_receipt(self, tx_hash: str) -> dict[str, Any] | None:
        deadline = time.monotonic() + self.receipt_timeout
        delay = 0.02
        while True:
            receipt = self._receipt(tx_hash)
            if receipt is not None or time.monotonic() > deadline:
                return receipt
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def _broadcast(self, raw: str) -> None:
        try:
            self.rpc.call("eth_sendRawTransaction", [raw])
        except ChainError as exc:
            text = str(exc).lower()
            if "already known" in text or "known transaction" in text or "already imported" in text:
                return
            if "nonce too low" in text:
                return  # mined already, or replaced: the receipt (or its absence) tells which
            raise

    def _held(self, session: Session, item_id: int) -> OutboxItem:
        """The item, locked, if this worker still holds it (its lease is renewed); else :class:`OutboxError`."""
        dialect = session.get_bind().dialect.name
        item = session.get(OutboxItem, item_id, with_for_update=dialect == "postgresql")
        if item is None or item.state is not OutboxState.PROCESSING or item.locked_by != self.worker:
            raise OutboxError(f"outbox item {item_id}: {self.worker} no longer holds it (its lease ran out); another worker carries it out")
        item.locked_until = datetime.now(UTC) + self.lease
        return item

    def _renew(self, item_id: int) -> None:
        with unit_of_work(self.db, self.worker) as session:
            self._held(session, item_id)

    def _sign_and_store(self, item_id: int, kind: str, tx: dict[str, Any], gas: int) -> str:
        chain_id = self.chain.chain_id
        fees = self.chain.fees()
        with unit_of_work(self.db, self.worker) as session:
            dialect = session.get_bind().dialect.name
            # Under the item's lock: only the worker holding the item may store its transaction, and never over a
            # transaction that may still be mined.
            self._held(session, item_id)
            existing = session.scalar(select(ChainTransaction).where(ChainTransaction.outbox_item_id == item_id))
            if existing is not None and existing.state in ("signed", "sent", "mined"):
                raise OutboxError(f"outbox item {item_id}: transaction {existing.tx_hash} was sent for it meanwhile; following that one")
            counter = session.get(SignerNonce, (chain_id, self.sender.lower()), with_for_update=dialect == "postgresql")
            pending = self._nonce("pending")
            if counter is None:
                counter = SignerNonce(chain_id=chain_id, address=self.sender.lower(), next_nonce=pending)
                session.add(counter)
                try:
                    # The first transaction of a key: two workers may create its counter at once; the loser retries.
                    session.flush()
                except IntegrityError:
                    raise ChainError("another worker is signing for the same key or item; trying again") from None
            nonce = max(counter.next_nonce, pending)
            counter.next_nonce = nonce + 1
            full: dict[str, Any] = {**tx, "chainId": chain_id, "value": 0, "gas": gas + gas // 5 + 10_000, "nonce": nonce, **fees}
            signed = self.signer.sign_transaction(full)
            raw = "0x" + bytes(signed.raw_transaction).hex()
            tx_hash = "0x" + bytes(signed.hash).hex()
            row = session.scalar(select(ChainTransaction).where(ChainTransaction.outbox_item_id == item_id))
            if row is None:
                row = ChainTransaction(outbox_item_id=item_id, kind=kind, chain_id=chain_id, sender=self.sender.lower())
                session.add(row)
            row.to, row.nonce, row.tx_hash, row.raw, row.state = str(tx["to"]).lower(), nonce, tx_hash, raw, "signed"
            row.block_number, row.error = None, None
            try:
                session.flush()
            except IntegrityError:
                raise ChainError("another worker is signing for the same key or item; trying again") from None
        return tx_hash

    def _set_state(self, row_id: int, state: str, *, block: int | None = None, error: str | None = None) -> None:
        with unit_of_work(self.db, self.worker) as session:
            row = session.get_one(ChainTransaction, row_id)
            row.state = state
            if block is not None:
                row.block_number = block
            if error is not None:
                row.error = error[:2000]

    def _revert_of(self, row: ChainTransaction, fn: ContractFunction, block: int) -> ContractRevert:
        """Why the mined transaction reverted: the same call replayed on the state before its block, decoded."""
        call = {"from": self.sender, "to": to_checksum_address(row.to), "data": fn._encode_transaction_data()}
        try:
            self.chain.w3.eth.call(call, block - 1)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - decoded below
            translated = self.chain.translate(exc)
            if isinstance(translated, ContractRevert):
                return translated
        return ContractRevert(f"transaction {row.tx_hash} reverted")

    # -- bookkeeping --------------------------------------------------------------------------------------------------

    def _finish(self, item_id: int, outcome: Outcome) -> Outcome:
        with unit_of_work(self.db, self.worker) as session:
            if outcome.result == DONE:
                outbox.complete(session, item_id, self.worker)
            elif outcome.result == GIVE_UP:
                outbox.fail(session, item_id, self.worker, outcome.detail, give_up=True)
            else:
                item = session.get_one(OutboxItem, item_id)
                delay = self.retry_seconds * min(2 ** max(item.attempts - 1, 0), 120)
                outbox.fail(session, item_id, self.worker, outcome.detail, retry_at=datetime.now(UTC) + timedelta(seconds=delay))
        if outcome.result == DONE:
            crashpoint("chaintx.completed")
            log.info("%s", outcome.detail)
        elif outcome.result == GIVE_UP:
            log.error("gave up: %s (needs a person)", outcome.detail)
        else:
            log.info("will retry: %s", outcome.detail)
        return outcome


def _transact(gw: Gateway) -> Pass:
    outcomes = gw.chain_tx.run_once()
    return Pass(
        lines=[f"{o.result}: {o.detail}" for o in outcomes],
        busy=any(o.result == DONE for o in outcomes),
        data={"transactions": outcomes},
    )


#: Runs again at the end of a round: confirmations and returns the bank worker queued go out in the same round.
WORKER = Worker(
    "chain_tx",
    _transact,
    thread="chain",
    again_at_end=True,
    summary="sends settle / collect / confirmPayment / reportReturn / anchorInvoice once",
)

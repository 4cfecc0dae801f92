"""Crash-safe submission of cut reports: pending → submitted (signed transaction stored) → confirmed, or failed.

The rules that make "no report sent twice, nothing lost" hold across a crash at any point:

1. A report gets a nonce of its own once, and every transaction signed for it uses that nonce, so at most one
   can ever be mined. The signed transaction is committed to SQL *before* it is broadcast; after a crash the very
   same bytes are re-broadcast. A transaction left waiting in the pool (fees too low) is replaced: signed again
   with the same nonce and fees raised by at least 12.5%, stored, then broadcast (``reprice_after``).
2. On start and every round, submitted reports are reconciled with the chain: receipt by tx hash → mined;
   no receipt but the node knows the transaction → wait (or replace it when it waited too long); unknown and its
   nonce not used yet → re-broadcast the stored bytes; nonce used by something else → look for the report's
   ``UsageReported`` event by report id (indexed) → found: follow the transaction that carried it (an earlier
   pricing of the same report, say) to confirmation; else (a foreign transaction took the nonce) back to pending
   to be signed anew.
3. New nonces continue after the highest nonce ever stored for the signer (or the node's count, if higher).

Corrections (``oracle.corrections``) travel the same path: each meter of a correction is a row of kind
``correction`` whose transaction is ``correctUsage``, sent by the oracle key itself (the contract has no relayed
form of it), before any report and while no report of its agreement is signed (every correction moves the
agreement's usage epoch on, and a report signed on the old epoch would be refused). A report a correction covers
(``superseded_by``) is never signed again: mined before the correction, the correction overrides it; refused after
it (``StaleReport``) or its nonce taken, it is ``superseded``. A report that is not covered but went stale (a
correction of another period of its agreement) is signed again on the current epoch. A correction the chain refuses
is undone in the books (``oracle.corrections.refused``).

Throughput: reports are estimated, sent and checked in JSON-RPC batches (``rpc_batch`` transactions per request).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Select, bindparam, func, select, update

from oracle import corrections
from oracle.alerts import Alerts
from oracle.clock import Clock, SystemClock
from oracle.config import OracleSettings
from oracle.faults import crashpoint
from oracle.merkle import TreeHelperError
from oracle.models import (
    CONFIRMED,
    CORRECTION,
    FAILED,
    OPEN,
    PENDING,
    SUBMITTED,
    SUPERSEDED,
    USAGE,
    Agreement,
    Correction,
    Report,
    Total,
)
from oracle.reports import cut_reports
from oracle.txsign import (
    FACTORY_SELECTOR,
    ORACLE_ACTIVE_FROM_SELECTOR,
    USAGE_CORRECTED_TOPIC,
    USAGE_EPOCH_SELECTOR,
    USAGE_REPORTED_TOPIC,
    FastSigner,
    decode_type2,
    decode_usage_corrected,
    encode_correct_usage,
    encode_report_usage,
    encode_report_usage_with_signature,
    report_digest,
)
from settle.chain import ErrorDecoder
from settle.chaintypes import AgreementState
from settle.errors import ChainError, ConfigError
from settle.rpc import Rpc, RpcError

log = logging.getLogger("settle.oracle.submit")

#: Reverts at estimation that mean "not yet": the report stays pending. A stale usage epoch or signer grant means a
#: correction or a new grant of the oracle role landed after this round read them: the next round reads them again.
HOLD = {"BillingAgreement_PeriodNotStarted", "BillingAgreement_StaleReport", "BillingAgreement_StaleSignerGrant"}
#: Reverts that mean the signer cannot report at all: stop and say so, fail nothing.
FATAL = {"BillingAgreement_NotOracle"}


@dataclass
class Round:
    cut: int = 0
    signed: int = 0
    confirmed: int = 0
    failed: int = 0
    rebroadcast: int = 0
    repriced: int = 0
    waiting: int = 0
    superseded: int = 0

    def busy(self) -> bool:
        return bool(self.cut or self.signed or self.confirmed or self.failed or self.rebroadcast or self.repriced or self.superseded)


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


class Submitter:
    """Signs, sends and confirms reports for one signer. Run one submitter per signer."""

    def __init__(
        self,
        engine: Engine,
        settings: OracleSettings,
        *,
        rpc: Rpc,
        chain_id: int,
        signer: FastSigner,
        confirmations: int = 0,
        decoder: ErrorDecoder | None = None,
        clock: Clock | None = None,
        alerts: Alerts | None = None,
        reporter: FastSigner | None = None,
        follow: Callable[[], int] | None = None,
    ):
        """``signer`` sends the transactions (nonces, gas). With ``reporter``, ``signer`` is only a relayer: each
        report is authorised by ``reporter``'s EIP-712 signature (``reportUsageWithSignature``), so the oracle key
        needs no ether and the relayer needs no role. ``follow`` is called first in every round: it brings the
        agreements' changes (pause, resumption, end, settlement) into the books (``chainsync.EventFollower.poll``)."""
        self.engine = engine
        self.settings = settings
        self.rpc = rpc
        self.chain_id = chain_id
        self.signer = signer
        self.reporter = reporter
        self.confirmations = confirmations
        self.decoder = decoder or ErrorDecoder()
        self.clock = clock or SystemClock()
        self.alerts = alerts or Alerts.configured(settings.alert_webhook)
        self.follow = follow
        self.stop_event = threading.Event()
        #: Agreement address → its factory (never changes), for the reporter's grant time.
        self._factories: dict[str, str] = {}
        #: Who sends what: reports by ``signer``; corrections by the oracle key (``reporter`` when relaying).
        self.corrector = reporter or signer
        self.senders = {signer.address: signer, self.corrector.address: self.corrector}

    def _now(self) -> datetime:
        """The injected clock's time (the chain's, on a chain): when rows were priced, sent and confirmed, and how
        long a transaction has waited, are judged by it."""
        return datetime.fromtimestamp(self.clock.now(), UTC)

    # -- loop -----------------------------------------------------------------------------------------------------
    def run(self, *, once: bool = False, idle_sleep: float | None = None) -> None:
        """Cut, submit and confirm until stopped (or until nothing is left to do with ``once``)."""
        idle = idle_sleep if idle_sleep is not None else self.settings.poll_seconds
        if self.reporter is None:
            log.info("submitter started for %s", self.signer.address)
        else:
            log.info("submitter started: %s relays reports signed by %s", self.signer.address, self.reporter.address)
        while not self.stop_event.is_set():
            try:
                done = self.step()
            except (ChainError, TreeHelperError) as exc:  # the next round tries again
                log.error("submitter round failed: %s", exc)
                done = Round()
                if once:
                    raise
            if once and not done.busy() and not self.outstanding():
                return
            if not done.busy():
                self.stop_event.wait(idle)

    def step(self) -> Round:
        """One round: cut due reports, reconcile what was sent, sign and send what is pending, raise alerts."""
        r = Round()
        if self.follow is not None:
            try:
                self.follow()
            except Exception as exc:  # noqa: BLE001 - reports still go out (the dry run refuses a paused agreement)
                log.warning("following the agreements' events failed: %s", exc)
        now = self.clock.now()
        r.cut = len(cut_reports(self.engine, self.settings, now))
        if r.cut:
            crashpoint("submit.cut")
        self.reconcile(r)
        while not self.stop_event.is_set():  # nonces continue from the stored ones: no need to wait for receipts
            if self.submit_pending(r) == 0:
                break
        self.reconcile(r)
        self.check_deadlines(now)
        return r

    def outstanding(self) -> int:
        with self.engine.connect() as conn:
            busy = Report.status.in_((PENDING, SUBMITTED)) | ((Report.status == OPEN) & (Report.record_count > 0))
            return int(conn.execute(select(func.count()).select_from(Report).where(busy)).scalar_one())

    # -- signing and sending --------------------------------------------------------------------------------------
    def submit_pending(self, r: Round) -> int:
        """Sign and send up to ``rpc_batch`` pending rows, corrections first; returns how many were signed."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    Report.id,
                    Report.kind,
                    Report.agreement_id,
                    Report.correction_id,
                    Report.period,
                    Report.seq,
                    Report.report_id,
                    Report.root,
                    Report.usages,
                    Agreement.address,
                    Agreement.state,
                    Report.error,
                    Correction.reason,
                )
                .join(Agreement, Agreement.id == Report.agreement_id)
                .outerjoin(Correction, Correction.id == Report.correction_id)
                .where(Report.status == PENDING)
                .where((Report.kind == CORRECTION) | Report.agreement_id.not_in(_correcting()))
                .order_by(Report.kind == USAGE, Report.id)
                .limit(self.settings.rpc_batch)
            ).all()
        if not rows:
            return 0
        usage_rows = {row.address for row in rows if row.kind == USAGE}
        epochs, since = self._chain_inputs(usage_rows) if usage_rows else ({}, {})
        senders = [self.corrector if row.kind == CORRECTION else self.signer for row in rows]
        payloads = [self._calldata(row, epochs.get(row.address, 0), since.get(row.address, 0)) for row in rows]
        # Every row is dry-run with eth_call (a revert is caught and decoded before anything is signed); gas is
        # estimated once per shape (meters reported; first report of its period or not) and batch: eth_estimateGas
        # runs the call many times over, and reports of one shape cost the same (the margin covers the rest).
        # Each correction is estimated on its own (its reason string makes its size).
        shape_of = [
            (row.kind, sender.address, row.id if row.kind == CORRECTION else (tuple(m for m, _c in json.loads(row.usages)), row.seq == 1))
            for row, sender in zip(rows, senders, strict=True)
        ]
        shapes: dict[tuple[Any, ...], int] = {}
        for i, shape in enumerate(shape_of):
            shapes.setdefault(shape, i)
        calls: list[tuple[str, list[Any]]] = [
            ("eth_call", [{"from": sender.address, "to": row.address, "data": _hex(data)}, "latest"])
            for row, data, sender in zip(rows, payloads, senders, strict=True)
        ]
        calls += [
            ("eth_estimateGas", [{"from": senders[i].address, "to": rows[i].address, "data": _hex(payloads[i])}]) for i in shapes.values()
        ]
        used = sorted({sender.address for sender in senders})
        calls += [("eth_getTransactionCount", [address, "pending"]) for address in used]
        calls += [("eth_getBlockByNumber", ["latest", False]), ("eth_maxPriorityFeePerGas", [])]
        results = self.rpc.batch(calls)
        block, tip = results[-2:]
        counts = dict(zip(used, results[-2 - len(used) : -2], strict=True))
        for value in (*counts.values(), block):
            if isinstance(value, RpcError):
                raise value
        estimate_of = dict(zip(shapes, results[len(rows) : len(rows) + len(shapes)], strict=True))
        base = int(block.get("baseFeePerGas") or "0x0", 16)
        tip_wei = 10**9 if isinstance(tip, RpcError) else int(tip, 16)
        max_fee = 2 * base + tip_wei
        cap = self._fee_cap()
        if cap:
            max_fee = min(max_fee, cap)
            tip_wei = min(tip_wei, max_fee)
        head = int(block["number"], 16)
        gas_of = [results[i] if isinstance(results[i], RpcError) else estimate_of[shape] for i, shape in enumerate(shape_of)]
        ready: list[tuple[Any, bytes, FastSigner, int]] = []
        failed: list[tuple[int, str]] = []
        refused: list[tuple[int, str, str | None]] = []
        held = 0
        for row, data, sender, estimate in zip(rows, payloads, senders, gas_of, strict=True):
            if isinstance(estimate, RpcError):
                revert = self.decoder.decode(estimate.data) if estimate.data else None
                name = revert.error_name if revert is not None else None
                text = str(revert) if revert is not None else estimate.rpc_message
                if name in FATAL:
                    who = sender.address if row.kind == CORRECTION else (self.reporter or self.signer).address
                    what = "correct usage of" if row.kind == CORRECTION else "report to"
                    raise ConfigError(f"signer {who} cannot {what} {row.address}: {text} (grant ORACLE_ROLE and wait the signer delay)")
                if revert is None and not estimate.data:  # transport-level or node trouble: try again next round
                    held += 1
                    log.warning("gas estimation for report %d failed: %s", row.id, text)
                    continue
                if row.kind == CORRECTION:
                    refused.append((row.id, text, name))
                    continue
                paused = name == "BillingAgreement_InvalidState" and revert is not None and revert.error_args == (AgreementState.PAUSED,)
                if name in HOLD or paused:
                    held += 1
                    if paused:
                        text = f"the agreement is paused: the report waits until it is resumed ({text})"
                    if row.error != text:
                        log.info("report %d for %s period %d waits: %s", row.id, row.address, row.period, text)
                        with self.engine.begin() as conn:
                            conn.execute(update(Report).where(Report.id == row.id).values(error=text))
                    continue
                failed.append((row.id, text))
                continue
            gas = int(estimate, 16)
            ready.append((row, data, sender, gas + gas // 5 + 10_000))
        signed = self._sign_and_store(ready, counts, head, max_fee, tip_wei)
        if failed or refused:
            with self.engine.begin() as conn:
                for pk, reason in failed:
                    conn.execute(update(Report).where(Report.id == pk, Report.status == PENDING).values(status=FAILED, error=reason))
                messages = [
                    (pk, corrections.refused(conn, pk, text, name))
                    for pk, text, name in refused
                    if conn.execute(select(Report.status).where(Report.id == pk)).scalar() == PENDING
                ]
            for pk, reason in failed:
                self.alerts.fire("report_failed", f"report {pk} cannot be submitted: {reason}", report=pk)
            for pk, message in messages:
                self.alerts.fire("correction_failed", message, report=pk)
        r.failed += len(failed) + len(refused)
        if signed:
            crashpoint("submit.signed")
            self._broadcast([(s["pk"], s["raw"]) for s in signed])
            crashpoint("submit.broadcast")
        r.signed += len(signed)
        r.waiting += held
        return len(signed)

    def _sign_and_store(
        self, ready: list[tuple[Any, bytes, FastSigner, int]], counts: dict[str, Any], head: int, max_fee: int, tip: int
    ) -> list[dict[str, Any]]:
        """Give each row still pending its nonce, sign it and store the signed bytes, in one transaction that
        holds the rows: a correction stored since they were read (which supersedes reports of its period, and
        holds every report of its agreement) is seen here, and a row left out never leaves a gap in the nonces."""
        if not ready:
            return []
        now = self._now()
        with self.engine.begin() as conn:
            ids = sorted(row.id for row, _d, _s, _g in ready)
            held = select(Report.id).where(Report.status == PENDING, Report.id.in_(ids)).order_by(Report.id).with_for_update()
            still = set(conn.execute(held).scalars())
            correcting = set(conn.execute(_correcting()).scalars())
            keep = [
                item for item in ready if item[0].id in still and (item[0].kind == CORRECTION or item[0].agreement_id not in correcting)
            ]
            if len(keep) != len(ready):
                log.info("%d row(s) changed since they were read (covered by a correction): not signed", len(ready) - len(keep))
            nonces: dict[str, int] = {}
            for address, count in counts.items():
                stored = conn.execute(select(func.max(Report.nonce)).where(Report.signer == address)).scalar()
                nonces[address] = max(int(count, 16), stored + 1 if stored is not None else 0)
            signed: list[dict[str, Any]] = []
            for row, data, sender, gas in keep:
                nonce = nonces[sender.address]
                nonces[sender.address] += 1
                tx = sender.sign(
                    chain_id=self.chain_id, nonce=nonce, to=row.address, data=data, gas=gas, max_fee=max_fee, max_priority_fee=tip
                )
                signed.append({"pk": row.id, "signer": sender.address, "nonce": nonce, "hash": tx.hash, "raw": tx.raw, "gas": gas})
            if signed:
                result = conn.execute(
                    update(Report)
                    .where(Report.id == bindparam("pk"), Report.status == PENDING)
                    .values(
                        status=SUBMITTED,
                        signer=bindparam("signer"),
                        nonce=bindparam("nonce"),
                        tx_hash=bindparam("hash"),
                        raw_tx=bindparam("raw"),
                        gas=bindparam("gas"),
                        submitted_at=now,
                        priced_at=now,
                        from_block=head,
                        sends=1,
                        error=None,
                    ),
                    signed,
                )
                if result.rowcount != len(signed):
                    raise ConfigError("another submitter signed some of these reports at the same time: run one submitter per signer")
        return signed

    def _chain_inputs(self, addresses: set[str]) -> tuple[dict[str, int], dict[str, int]]:
        """What a report must name besides its usage, read fresh each round: every agreement's usage epoch (a
        report built on an older one is refused), and for relayed reports the reporter's ``oracleActiveFrom`` at
        each agreement's factory (its grant of the oracle role)."""
        order = sorted(addresses)
        unknown = [a for a in order if a not in self._factories] if self.reporter is not None else []
        calls = [("eth_call", [{"to": a, "data": _hex(USAGE_EPOCH_SELECTOR)}, "latest"]) for a in order]
        calls += [("eth_call", [{"to": a, "data": _hex(FACTORY_SELECTOR)}, "latest"]) for a in unknown]
        results = self.rpc.batch(calls)
        for value in results:
            if isinstance(value, RpcError):
                raise value
        epochs = {a: int(v, 16) for a, v in zip(order, results[: len(order)], strict=True)}
        for a, v in zip(unknown, results[len(order) :], strict=True):
            self._factories[a] = "0x" + v[-40:]
        if self.reporter is None:
            return epochs, {}
        factories = sorted({self._factories[a] for a in order})
        word = bytes(12) + bytes.fromhex(self.reporter.address[2:])
        grants = self.rpc.batch([("eth_call", [{"to": f, "data": _hex(ORACLE_ACTIVE_FROM_SELECTOR + word)}, "latest"]) for f in factories])
        for value in grants:
            if isinstance(value, RpcError):
                raise value
        active_from = {f: int(v, 16) for f, v in zip(factories, grants, strict=True)}
        return epochs, {a: active_from[self._factories[a]] for a in order}

    def _calldata(self, row: Any, epoch: int, signer_since: int) -> bytes:
        usages = [(int(m), int(c)) for m, c in json.loads(row.usages)]
        if row.kind == CORRECTION:
            ((meter, corrected),) = usages
            reason = corrections.onchain_reason(row.correction_id, row.reason)
            return encode_correct_usage(row.period, meter, corrected, row.root, reason)
        if self.reporter is None:
            return encode_report_usage(row.period, row.report_id, row.root, epoch, usages)
        digest = report_digest(self.chain_id, row.address, row.period, row.report_id, row.root, epoch, signer_since, usages)
        signature = self.reporter.sign_digest(digest)
        return encode_report_usage_with_signature(row.period, row.report_id, row.root, epoch, signer_since, usages, signature)

    def _broadcast(self, txs: list[tuple[int, bytes]], *, again: bool = False) -> None:
        results = self.rpc.batch([("eth_sendRawTransaction", [_hex(raw)]) for _pk, raw in txs])
        errors = []
        for (pk, _raw), res in zip(txs, results, strict=True):
            if isinstance(res, RpcError):
                msg = res.rpc_message.lower()
                if "already known" in msg or "nonce too low" in msg or "already imported" in msg:
                    continue  # the same transaction is in the pool or mined
                errors.append((pk, res.rpc_message))
        if again or errors:
            with self.engine.begin() as conn:
                if again:
                    again_rows = [{"pk": pk} for pk, _ in txs]
                    conn.execute(update(Report).where(Report.id == bindparam("pk")).values(sends=Report.sends + 1), again_rows)
                for pk, message in errors:
                    conn.execute(update(Report).where(Report.id == pk).values(error=f"broadcast: {message}"))
        for pk, message in errors:
            log.warning("broadcast of report %d refused: %s (will retry)", pk, message)

    # -- reconciling ----------------------------------------------------------------------------------------------
    def reconcile(self, r: Round, page: int = 500) -> None:
        """Bring submitted rows in line with the chain (see the module docstring), one sending account at a time."""
        for sender in self.senders.values():
            after = -1
            while True:
                last = self._reconcile_page(r, sender, after, page)
                if last is None:
                    break
                after = last

    def _reconcile_page(self, r: Round, sender: FastSigner, after: int, limit: int) -> int | None:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    Report.id,
                    Report.kind,
                    Report.correction_id,
                    Report.superseded_by,
                    Report.tx_hash,
                    Report.raw_tx,
                    Report.nonce,
                    Report.block_number,
                    Report.report_id,
                    Report.root,
                    Report.from_block,
                    Report.usages,
                    Report.agreement_id,
                    Report.period,
                    Report.priced_at,
                    Report.submitted_at,
                    Report.sends,
                    Report.error,
                    Agreement.address,
                    Correction.reason,
                )
                .join(Agreement, Agreement.id == Report.agreement_id)
                .outerjoin(Correction, Correction.id == Report.correction_id)
                .where(Report.status == SUBMITTED, Report.signer == sender.address, Report.nonce > after)
                .order_by(Report.nonce)
                .limit(limit)
            ).all()
        if not rows:
            return None
        results = self.rpc.batch([("eth_getTransactionReceipt", [_hex(row.tx_hash)]) for row in rows] + [("eth_blockNumber", [])])
        head_result = results[-1]
        if isinstance(head_result, RpcError):
            raise head_result
        head = int(head_result, 16)
        need = max(self.confirmations, 1)
        confirmed: list[tuple[Any, dict[str, Any]]] = []
        mined: list[dict[str, Any]] = []
        failed: list[tuple[Any, dict[str, Any]]] = []
        missing = []
        for row, receipt in zip(rows, results[:-1], strict=True):
            if isinstance(receipt, RpcError):
                raise receipt
            if receipt is None:
                missing.append(row)
                continue
            number = int(receipt["blockNumber"], 16)
            if int(receipt["status"], 16) != 1:
                failed.append((row, receipt))
            elif head - number + 1 >= need:
                confirmed.append((row, receipt))
            elif row.block_number != number:
                mined.append({"pk": row.id, "bn": number, "bh": bytes.fromhex(receipt["blockHash"][2:])})
        if missing:
            self._missing(missing, r, sender)
        reasons = {row.id: self._revert_reason(row, rc, sender) for row, rc in failed}
        now = self._now()
        alerts: list[tuple[str, str, int]] = []
        with self.engine.begin() as conn:
            # the rows first, in id order (as a correction takes them), then the totals: no lock cycle
            conn.execute(select(Report.id).where(Report.id.in_([row.id for row in rows])).order_by(Report.id).with_for_update()).all()
            if mined:
                conn.execute(
                    update(Report).where(Report.id == bindparam("pk")).values(block_number=bindparam("bn"), block_hash=bindparam("bh")),
                    mined,
                )
            if confirmed:
                conn.execute(
                    update(Report)
                    .where(Report.id == bindparam("pk"), Report.status == SUBMITTED)
                    .values(status=CONFIRMED, block_number=bindparam("bn"), block_hash=bindparam("bh"), confirmed_at=now, error=None),
                    [{"pk": row.id, "bn": int(rc["blockNumber"], 16), "bh": bytes.fromhex(rc["blockHash"][2:])} for row, rc in confirmed],
                )
                # a report a correction covers raises nothing in the books: the correction sets the total
                totals = [
                    {"a": row.agreement_id, "m": meter, "p": row.period, "c": cumulative}
                    for row, _rc in confirmed
                    if row.kind == USAGE and row.superseded_by is None
                    for meter, cumulative in json.loads(row.usages)
                ]
                if totals:
                    conn.execute(
                        update(Total)
                        .where(Total.agreement_id == bindparam("a"), Total.meter == bindparam("m"), Total.period == bindparam("p"))
                        .where(Total.confirmed_units < bindparam("c"))
                        .values(confirmed_units=bindparam("c")),
                        totals,
                    )
                for row, _rc in confirmed:
                    if row.kind == CORRECTION:
                        ((meter, corrected),) = json.loads(row.usages)
                        corrections.confirmed(conn, row.id, row.correction_id, meter, corrected, row.superseded_by is not None)
            for row, rc in failed:
                reason, name = reasons[row.id]
                where = {"block_number": int(rc["blockNumber"], 16), "block_hash": bytes.fromhex(rc["blockHash"][2:])}
                if row.superseded_by is not None and not (row.kind == CORRECTION and corrections.covering_failed(conn, row.superseded_by)):
                    # covered by a later correction, which decides what the chain holds
                    conn.execute(update(Report).where(Report.id == row.id).values(status=SUPERSEDED, error=reason, **where))
                    r.superseded += 1
                    continue
                if row.kind == USAGE and name == "BillingAgreement_StaleReport":
                    # a correction of another period of the agreement moved the epoch on: sign it again on the new one
                    log.info("report %d was refused as stale (%s): it is signed again on the current epoch", row.id, reason)
                    conn.execute(update(Report).where(Report.id == row.id).values(error=f"refused as stale: {reason}", **_UNSIGNED))
                    continue
                if row.kind == CORRECTION:
                    alerts.append(("correction_failed", corrections.refused(conn, row.id, reason, name), row.id))
                else:
                    conn.execute(update(Report).where(Report.id == row.id).values(status=FAILED, error=reason, **where))
                    alerts.append(("report_failed", f"report {row.id} for {row.address} period {row.period} reverted on-chain", row.id))
                r.failed += 1
        if confirmed:
            crashpoint("submit.confirmed")
        for kind, message, pk in alerts:
            self.alerts.fire(kind, message, report=pk)
        r.confirmed += len(confirmed)
        return int(rows[-1].nonce) if len(rows) == limit else None

    def _missing(self, rows: list[Any], r: Round, sender: FastSigner) -> None:
        calls: list[tuple[str, list[Any]]] = [("eth_getTransactionByHash", [_hex(row.tx_hash)]) for row in rows]
        calls.append(("eth_getTransactionCount", [sender.address, "latest"]))
        results = self.rpc.batch(calls)
        if isinstance(results[-1], RpcError):
            raise results[-1]
        used = int(results[-1], 16)
        resend: list[tuple[int, bytes]] = []
        stuck: list[Any] = []
        for row, known in zip(rows, results[:-1], strict=True):
            if isinstance(known, RpcError):
                raise known
            if known is not None:
                if row.block_number is not None:  # it was mined and is pending again: a reorg
                    with self.engine.begin() as conn:
                        conn.execute(update(Report).where(Report.id == row.id).values(block_number=None, block_hash=None))
                elif self._waited_too_long(row):
                    stuck.append(row)
                continue
            if row.nonce < used:
                event = self._find_event(row)
                if event is not None:
                    carrier = bytes.fromhex(event["transactionHash"][2:])
                    if carrier != row.tx_hash:  # an earlier pricing of this report was mined: follow that one
                        log.info("report %d was mined in transaction %s (an earlier pricing)", row.id, event["transactionHash"])
                        with self.engine.begin() as conn:
                            conn.execute(
                                update(Report).where(Report.id == row.id, Report.status == SUBMITTED).values(tx_hash=carrier, raw_tx=None)
                            )
                    continue  # the next round confirms it
                if row.superseded_by is not None:
                    # never signed again: a later correction covers what it carried
                    log.info("nonce %d of report %d was used by another transaction; a correction covers it", row.nonce, row.id)
                    with self.engine.begin() as conn:
                        conn.execute(
                            update(Report)
                            .where(Report.id == row.id, Report.status == SUBMITTED)
                            .values(status=SUPERSEDED, error="its nonce was used by another transaction; covered by a correction")
                        )
                    r.superseded += 1
                    continue
                log.warning("nonce %d of report %d was used by another transaction: signing it again", row.nonce, row.id)
                with self.engine.begin() as conn:
                    conn.execute(update(Report).where(Report.id == row.id, Report.status == SUBMITTED).values(**_UNSIGNED))
                continue
            if row.sends > 1 and self._waited_too_long(row):
                stuck.append(row)  # re-broadcast and still not in the pool: refused or dropped as underpriced
                continue
            resend.append((row.id, row.raw_tx))
        if resend:
            log.info("re-broadcasting %d stored transaction(s)", len(resend))
            self._broadcast(resend, again=True)
            crashpoint("submit.rebroadcast")
            r.rebroadcast += len(resend)
        if stuck:
            self._reprice(stuck, r, sender)

    # -- replacing transactions that wait -------------------------------------------------------------------------
    def _fee_cap(self) -> int:
        return int(self.settings.max_fee_gwei * 10**9)

    def _waited_too_long(self, row: Any) -> bool:
        after = self.settings.reprice_after
        priced = row.priced_at or row.submitted_at
        if not after or priced is None or row.raw_tx is None:
            return False
        if priced.tzinfo is None:  # SQLite returns naive datetimes (stored as UTC)
            priced = priced.replace(tzinfo=UTC)
        return (self._now() - priced).total_seconds() >= after

    def _reprice(self, rows: list[Any], r: Round, sender: FastSigner) -> None:
        """Sign each report again with its nonce and fees raised by at least 12.5% (at least today's base fee
        twice plus the suggested tip), store, then broadcast. Over the fee cap: wait, with one alert."""
        block, tip = self.rpc.batch([("eth_getBlockByNumber", ["latest", False]), ("eth_maxPriorityFeePerGas", [])])
        if isinstance(block, RpcError):
            raise block
        base = int(block.get("baseFeePerGas") or "0x0", 16)
        tip_now = 10**9 if isinstance(tip, RpcError) else int(tip, 16)
        cap = self._fee_cap()
        now = self._now()
        replaced: list[dict[str, Any]] = []
        capped: list[tuple[Any, str]] = []
        for row in rows:
            old = decode_type2(row.raw_tx)
            new_tip = max(_raised(old.max_priority_fee), tip_now)
            new_max = max(_raised(old.max_fee), 2 * base + new_tip)
            if cap and new_max > cap:
                capped.append(
                    (row, f"transaction waits in the pool; replacing it needs a max fee of {new_max / 1e9:.2f} gwei, above the cap")
                )
                continue
            tx = sender.sign(
                chain_id=self.chain_id, nonce=row.nonce, to=old.to, data=old.data, gas=old.gas, max_fee=new_max, max_priority_fee=new_tip
            )
            replaced.append({"pk": row.id, "old": row.tx_hash, "hash": tx.hash, "raw": tx.raw, "fee": new_max})
        with self.engine.begin() as conn:
            if replaced:
                conn.execute(
                    update(Report)
                    .where(Report.id == bindparam("pk"), Report.status == SUBMITTED, Report.tx_hash == bindparam("old"))
                    .values(tx_hash=bindparam("hash"), raw_tx=bindparam("raw"), priced_at=now, reprices=Report.reprices + 1, sends=1)
                    .values(error=None),
                    replaced,
                )
            for row, message in capped:
                if row.error != message:
                    conn.execute(update(Report).where(Report.id == row.id).values(error=message))
        for row, message in capped:
            if row.error != message:
                self.alerts.fire(
                    "fee_cap",
                    f"report {row.id} for {row.address} period {row.period}: {message}",
                    report=row.id,
                    cap_gwei=str(self.settings.max_fee_gwei),
                )
        for item in replaced:
            log.info("report %d: replaced its waiting transaction (max fee %.2f gwei), same nonce", item["pk"], item["fee"] / 1e9)
        if replaced:
            self._broadcast([(item["pk"], item["raw"]) for item in replaced])
            r.repriced += len(replaced)

    def _find_event(self, row: Any) -> dict[str, Any] | None:
        """The event a row's transaction emitted, wherever it was mined: ``UsageReported`` by report id (indexed), or
        for a correction ``UsageCorrected`` of its period and meter with its total, root and reason."""
        topics: list[str | None]
        if row.kind == CORRECTION:
            ((meter, corrected),) = json.loads(row.usages)
            topics = [_hex(USAGE_CORRECTED_TOPIC), _hex(row.period.to_bytes(32, "big")), _hex(int(meter).to_bytes(32, "big"))]
        else:
            topics = [_hex(USAGE_REPORTED_TOPIC), None, None, _hex(row.report_id)]
        logs = self.rpc.call(
            "eth_getLogs", [{"address": row.address, "fromBlock": hex(row.from_block or 0), "toBlock": "latest", "topics": topics}]
        )
        if row.kind != CORRECTION:
            return logs[0] if logs else None
        reason = corrections.onchain_reason(row.correction_id, row.reason)
        for entry in logs:
            _previous, total, root, said, _epoch = decode_usage_corrected(bytes.fromhex(entry["data"][2:]))
            if (total, root, said) == (corrected, bytes(row.root), reason):
                return entry
        return None

    def _revert_reason(self, row: Any, receipt: dict[str, Any], sender: FastSigner) -> tuple[str, str | None]:
        """Why a mined transaction reverted (replayed on the block before it) and the custom error's name."""
        number = int(receipt["blockNumber"], 16)
        tx = self.rpc.call("eth_getTransactionByHash", [_hex(row.tx_hash)])
        try:
            self.rpc.call("eth_call", [{"from": sender.address, "to": row.address, "data": tx["input"]}, hex(max(number - 1, 0))])
        except RpcError as exc:
            if exc.data:
                revert = self.decoder.decode(exc.data)
                return str(revert) + f" (tx {_hex(row.tx_hash)})", revert.error_name
            return f"{exc.rpc_message} (tx {_hex(row.tx_hash)})", None
        if row.kind == USAGE:
            # replayed on the block before, it passes: something earlier in its own block refused it; a correction
            # moving the epoch on is what the oracle must know about (the report is then signed again or covered)
            named = int.from_bytes(bytes.fromhex(tx["input"][2:])[100:132], "big")
            after = int(self.rpc.call("eth_call", [{"to": row.address, "data": _hex(USAGE_EPOCH_SELECTOR)}, hex(number)]), 16)
            if after != named:
                return (
                    f"BillingAgreement_StaleReport(epoch={named}, current={after}) (tx {_hex(row.tx_hash)})",
                    "BillingAgreement_StaleReport",
                )
        return f"transaction {_hex(row.tx_hash)} reverted (gas used {int(receipt['gasUsed'], 16)})", None

    # -- deadlines --------------------------------------------------------------------------------------------
    def check_deadlines(self, now: int) -> None:
        """Alert once per report that is not confirmed ``alert_margin`` seconds before its grace window ends."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(Report.id, Report.period, Report.status, Report.deadline, Agreement.address)
                .join(Agreement, Agreement.id == Report.agreement_id)
                .where(Report.status.in_(("open", PENDING, SUBMITTED)), Report.alerted_at.is_(None), Report.record_count > 0)
                .where(Report.deadline - self.settings.alert_margin <= now)
            ).all()
        if not rows:
            return
        for row in rows:
            left = row.deadline - now
            when = f"in {left}s" if left > 0 else f"{-left}s ago"
            self.alerts.fire(
                "deadline",
                f"report {row.id} for {row.address} period {row.period} is {row.status}, not confirmed, and the grace window ends {when}",
                report=row.id,
                agreement=row.address,
                period=row.period,
                deadline=row.deadline,
            )
        with self.engine.begin() as conn:
            conn.execute(update(Report).where(Report.id.in_([row.id for row in rows])).values(alerted_at=self._now()))


#: What signing a row again starts from: no nonce, no transaction.
_UNSIGNED: dict[str, Any] = {
    "status": PENDING,
    "nonce": None,
    "tx_hash": None,
    "raw_tx": None,
    "signer": None,
    "block_number": None,
    "block_hash": None,
}


def _correcting() -> Select[int]:
    """Agreements with a correction not confirmed yet: none of their reports is signed until it is (each
    correction moves the agreement's usage epoch on)."""
    return select(Report.agreement_id).where(Report.kind == CORRECTION, Report.status.in_((PENDING, SUBMITTED))).distinct()


def _raised(fee: int) -> int:
    """``fee`` raised by at least 12.5%, rounded up (nodes refuse a replacement that offers less)."""
    return max(fee + (fee + 7) // 8, fee + 1)


def wait_until(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())

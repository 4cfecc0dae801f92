"""Inclusion proofs: a record's Merkle path to the root of the on-chain commitment that covers it, checked against
the root the chain's event carries.

A record is covered by its report (``UsageReported``, looked up by the report id, an indexed topic) and, once a
correction of its period was made, by that correction's tree (``UsageCorrected`` of its period and meter, emitted
by the correction's transaction). The newest commitment that holds the record and is on-chain is proved; a
correction not confirmed yet falls back to the report it was in. A voided record is in no current total: the
proof says so, with who voided it, when and why.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from oracle.corrections import voided_info
from oracle.merkle import StoredTree, keccak, leaf_preimage, verify
from oracle.models import (
    ACCEPTED,
    CONFIRMED,
    CORRECTION,
    CORRECTION_FAILED,
    STATUS_NAMES,
    VOIDED,
    Agreement,
    Correction,
    CorrectionTree,
    Record,
    Report,
    ReportTree,
    Source,
)
from oracle.records import format_timestamp
from oracle.txsign import USAGE_CORRECTED_TOPIC, USAGE_REPORTED_TOPIC, decode_usage_corrected
from settle.errors import ValidationError
from settle.rpc import Rpc


class ProofError(ValidationError):
    """No proof can be given for this record (unknown, not accepted, voided, or not in a cut report yet)."""


class VoidedRecordError(ProofError):
    """The record was voided by a correction: it counts in no total. ``void`` says who voided it, when and why."""

    def __init__(self, message: str, void: dict[str, Any]):
        super().__init__(message)
        self.void = void


def _hex(b: bytes | None) -> str | None:
    return None if b is None else "0x" + bytes(b).hex()


def onchain_root(rpc: Rpc, agreement: str, report_id: bytes, from_block: int | None) -> tuple[bytes | None, dict[str, Any] | None]:
    """The records root in the report's UsageReported event(s), and the first log."""
    logs = rpc.call(
        "eth_getLogs",
        [
            {
                "address": agreement,
                "fromBlock": hex(from_block or 0),
                "toBlock": "latest",
                "topics": ["0x" + USAGE_REPORTED_TOPIC.hex(), None, None, "0x" + report_id.hex()],
            }
        ],
    )
    if not logs:
        return None, None
    roots = {bytes.fromhex(log["data"][2:])[64:96] for log in logs}
    if len(roots) != 1:
        raise ProofError(f"report 0x{report_id.hex()} has events with different roots on-chain: {sorted('0x' + r.hex() for r in roots)}")
    return roots.pop(), logs[0]


def correction_root(
    rpc: Rpc, agreement: str, period: int, meter: int, tx_hash: bytes, from_block: int | None
) -> tuple[bytes | None, dict[str, Any] | None]:
    """The records root in the UsageCorrected event that the correction's transaction emitted, and its log."""
    logs = rpc.call(
        "eth_getLogs",
        [
            {
                "address": agreement,
                "fromBlock": hex(from_block or 0),
                "toBlock": "latest",
                "topics": [
                    "0x" + USAGE_CORRECTED_TOPIC.hex(),
                    "0x" + period.to_bytes(32, "big").hex(),
                    "0x" + meter.to_bytes(32, "big").hex(),
                ],
            }
        ],
    )
    for log in logs:
        if log["transactionHash"] == "0x" + bytes(tx_hash).hex():
            return decode_usage_corrected(bytes.fromhex(log["data"][2:]))[2], log
    return None, None


def prove(engine: Engine, rpc: Rpc | None, source: str, record_id: str) -> dict[str, Any]:
    """The proof for one record, checked locally and (with ``rpc``) against the chain."""
    with Session(engine) as conn:
        row = conn.execute(
            select(Record, Source.name)
            .join(Source, Source.id == Record.source_id)
            .where(Source.name == source, Record.record_id == record_id)
        ).first()
        if row is None:
            raise ProofError(f"no record '{record_id}' from source '{source}'")
        record = row[0]
        if record.status == VOIDED:
            void = voided_info(conn, record.id) or {}
            replaced = f"; replaced by record '{void['replaced_by']}'" if void.get("replaced_by") else ""
            raise VoidedRecordError(
                f"record '{record_id}' is voided: correction {void.get('correction')} by {void.get('actor')} "
                f"(oracle {void.get('signer')}) at {void.get('at')}: {void.get('reason')}{replaced}. It counts in no total; "
                f"the correction's root covers the records that remain",
                void,
            )
        if record.status != ACCEPTED:
            raise ProofError(f"record '{record_id}' is {STATUS_NAMES.get(record.status, record.status)}, not accepted: it is in no report")
        meter, period, units = record.meter, record.period, record.units
        if meter is None or period is None or units is None:
            raise ProofError(f"record '{record_id}' is accepted but has no meter, period or units: the database was altered")
        address = conn.execute(select(Agreement.address).where(Agreement.id == record.agreement_id)).scalar_one()
        recomputed = leaf_preimage(address, meter, period, units, record.occurred_at, source, record_id)
        leaf = keccak(recomputed)
        candidates = _commitments(conn, record, leaf)
    if not candidates:
        raise ProofError(_uncovered(engine, record, record_id))
    base: dict[str, Any] = {
        "source": source,
        "record_id": record_id,
        "agreement": address,
        "meter": meter,
        "period": period,
        "quantity": units,
        "occurred_at": format_timestamp(record.occurred_at),
        "occurred_at_us": record.occurred_at,
        "leaf_preimage": _hex(recomputed),
        "leaf": _hex(leaf),
    }
    # the newest commitment that is on-chain; failing that, the newest one
    first: dict[str, Any] | None = None
    for candidate in candidates:
        out = {**base, **_proof(candidate, leaf)}
        if rpc is None:
            out["note"] = "no chain connection: checked against the stored root only"
            return out
        _check_onchain(rpc, address, period, meter, candidate, out)
        if out["verified"]:
            return out
        first = first or out
    assert first is not None
    return first


def _commitments(conn: Session, record: Record, leaf: bytes) -> list[dict[str, Any]]:
    """What covers the record, newest first: corrections of its period whose tree holds its leaf, then its report
    (a cut one that is not superseded, or superseded and confirmed before the correction)."""
    out: list[dict[str, Any]] = []
    corrections = conn.execute(
        select(Correction.id, Correction.root, Correction.status)
        .where(Correction.agreement_id == record.agreement_id, Correction.period == record.period)
        .where(Correction.status != CORRECTION_FAILED)
        .order_by(Correction.id.desc())
    ).all()
    for cid, root, status in corrections:
        rows = conn.execute(
            select(Report.id, Report.usages, Report.status, Report.tx_hash, Report.from_block, Report.block_number)
            .where(Report.kind == CORRECTION, Report.correction_id == cid)
            .order_by(Report.id)
        ).all()
        if rows and record.report_id is not None and record.report_id > rows[0].id:
            continue  # its report was opened after this correction: the correction cannot hold it
        tree_row = conn.execute(select(CorrectionTree).where(CorrectionTree.correction_id == cid)).scalar_one_or_none()
        if tree_row is None:
            continue
        tree = StoredTree(bytes(tree_row.tree))
        try:
            path = tree.proof(leaf)
        except ValidationError:
            continue
        # the correctUsage of the record's meter, else any of the correction (they all carry its root)
        mine = [r for r in rows if json.loads(r.usages)[0][0] == record.meter] or list(rows)
        tx = next((r for r in mine if r.status == CONFIRMED), mine[0] if mine else None)
        out.append(
            {
                "kind": "correction",
                "correction": cid,
                "correction_status": status,
                "root": bytes(root),
                "tree": tree,
                "path": path,
                "status": tx.status if tx else status,
                "tx_hash": tx.tx_hash if tx else None,
                "block_number": tx.block_number if tx else None,
                "from_block": tx.from_block if tx else None,
                "meter": json.loads(tx.usages)[0][0] if tx else record.meter,
                "report_id": None,
            }
        )
    if record.report_id is not None:
        report = conn.execute(select(Report).where(Report.id == record.report_id)).scalar_one()
        report_tree = conn.execute(select(ReportTree).where(ReportTree.report_pk == report.id)).scalar_one_or_none()
        # a cut sets the root and the report id together
        if report.root is not None and report.report_id is not None and report_tree is not None:
            tree = StoredTree(bytes(report_tree.tree))
            try:
                path = tree.proof(leaf)
            except ValidationError:
                raise ProofError(
                    f"the leaf of '{record.record_id}' computed from its stored fields is not in the tree of report {report.id}: "
                    "the database was altered"
                ) from None
            out.append(
                {
                    "kind": "report",
                    "correction": None,
                    "root": bytes(report.root),
                    "tree": tree,
                    "path": path,
                    "status": report.status,
                    "tx_hash": report.tx_hash,
                    "block_number": report.block_number,
                    "from_block": report.from_block,
                    "report_id": bytes(report.report_id),
                }
            )
    return out


def _uncovered(engine: Engine, record: Record, record_id: str) -> str:
    """Why no commitment covers an accepted record."""
    with Session(engine) as conn:
        report = conn.execute(select(Report).where(Report.id == record.report_id)).scalar_one_or_none() if record.report_id else None
        if report is not None and report.root is None and report.superseded_by is None:
            return f"record '{record_id}' is in report {report.id}, which is still open (not cut yet): try again after the next cut"
        covering = report.superseded_by if report is not None else record.correction_id
        if covering is not None:
            c = conn.execute(select(Correction.status, Correction.error).where(Correction.id == covering)).one()
            return (
                f"record '{record_id}' was covered by correction {covering}, which is {c.status}"
                + (f" ({c.error})" if c.error else "")
                + ": it reached no on-chain total"
            )
    return f"record '{record_id}' is in no cut report or correction"


def _proof(candidate: dict[str, Any], leaf: bytes) -> dict[str, Any]:
    path = candidate["path"]
    root = candidate["root"]
    return {
        "proof": [_hex(p) for p in path],
        "root": _hex(root),
        "leaf_count": candidate["tree"].leaf_count,
        "covered_by": candidate["kind"],
        "correction": candidate["correction"],
        "report_id": _hex(candidate["report_id"]),
        "report_status": candidate["status"],
        "tx_hash": _hex(candidate["tx_hash"]),
        "block_number": candidate["block_number"],
        "locally_verified": verify(path, root, leaf),
        "onchain_root": None,
        "verified": False,
    }


def _check_onchain(rpc: Rpc, address: str, period: int, meter: int, candidate: dict[str, Any], out: dict[str, Any]) -> None:
    if candidate["kind"] == "report":
        chain_root, log = onchain_root(rpc, address, candidate["report_id"], candidate["from_block"])
        if chain_root is None:
            out["note"] = f"no UsageReported event with report id {out['report_id']} on-chain (report is {candidate['status']})"
            return
    else:
        chain_root, log = None, None
        if candidate["tx_hash"] is not None:
            chain_root, log = correction_root(rpc, address, period, candidate["meter"], candidate["tx_hash"], candidate["from_block"])
        if chain_root is None:
            out["note"] = f"no UsageCorrected event of correction {candidate['correction']} on-chain yet (it is {candidate['status']})"
            return
    out["onchain_root"] = _hex(chain_root)
    out["event_tx"] = log["transactionHash"] if log else None
    out["verified"] = out["locally_verified"] and chain_root == candidate["root"]

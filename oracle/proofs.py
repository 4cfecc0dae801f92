"""Inclusion proofs: a record's Merkle path to its report's root, checked against the root that the chain's
``UsageReported`` event carries (looked up by the report id, an indexed topic)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from oracle.merkle import StoredTree, keccak, leaf_preimage, verify
from oracle.models import ACCEPTED, STATUS_NAMES, Agreement, Record, Report, ReportTree, Source
from oracle.records import format_timestamp
from oracle.rpc import Rpc
from oracle.txsign import USAGE_REPORTED_TOPIC
from settle.errors import ValidationError


class ProofError(ValidationError):
    """No proof can be given for this record (unknown, not accepted, or not in a cut report yet)."""


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
        if record.status != ACCEPTED:
            raise ProofError(f"record '{record_id}' is {STATUS_NAMES.get(record.status, record.status)}, not accepted: it is in no report")
        report = conn.execute(select(Report).where(Report.id == record.report_id)).scalar_one()
        if report.root is None:
            raise ProofError(
                f"record '{record_id}' is in report {report.id}, which is still open (not cut yet): try again after the next cut"
            )
        tree_row = conn.execute(select(ReportTree).where(ReportTree.report_pk == report.id)).scalar_one()
        address = conn.execute(select(Agreement.address).where(Agreement.id == record.agreement_id)).scalar_one()
    tree = StoredTree(bytes(tree_row.tree))
    recomputed = leaf_preimage(address, record.meter, record.period, record.units, record.occurred_at, source, record_id)
    leaf = keccak(recomputed)
    try:
        path = tree.proof(leaf)
    except ValidationError:
        raise ProofError(
            f"the leaf of '{record_id}' computed from its stored fields is not in the tree of report {report.id}: the database was altered"
        ) from None
    root = bytes(report.root)
    local_ok = verify(path, root, leaf)
    out: dict[str, Any] = {
        "source": source,
        "record_id": record_id,
        "agreement": address,
        "meter": record.meter,
        "period": record.period,
        "quantity": record.units,
        "occurred_at": format_timestamp(record.occurred_at),
        "occurred_at_us": record.occurred_at,
        "leaf_preimage": _hex(recomputed),
        "leaf": _hex(leaf),
        "proof": [_hex(p) for p in path],
        "root": _hex(root),
        "leaf_count": tree.leaf_count,
        "report_id": _hex(report.report_id),
        "report_status": report.status,
        "tx_hash": _hex(report.tx_hash),
        "block_number": report.block_number,
        "locally_verified": local_ok,
        "onchain_root": None,
        "verified": False,
    }
    if rpc is None:
        out["note"] = "no chain connection: checked against the stored root only"
        return out
    chain_root, log = onchain_root(rpc, address, bytes(report.report_id), report.from_block)
    if chain_root is None:
        out["note"] = f"no UsageReported event with report id {_hex(report.report_id)} on-chain (report is {report.status})"
        return out
    out["onchain_root"] = _hex(chain_root)
    out["event_tx"] = log["transactionHash"] if log else None
    out["verified"] = local_ok and chain_root == root
    return out

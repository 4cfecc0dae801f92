"""Which dunning policy each agreement follows (``gw_dunning_assignment``): the one its spec names (the deployment
record of the agreement, written by ``settle agreement create``), one the operator assigned (``settle dunning
assign``), or the default. The assignment keeps the policy as assigned, so a later change of a named policy does not
change what an agreement follows until it is assigned again.

The policies themselves (levels, actions, validation) are :mod:`settle.dunning`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.models import DunningAssignment, HistoryRecord, utcnow
from gateway.receivables.bulk import bulk_insert, bulk_insert_lines, new_ids
from settle.deployments import Deployments
from settle.dunning import DEFAULT_POLICY, Policy, PolicyError, known_policies, load_policy_file, parse_policy, resolve_policy
from settle.errors import SettleError

__all__ = ["SpecPolicies", "assign", "assignment_of", "ensure_assignments", "policy_from_option", "spec_policies"]


#: The policy an agreement's spec asks for, by (chain id, agreement); ``None``: the spec names none.
SpecPolicies = Callable[[int, str], Policy | None]
#: ``assigned_by`` of assignments the gateway makes itself.
GATEWAY = "gateway"


def spec_policies(directory: Path | None = None, *, known: Mapping[str, Policy] | None = None) -> SpecPolicies:
    """A lookup reading the agreements' deployment records (``deployments/<chain-id>.json``): the ``dunning``
    document ``settle agreement create`` recorded, else the ``dunning`` of the spec file the record names (a name is
    resolved among ``known``, default the built-in and SETTLE_DUNNING_POLICIES). Each chain's record is read once."""
    records: dict[int, dict[str, dict[str, Any]]] = {}

    def lookup(chain_id: int, agreement: str) -> Policy | None:
        if chain_id not in records:
            records[chain_id] = {address.lower(): record for address, record in Deployments(chain_id, directory).agreements().items()}
        record = records[chain_id].get(agreement.lower())
        if not record:
            return None
        if isinstance(record.get("dunning"), Mapping):
            return parse_policy(record["dunning"])
        spec_path = record.get("spec")
        if spec_path and Path(spec_path).is_file():
            from settle.spec import load_spec

            return load_spec(spec_path).dunning_policy(known)
        return None

    return lookup


def assignment_of(session: Session, chain_id: int, agreement: str) -> DunningAssignment | None:
    return session.scalar(
        select(DunningAssignment).where(DunningAssignment.chain_id == chain_id, DunningAssignment.agreement == agreement.lower())
    )


def assign(session: Session, chain_id: int, agreement: str, policy: Policy, *, source: str = "operator", by: str) -> DunningAssignment:
    """Assign ``policy`` to the agreement (replacing what it followed); recorded in ``gw_history``."""
    row = assignment_of(session, chain_id, agreement)
    if row is None:
        row = DunningAssignment(chain_id=chain_id, agreement=agreement.lower())
        session.add(row)
    row.policy_name, row.policy, row.source, row.assigned_by = policy.name, policy.document(), source, by
    session.flush()
    return row


def ensure_assignments(
    session: Session, chain_id: int, agreements: Iterable[str], *, from_spec: SpecPolicies | None = None, actor: str = GATEWAY
) -> tuple[dict[str, Policy], list[str]]:
    """The policy of each agreement (lower-case address → policy), assigning one to every agreement that has none
    yet: its spec's, else the default (in bulk, with its history). Returns the policies and the problems (a spec
    whose policy cannot be read: the default is not assumed for it, the agreement waits)."""
    wanted = {a.lower() for a in agreements}
    rows = session.execute(
        select(DunningAssignment.agreement, DunningAssignment.policy).where(DunningAssignment.chain_id == chain_id)
    ).all()
    policies: dict[str, Policy] = {}
    problems: list[str] = []
    unreadable: set[str] = set()
    documents: dict[str, Policy] = {}
    for agreement, document in rows:
        if agreement not in wanted:
            continue
        key = repr(sorted(document.items())) if isinstance(document, Mapping) else ""
        cached = documents.get(key)
        if cached is None:
            try:
                cached = documents[key] = parse_policy(document)
            except PolicyError as exc:
                problems.append(f"dunning policy of {agreement} cannot be read: {exc}")
                unreadable.add(agreement)
                continue
        policies[agreement] = cached
    missing = sorted(wanted - set(policies) - unreadable)
    new_rows: list[dict[str, Any]] = []
    default = DEFAULT_POLICY
    now = utcnow()
    documents_of: dict[int, tuple[Policy, dict[str, Any]]] = {}  # id(policy) → (policy, its document)
    for agreement in missing:
        source, policy = "default", default
        if from_spec is not None:
            try:
                found = from_spec(chain_id, agreement)
            except SettleError as exc:
                problems.append(f"dunning policy of {agreement} from its spec: {exc} (fix the spec or assign one: settle dunning assign)")
                continue
            if found is not None:
                source, policy = "spec", found
        policies[agreement] = policy
        known = documents_of.get(id(policy))
        if known is None:
            known = documents_of[id(policy)] = (policy, policy.document())
        new_rows.append(
            {
                "chain_id": chain_id,
                "agreement": agreement,
                "policy_name": policy.name,
                "policy": known[1],
                "source": source,
                "assigned_by": actor,
                "created_at": now,
                "updated_at": now,
            }
        )
    if new_rows:
        # ids from the sequence on PostgreSQL (one COPY, nothing to read back); elsewhere one executemany, then the
        # new ids by key; then their history
        ids = new_ids(session, DunningAssignment, len(new_rows))
        if ids is not None:
            bulk_insert_lines(
                session,
                DunningAssignment,
                ["id", *new_rows[0]],
                [(row_id, *row.values()) for row_id, row in zip(ids, new_rows, strict=True)],
            )
        else:
            bulk_insert(session, DunningAssignment, new_rows)
            created = {r["agreement"] for r in new_rows}
            id_of = {
                agreement: row_id
                for row_id, agreement in session.execute(
                    select(DunningAssignment.id, DunningAssignment.agreement).where(DunningAssignment.chain_id == chain_id)
                )
                if agreement in created
            }
            ids = [id_of[str(r["agreement"])] for r in new_rows]
        entity = DunningAssignment.__tablename__
        bulk_insert_lines(
            session,
            HistoryRecord,
            ("entity", "entity_id", "action", "actor", "changed_at", "old_values", "new_values"),
            [
                (
                    entity,
                    row_id,
                    "insert",
                    actor,
                    now,
                    None,
                    {k: v for k, v in row.items() if k not in ("created_at", "updated_at")},
                )
                for row_id, row in zip(ids, new_rows, strict=True)
            ],
        )
    return policies, problems


def policy_from_option(value: str) -> Policy:
    """``--policy NAME|FILE``: a known policy's name, or a YAML file holding one policy (or a policies file with one)."""
    path = Path(value)
    if path.suffix.lower() in (".yaml", ".yml", ".json") or path.is_file():
        return load_policy_file(path)
    return resolve_policy(value, known_policies())

"""``/v1/parties``, ``/v1/mandates``, ``/v1/payment-methods``: party master data, kept off-chain. Every change is
validated like the command line's (schwifty for IBANs) and kept in the history (``GET …/history``).

Who may do what (docs/portal.md, "Authorisation"): a party-bound principal (the party, its staff, its tokens)
reads its own master data and its counterparties' (those it shares an agreement with; anyone else's answers 404),
with its own IBANs in full and the others' masked, and reads its own history; it changes only its own records,
with the ``master-data`` scope (403 without). The operator reads and changes everything (IBANs in full with
``?reveal=true``); an auditor reads everything with IBANs masked and changes nothing. Every change is in the audit
log. A payment method's payer, payee, chain and token are read from the agreement on chain (an agreement of the
factory the gateway follows); its mandate and accounts must belong to those parties.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from gateway.api.deps import (
    AddressPath,
    CallerDep,
    ReaderDep,
    RevealDep,
    SessionDep,
    StateDep,
    address_param,
    require_change,
    require_scope,
    require_visible,
    shows_iban,
)
from gateway.api.schemas import (
    BankAccountIn,
    BankAccountOut,
    ChangeOut,
    MandateIn,
    MandateOut,
    PartyChange,
    PartyIn,
    PartyOut,
    PaymentMethodIn,
    PaymentMethodOut,
)
from gateway.chain.onchain import read_agreement
from gateway.errors import ConflictError, MasterDataError, NotFoundError
from gateway.models import Agreement, BankAccount, Mandate, Party, PaymentMethod
from gateway.parties import masterdata as master
from gateway.portal import audit
from settle.auth.principal import Principal
from settle.http import errors

router = APIRouter(prefix="/v1/parties", tags=["parties"], responses=errors(401, 403, 422))
mandates = APIRouter(prefix="/v1/mandates", tags=["mandates"], responses=errors(401, 403, 422))
methods = APIRouter(prefix="/v1/payment-methods", tags=["payment methods"], responses=errors(401, 403, 422))
#: A change is refused for a body that cannot be read (400, 413) or that contradicts what is stored (409); 401, 403
#: and 422 come from the routers.
CHANGE = errors(400, 409, 413)


def counterparties(session: Session, party: str, other: str) -> bool:
    """Whether ``party`` and ``other`` share an agreement (on chain, or a payment method set for one)."""
    pair = or_(and_(Agreement.payer == party, Agreement.payee == other), and_(Agreement.payer == other, Agreement.payee == party))
    if session.scalar(select(Agreement.id).where(pair).limit(1)) is not None:
        return True
    ids = dict(session.execute(select(Party.chain_address, Party.id).where(Party.chain_address.in_((party, other)))).all())
    if len(ids) < 2:
        return False
    mine, theirs = ids[party], ids[other]
    method = or_(
        and_(PaymentMethod.payer_party_id == mine, PaymentMethod.payee_party_id == theirs),
        and_(PaymentMethod.payer_party_id == theirs, PaymentMethod.payee_party_id == mine),
    )
    return session.scalar(select(PaymentMethod.id).where(method).limit(1)) is not None


def sees_party(session: Session, principal: Principal, address: str) -> bool:
    """Whether ``principal`` may read the master data of party ``address``: its own, a counterparty's, or any for
    the operator and auditors."""
    if principal.sees_all:
        return True
    if principal.party is None or not principal.has("read"):
        return False
    return principal.party == address or counterparties(session, principal.party, address)


def _visible_party(session: Session, principal: Principal, address: str) -> Party:
    """The party, or 404 — the same 404 whether it does not exist or the principal may not see it (checked before
    the lookup, whose message may suggest a similar address)."""
    if not sees_party(session, principal, address):
        raise NotFoundError(f"party {address} is not known to the gateway")
    return master.get_party(session, address)


def _changeable_party(session: Session, principal: Principal, address: str) -> None:
    """A change of party ``address``'s master data: 404 if the principal may not even see it (its own party it
    always may, whether it is registered yet or not), 403 if it may see but not change it."""
    if principal.is_operator:
        return
    if principal.party != address:
        if not sees_party(session, principal, address):
            raise NotFoundError(f"party {address} is not known to the gateway")
        raise HTTPException(403, f"{principal.subject} may not change party {address}")
    require_change(principal, address, what=f"party {address}")


def _add_account(session: Session, principal: Principal, address: str, body: BankAccountIn) -> BankAccount:
    try:
        return master.add_bank_account(
            session, address, iban_value=body.iban, bic=body.bic, holder_name=body.holder_name, shared_reason=body.shared_reason
        )
    except ConflictError as exc:
        if principal.sees_all:
            raise
        # the store's message names the parties that hold the IBAN: a party must not learn who banks where
        raise ConflictError(
            f"account {master.mask_iban(body.iban)} is already held (by this party, or by another: if both really use it, "
            "mark it shared with a reason, shared_reason)"
        ) from exc


def party_out(party: Party, principal: Principal, reveal: bool) -> PartyOut:
    full = shows_iban(principal, party.chain_address, reveal)
    return PartyOut(
        address=party.chain_address,
        legal_name=party.legal_name,
        country=party.country,
        street=party.street,
        postal_code=party.postal_code,
        city=party.city,
        vat_id=party.vat_id,
        creditor_id=party.creditor_id,
        contact_name=party.contact_name,
        contact_phone=party.contact_phone,
        contact_email=party.contact_email,
        buyer_reference=party.buyer_reference,
        active=party.active,
        accounts=[
            BankAccountOut(
                iban=a.iban if full else master.mask_iban(a.iban),
                bic=a.bic,
                holder_name=a.holder_name,
                active=a.active,
                shared_reason=a.shared_reason,
            )
            for a in party.accounts
        ],
    )


def mandate_out(mandate: Mandate) -> MandateOut:
    return MandateOut(
        reference=mandate.reference,
        creditor_id=mandate.creditor_id,
        debtor=mandate.debtor.chain_address,
        creditor=mandate.creditor.chain_address,
        signed_on=mandate.signed_on,
        scheme=mandate.scheme.value,
        sequence=mandate.sequence.value,
        status=mandate.status.value,
    )


def method_out(method: PaymentMethod) -> PaymentMethodOut:
    return PaymentMethodOut(
        agreement=method.agreement,
        chain_id=method.chain_id,
        kind=method.kind.value,
        payer=method.payer.chain_address,
        payee=method.payee.chain_address,
        mandate=method.mandate.reference if method.mandate is not None else None,
    )


@router.post("", status_code=201, summary="Register a party (optionally with its bank account)", responses=CHANGE)
def add_party(body: PartyIn, session: SessionDep, principal: CallerDep, reveal: RevealDep) -> PartyOut:
    """The operator registers any party; a party only itself (with the ``master-data`` scope)."""
    address = body.address.strip().lower()
    require_scope(principal, "master-data")
    if not principal.is_operator and principal.party != address:
        raise HTTPException(403, f"{principal.subject} may register only its own party")
    party = master.add_party(
        session,
        address=body.address,
        legal_name=body.legal_name,
        country=body.country,
        street=body.street,
        postal_code=body.postal_code,
        city=body.city,
        vat=body.vat_id,
        creditor_id=body.creditor_id,
        contact_name=body.contact_name,
        contact_phone=body.contact_phone,
        contact_email=body.contact_email,
        buyer_reference=body.buyer_reference,
    )
    if body.account is not None:
        _add_account(session, principal, party.chain_address, body.account)
    session.refresh(party)
    audit.record(
        session,
        principal,
        "party.registered",
        target=party.chain_address,
        party=party.chain_address,
        detail={"account": body.account is not None},
    )
    return party_out(party, principal, reveal)


@router.get("/{address}", summary="A party's master data (own IBANs in full, others' masked)", responses=errors(404))
def get_party(address: AddressPath, session: SessionDep, principal: ReaderDep, reveal: RevealDep) -> PartyOut:
    party = _visible_party(session, principal, address_param(address))
    return party_out(party, principal, reveal)


@router.patch(
    "/{address}",
    summary="Change a party's master data (old values stay in its history)",
    responses={**CHANGE, **errors(404)},
)
def change_party(address: AddressPath, body: PartyChange, session: SessionDep, principal: CallerDep, reveal: RevealDep) -> PartyOut:
    address = address_param(address)
    _changeable_party(session, principal, address)
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise MasterDataError("nothing to change: give at least one field")
    party = master.update_party(session, address, **changes)
    audit.record(session, principal, "party.changed", target=address, party=address, detail={"fields": sorted(changes)})
    return party_out(party, principal, reveal)


@router.post(
    "/{address}/accounts",
    status_code=201,
    summary="Add a bank account (IBAN checked, BIC derived when omitted)",
    responses={**CHANGE, **errors(404)},
)
def add_account(address: AddressPath, body: BankAccountIn, session: SessionDep, principal: CallerDep, reveal: RevealDep) -> PartyOut:
    address = address_param(address)
    _changeable_party(session, principal, address)
    account = _add_account(session, principal, address, body)
    party = master.get_party(session, address)
    session.refresh(party)
    # the IBAN is master data, not a secret, but the audit log is read more widely than the history: masked there
    audit.record(session, principal, "bank_account.added", target=master.mask_iban(account.iban), party=address)
    return party_out(party, principal, reveal)


@router.get(
    "/{address}/history",
    summary="Every change of the party, its accounts, mandates and payment methods (the party itself, the operator, auditors)",
    responses=errors(404),
)
def history(address: AddressPath, session: SessionDep, principal: ReaderDep, reveal: RevealDep) -> list[ChangeOut]:
    address = address_param(address)
    _visible_party(session, principal, address)
    if not (principal.sees_all or principal.party == address):
        raise HTTPException(403, f"{principal.subject} may read only its own party's history")
    full = shows_iban(principal, address, reveal)

    def shown(values: dict | None) -> dict | None:
        if values is None or full:
            return values
        return {k: master.mask_iban(v) if k == "iban" and isinstance(v, str) else v for k, v in values.items()}

    return [
        ChangeOut(
            entity=c.entity,
            entity_id=c.entity_id,
            action=c.action,
            actor=c.actor,
            changed_at=c.changed_at,
            old=shown(c.old),
            new=shown(c.new),
        )
        for c in master.party_history(session, address)
    ]


@mandates.post("", status_code=201, summary="Record a signed SEPA direct debit mandate", responses={**CHANGE, **errors(404)})
def add_mandate(body: MandateIn, session: SessionDep, principal: CallerDep) -> MandateOut:
    """The operator, or the debtor or the creditor of the mandate (``master-data`` scope)."""
    require_scope(principal, "master-data")
    if not principal.is_operator and principal.party not in (body.debtor.strip().lower(), body.creditor.strip().lower()):
        raise HTTPException(403, f"{principal.subject} may record only mandates it is debtor or creditor of")
    mandate = master.add_mandate(
        session,
        debtor=body.debtor,
        creditor=body.creditor,
        reference=body.reference,
        signed_on=body.signed_on,
        scheme=body.scheme,
        debtor_iban=body.debtor_iban,
        creditor_id=body.creditor_id,
        sequence=body.sequence,
    )
    audit.record(
        session,
        principal,
        "mandate.added",
        target=mandate.reference,
        detail={"debtor": body.debtor.lower(), "creditor": body.creditor.lower()},
    )
    return mandate_out(mandate)


@mandates.post(
    "/{reference}/revoke",
    summary="Revoke a mandate: nothing more is collected with it",
    responses=errors(400, 404, 409),
)
def revoke_mandate(
    reference: Annotated[str, Path(max_length=35)],
    session: SessionDep,
    principal: CallerDep,
    creditor_id: Annotated[str | None, Query(max_length=35, description="If several creditors use the reference.")] = None,
) -> MandateOut:
    """The operator, or the mandate's debtor or creditor (``master-data`` scope); another's mandate answers 404."""
    if not principal.sees_all:
        # a party-bound caller looks only among its own mandates (another's does not exist for it)
        own = [
            m
            for m in session.scalars(select(Mandate).where(Mandate.reference == reference.strip()))
            if principal.party in (m.debtor.chain_address, m.creditor.chain_address)
        ]
        if not own:
            raise NotFoundError(f"mandate {reference!r} is not known to the gateway")
    mandate = master.get_mandate(session, reference, creditor_id)
    require_change(principal, mandate.debtor.chain_address, mandate.creditor.chain_address, what=f"mandate {reference}")
    revoked = master.revoke_mandate(session, reference, creditor_id)
    audit.record(session, principal, "mandate.revoked", target=revoked.reference, party=principal.party or revoked.creditor.chain_address)
    return mandate_out(revoked)


@methods.put(
    "/{agreement}",
    summary="Set how an agreement's settlements are paid (payer, payee and token read from the agreement on chain)",
    responses={**CHANGE, **errors(404, 502, 503)},
)
def set_method(
    agreement: AddressPath, body: PaymentMethodIn, session: SessionDep, principal: CallerDep, state: StateDep
) -> PaymentMethodOut:
    """The operator, or the agreement's payer or payee (``master-data`` scope); another's agreement answers 404."""
    address = address_param(agreement, "agreement")
    require_scope(principal, "master-data")
    if not principal.sees_all:
        # a party-bound caller names only agreements the gateway follows and shows it (another's answers 404 before
        # the chain is asked); the chain then says who the payer and payee are
        known = session.scalars(select(Agreement).where(Agreement.address == address)).all()
        if principal.party not in {p for a in known for p in (a.payer, a.payee)}:
            raise NotFoundError(f"agreement {address} is not known to the gateway")
    if state.chain is None or not state.agreement_factory:
        raise HTTPException(
            503, "payment methods are checked against the chain and this gateway has no chain connection or factory; use the command line"
        )
    onchain = read_agreement(state.chain, address, factory=state.agreement_factory)
    require_change(principal, onchain.payer, onchain.payee, what=f"agreement {address}")
    method = master.set_payment_method(
        session, onchain, kind=body.kind, mandate=body.mandate, payee_iban=body.payee_iban, payer_iban=body.payer_iban
    )
    audit.record(session, principal, "payment_method.set", target=address, detail={"kind": method.kind.value})
    return method_out(method)


@methods.get("/{agreement}", summary="How an agreement is paid", responses=errors(404))
def get_method(agreement: AddressPath, session: SessionDep, principal: ReaderDep, state: StateDep) -> PaymentMethodOut:
    query = select(PaymentMethod).where(PaymentMethod.agreement == address_param(agreement, "agreement"))
    if state.chain_id is not None:
        query = query.where(PaymentMethod.chain_id == state.chain_id)
    method = session.scalar(query)
    if method is None:
        raise NotFoundError(f"no payment method set for {agreement}")
    require_visible(principal, method.payer.chain_address, method.payee.chain_address, what=f"payment method of {agreement}")
    return method_out(method)

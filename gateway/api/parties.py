"""``/v1/parties``, ``/v1/mandates``, ``/v1/payment-methods``: party master data, kept off-chain. Every change is
validated like the command line's (schwifty for IBANs) and kept in the history (``GET …/history``).

The ``X-Settle-Party`` header is self-declared and only narrows: with it, another party's records are refused (403);
it never unmasks an IBAN nor opens the history. IBANs are masked unless the request asks ``?reveal=true`` with the
operator's bearer token, and the history needs that token too. A payment method's payer, payee, chain and token are
read from the agreement on chain (an agreement of the factory the gateway follows); its mandate and accounts must
belong to those parties.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from sqlalchemy import select

from gateway.api.deps import AddressPath, RevealDep, SessionDep, StateDep, TenantDep, WriterDep, address_param, require_tenant_is
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
from gateway.errors import MasterDataError, NotFoundError
from gateway.models import Mandate, Party, PaymentMethod
from gateway.parties import masterdata as master
from settle.http import errors

router = APIRouter(prefix="/v1/parties", tags=["parties"], responses=errors(403, 422))
mandates = APIRouter(prefix="/v1/mandates", tags=["mandates"], responses=errors(403, 422))
methods = APIRouter(prefix="/v1/payment-methods", tags=["payment methods"], responses=errors(403, 422))
#: A change is refused without the token (401), for a body that cannot be read (400, 413) or that contradicts
#: what is stored (409); 403 and 422 come from the routers.
CHANGE = errors(400, 401, 409, 413)


def party_out(party: Party, reveal: bool) -> PartyOut:
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
                iban=a.iban if reveal else master.mask_iban(a.iban),
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


@router.post("", status_code=201, summary="Register a party (optionally with its bank account)", dependencies=[WriterDep], responses=CHANGE)
def add_party(body: PartyIn, session: SessionDep, tenant: TenantDep, reveal: RevealDep) -> PartyOut:
    require_tenant_is(tenant, body.address)
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
        master.add_bank_account(
            session,
            party.chain_address,
            iban_value=body.account.iban,
            bic=body.account.bic,
            holder_name=body.account.holder_name,
            shared_reason=body.account.shared_reason,
        )
    session.refresh(party)
    return party_out(party, reveal)


@router.get("/{address}", summary="A party's master data", responses=errors(401, 404))
def get_party(address: AddressPath, session: SessionDep, tenant: TenantDep, reveal: RevealDep) -> PartyOut:
    party = master.get_party(session, address_param(address))
    require_tenant_is(tenant, party.chain_address)
    return party_out(party, reveal)


@router.patch(
    "/{address}",
    summary="Change a party's master data (old values stay in its history)",
    dependencies=[WriterDep],
    responses={**CHANGE, **errors(404)},
)
def change_party(address: AddressPath, body: PartyChange, session: SessionDep, tenant: TenantDep, reveal: RevealDep) -> PartyOut:
    address = address_param(address)
    require_tenant_is(tenant, address)
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise MasterDataError("nothing to change: give at least one field")
    party = master.update_party(session, address, **changes)
    return party_out(party, reveal)


@router.post(
    "/{address}/accounts",
    status_code=201,
    summary="Add a bank account (IBAN checked, BIC derived when omitted)",
    dependencies=[WriterDep],
    responses={**CHANGE, **errors(404)},
)
def add_account(address: AddressPath, body: BankAccountIn, session: SessionDep, tenant: TenantDep, reveal: RevealDep) -> PartyOut:
    address = address_param(address)
    require_tenant_is(tenant, address)
    master.add_bank_account(
        session, address, iban_value=body.iban, bic=body.bic, holder_name=body.holder_name, shared_reason=body.shared_reason
    )
    party = master.get_party(session, address)
    session.refresh(party)
    return party_out(party, reveal)


@router.get(
    "/{address}/history",
    summary="Every change of the party, its accounts, mandates and payment methods (operator's token)",
    dependencies=[WriterDep],
    responses=errors(401, 404),
)
def history(address: AddressPath, session: SessionDep, tenant: TenantDep, reveal: RevealDep) -> list[ChangeOut]:
    address = address_param(address)
    require_tenant_is(tenant, address)

    def shown(values: dict | None) -> dict | None:
        if values is None or reveal:
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


@mandates.post(
    "", status_code=201, summary="Record a signed SEPA direct debit mandate", dependencies=[WriterDep], responses={**CHANGE, **errors(404)}
)
def add_mandate(body: MandateIn, session: SessionDep, tenant: TenantDep) -> MandateOut:
    require_tenant_is(tenant, body.debtor, body.creditor)
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
    return mandate_out(mandate)


@mandates.post(
    "/{reference}/revoke",
    summary="Revoke a mandate: nothing more is collected with it",
    dependencies=[WriterDep],
    responses=errors(400, 401, 404, 409),
)
def revoke_mandate(
    reference: Annotated[str, Path(max_length=35)],
    session: SessionDep,
    tenant: TenantDep,
    creditor_id: Annotated[str | None, Query(max_length=35, description="If several creditors use the reference.")] = None,
) -> MandateOut:
    mandate = master.get_mandate(session, reference, creditor_id)
    require_tenant_is(tenant, mandate.debtor.chain_address, mandate.creditor.chain_address)
    return mandate_out(master.revoke_mandate(session, reference, creditor_id))


@methods.put(
    "/{agreement}",
    summary="Set how an agreement's settlements are paid (payer, payee and token read from the agreement on chain)",
    dependencies=[WriterDep],
    responses={**CHANGE, **errors(404, 502, 503)},
)
def set_method(agreement: AddressPath, body: PaymentMethodIn, session: SessionDep, tenant: TenantDep, state: StateDep) -> PaymentMethodOut:
    address = address_param(agreement, "agreement")
    if state.chain is None or not state.agreement_factory:
        raise HTTPException(
            503, "payment methods are checked against the chain and this gateway has no chain connection or factory; use the command line"
        )
    onchain = read_agreement(state.chain, address, factory=state.agreement_factory)
    require_tenant_is(tenant, onchain.payer, onchain.payee)
    method = master.set_payment_method(
        session, onchain, kind=body.kind, mandate=body.mandate, payee_iban=body.payee_iban, payer_iban=body.payer_iban
    )
    return method_out(method)


@methods.get("/{agreement}", summary="How an agreement is paid", responses=errors(404))
def get_method(agreement: AddressPath, session: SessionDep, tenant: TenantDep, state: StateDep) -> PaymentMethodOut:
    query = select(PaymentMethod).where(PaymentMethod.agreement == address_param(agreement, "agreement"))
    if state.chain_id is not None:
        query = query.where(PaymentMethod.chain_id == state.chain_id)
    method = session.scalar(query)
    if method is None:
        raise NotFoundError(f"no payment method set for {agreement}")
    require_tenant_is(tenant, method.payer.chain_address, method.payee.chain_address)
    return method_out(method)

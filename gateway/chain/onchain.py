"""What the chain says about an agreement, for the master data: its chain id, payer, payee and token.

A payment method decides whose account is debited; it is set from these facts (``settle payment-method set`` and
``PUT /v1/payment-methods/{agreement}``), never from parties someone typed. Only agreements of the factory the
gateway follows count: any contract can answer ``parties()``, only the factory's clones are billed.
"""

from __future__ import annotations

from eth_utils import is_address, to_checksum_address

from gateway.errors import MasterDataError, NotFoundError
from gateway.parties.masterdata import ChainAgreement
from settle.chain import Chain
from settle.deployments import Deployments
from settle.errors import ConfigError
from settle.terms import Terms


def read_agreement(chain: Chain, address: str, *, factory: str) -> ChainAgreement:
    """The agreement at ``address`` as the chain shows it; :class:`NotFoundError` if ``factory`` did not create it."""
    if not isinstance(address, str) or not is_address(address.strip()):
        raise MasterDataError(f"agreement: {address!r} is not a 0x-prefixed 40-digit hex address")
    checksummed = to_checksum_address(address.strip())
    if not is_address(factory or ""):
        raise MasterDataError(f"factory: {factory!r} is not a 0x-prefixed 40-digit hex address")
    if chain.w3.eth.get_code(checksummed) in (b"", b"\x00"):
        raise NotFoundError(f"agreement {checksummed.lower()}: no contract at this address on chain {chain.chain_id}")
    if not chain.call(chain.contract("IAgreementFactory", to_checksum_address(factory)).functions.isAgreement(checksummed)):
        raise NotFoundError(
            f"agreement {checksummed.lower()} was not created by the factory {factory.lower()} that the gateway follows "
            f"on chain {chain.chain_id}"
        )
    contract = chain.contract("IBillingAgreement", checksummed)
    payer, payee = chain.call(contract.functions.parties())
    terms, _version = chain.call(contract.functions.terms())
    return ChainAgreement(
        chain_id=chain.chain_id,
        address=checksummed.lower(),
        payer=str(payer).lower(),
        payee=str(payee).lower(),
        token=str(Terms.from_abi(terms).token).lower(),
    )


def resolve_reference(chain_id: int, reference: str) -> str:
    """An agreement address from an address, or from a name or spec reference in ``deployments/<chain-id>.json``."""
    from settle.operator import resolve_agreement

    try:
        return resolve_agreement(Deployments(chain_id), reference.strip()).lower()
    except ConfigError as exc:
        raise NotFoundError(f"agreement: {exc}") from None

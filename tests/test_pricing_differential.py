"""Differential tests: the contract and the Python reference model agree to the minor unit.

- 600 generated terms and usage sets through the factory's ``computeCharge`` (the code ``settle`` runs): net, VAT
  and gross, biased toward tier boundaries, zero usage, included quantity, minimum vs cap, package rounding,
  near-limit values and every VAT category (19 %, 7 %, 100 %, 0.01 % and any rate for Standard);
- generated cases through a real agreement: create, accept, report usage, time travel, ``settle`` (the
  settlement's amount and the net and VAT of its ``SettlementTriggered`` event);
- packing and hashing: ``encodeTerms`` returns the bytes and hash the Python model computes;
- period calendar: ``periodBounds`` equals the Python schedule.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import half_unit_cases, terms, terms_and_usage

from settle.chain import DevChain
from settle.errors import ContractRevert
from settle.pricing import max_period_gross, period_charge
from settle.terms import UINT96_MAX, ZERO_ADDRESS, IntervalKind, InvalidTerms, Terms

CHAIN_SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def factory(session_chain):
    admin = session_chain.dev_accounts(1)[0]
    dev = DevChain(session_chain)
    snapshot = dev.snapshot()
    deployed = session_chain.deploy("AgreementFactory", admin.address, sender=admin)
    yield deployed
    dev.revert(snapshot)


@settings(CHAIN_SETTINGS, max_examples=600)
@given(case=terms_and_usage(vat=True))
def test_compute_charge_matches_model(factory, case):
    t, usage = case
    charge = period_charge(t, usage)
    net, vat, gross = factory.functions.computeCharge(t.to_abi(), usage).call()
    assert (net, vat, gross) == (charge.net, charge.vat, charge.gross)
    assert net + vat == gross


@settings(CHAIN_SETTINGS, max_examples=300)
@given(t=terms(vat=True))
def test_cap_required_exactly_where_the_model_says(session_chain, factory, t: Terms):
    """Without a cap, the factory refuses terms whose largest amount with VAT exceeds 2^96 - 1, naming that amount —
    the same terms and the same amount the Python model refuses."""
    uncapped = dataclasses.replace(t, token=ZERO_ADDRESS, cap=0)
    most = max_period_gross(uncapped)
    if most <= UINT96_MAX:
        uncapped.validate()
        packed, _ = factory.functions.encodeTerms(uncapped.to_abi()).call()
        assert bytes(packed) == uncapped.pack()
        return
    with pytest.raises(InvalidTerms, match=rf"^cap: required: without a cap a period can cost up to {most} minor units with VAT"):
        uncapped.validate()
    with pytest.raises(ContractRevert) as info:
        session_chain.call(factory.functions.encodeTerms(uncapped.to_abi()))
    assert info.value.error_name == "Terms_CapRequired" and info.value.error_args == (most,)


@settings(CHAIN_SETTINGS, max_examples=60)
@given(rate=st.integers(1, 10_000), over=st.integers(0, 3))
def test_cap_plus_vat_bound_matches_model(session_chain, factory, rate: int, over: int):
    """The largest cap a VAT rate allows is accepted on both sides; one more minor unit is refused on both."""
    from settle.terms import Meter, VatCategory, max_cap_for_rate

    cap = max_cap_for_rate(rate) + over
    t = Terms(
        currency="EUR",
        minor_digits=2,
        start=1_735_689_600,
        cap=cap,
        vat_category=VatCategory.STANDARD,
        vat_rate=rate,
        meters=(Meter.flat(1),),
    )
    if over == 0:
        t.validate()
        packed, _ = factory.functions.encodeTerms(t.to_abi()).call()
        assert bytes(packed) == t.pack()
        return
    most = max_period_gross(t)
    with pytest.raises(InvalidTerms, match=rf"^cap: {cap} plus VAT is {most} minor units"):
        t.validate()
    with pytest.raises(ContractRevert) as info:
        session_chain.call(factory.functions.encodeTerms(t.to_abi()))
    assert info.value.error_name == "Terms_CapRequired" and info.value.error_args == (most,)


@settings(CHAIN_SETTINGS, max_examples=100)
@given(case=half_unit_cases())
def test_half_a_minor_unit_rounds_up_on_both_sides(factory, case):
    t, usage = case
    assert factory.functions.computeAmount(t.to_abi(), usage).call() == period_charge(t, usage).amount


@settings(CHAIN_SETTINGS, max_examples=150)
@given(t=terms(vat=True))
def test_encode_terms_matches_packing_and_hash(factory, t: Terms):
    t = dataclasses.replace(t, token=ZERO_ADDRESS)  # encodeTerms checks the token allow-list; pricing does not
    packed, terms_hash = factory.functions.encodeTerms(t.to_abi()).call()
    assert bytes(packed) == t.pack()
    assert bytes(terms_hash) == t.terms_hash()
    assert Terms.unpack(bytes(packed)) == t


def _deploy_agreement(chain, factory, t: Terms, salt: int):
    admin, payer, payee = chain.dev_accounts(3)
    f = factory.functions
    receipt = chain.transact(f.createAgreement(payer.address, payee.address, t.to_abi(), salt.to_bytes(32, "big")), admin)
    agreement = chain.contract("BillingAgreement", factory.events.AgreementCreated().process_receipt(receipt)[0]["args"]["agreement"])
    for party in (payer, payee):
        chain.transact(agreement.functions.accept(1, t.terms_hash()), party)
    return agreement


@pytest.fixture(scope="module")
def roles(session_chain, factory):
    admin, _, _, oracle = session_chain.dev_accounts(4)
    f = factory.functions
    dev = DevChain(session_chain)
    snapshot = dev.snapshot()
    session_chain.transact(f.setSignerDelay(0), admin)
    session_chain.transact(f.grantRole(f.OPERATOR_ROLE().call(), admin.address), admin)
    session_chain.transact(f.grantRole(f.ORACLE_ROLE().call(), oracle.address), admin)
    yield oracle
    dev.revert(snapshot)


@settings(CHAIN_SETTINGS, max_examples=40)
@given(case=terms_and_usage(vat=True), salt=st.integers(1, 2**64))
def test_settle_charges_what_the_model_says(session_chain, factory, roles, case, salt):
    oracle = roles
    chain = session_chain
    dev = DevChain(chain)
    t, usage = case
    start = dev.now() + 3_600
    # A fiat agreement starting soon: the generated schedule kind and interval are kept, the rest is priced.
    t = dataclasses.replace(t, token=ZERO_ADDRESS, start=start, end=0, grace_seconds=min(t.grace_seconds, 7 * 86_400))
    snapshot = dev.snapshot()
    try:
        agreement = _deploy_agreement(chain, factory, t, salt)
        dev.advance_to(start + 1)
        meters = [(i, q) for i, q in enumerate(usage) if q > 0]
        if meters:
            chain.transact(agreement.functions.reportUsage(0, b"\x01" * 32, b"\x02" * 32, 0, meters), oracle)
        assert list(agreement.functions.usageOf(0).call()) == usage
        charge = period_charge(t, usage)
        dev.advance_to(t.settleable_at(0))
        payee = chain.dev_accounts(3)[2]
        # Valid terms cap every amount that could outgrow a settlement (Terms_CapRequired), so each one settles.
        assert charge.fits
        receipt = chain.transact(agreement.functions.settle(0), payee)
        (event,) = agreement.events.SettlementTriggered().process_receipt(receipt)
        assert (event["args"]["net"], event["args"]["vat"], event["args"]["amount"]) == (charge.net, charge.vat, charge.gross)
        settlement = agreement.functions.settlement(0).call()
        assert settlement[0] == charge.amount
        assert agreement.functions.outstanding().call() == charge.amount
        assert agreement.functions.dueDate(0).call() == t.due_at(0)
    finally:
        dev.revert(snapshot)


@settings(CHAIN_SETTINGS, max_examples=60)
@given(
    kind=st.sampled_from(IntervalKind),
    months=st.integers(1, 12),
    seconds=st.integers(3_600, 90 * 86_400),
    day=st.integers(0, 3 * 365),
    offset=st.integers(0, 86_399),
    period=st.integers(0, 400),
    salt=st.integers(1, 2**64),
)
def test_period_bounds_match_calendar(session_chain, factory, roles, kind, months, seconds, day, offset, period, salt):
    chain = session_chain
    dev = DevChain(chain)
    from settle.terms import Meter

    # Starts on any day (anchors 28–31 included) of the next three years, at any time of day.
    start = (dev.now() // 86_400 + 1 + day) * 86_400 + offset
    t = Terms(
        currency="EUR",
        minor_digits=2,
        interval_kind=kind,
        interval=months if kind is IntervalKind.CALENDAR_MONTH else seconds,
        start=start,
        meters=(Meter.flat(100),),
    )
    snapshot = dev.snapshot()
    try:
        agreement = _deploy_agreement(chain, factory, t, salt)
        assert tuple(agreement.functions.periodBounds(period).call()) == (t.period_start(period), t.period_end(period))
    finally:
        dev.revert(snapshot)

"""create, accept (key and signature file), amend, pause/resume, terminate: happy paths, invalid specs, callers
without the role (the contract's custom error as a sentence), dry runs that send nothing."""

from __future__ import annotations

import json

import pytest
from operator_support import (
    OPERATOR,
    PAYEE,
    PAYER,
    STRANGER,
    active,
    chain_now,
    deployments_dir,
    factory,
    make_session,
    make_spec,
    operator_session,
    proposed,
    sessions,
    state_of,
)

from settle.errors import ConfigError, ContractRevert, ValidationError
from settle.operator import (
    accept,
    amend,
    create_agreement,
    pause,
    reject_amendment,
    resume,
    sign_acceptance,
    submit_signature,
    terminate,
)
from settle.spec import SpecError
from settle.status import AgreementState

__all__ = ["active", "deployments_dir", "factory", "operator_session", "proposed", "sessions"]  # fixtures used below


def address_of(chain, index: int) -> str:
    return chain.dev_accounts(6)[index].address


def agreement_state(chain, address: str) -> AgreementState:
    return AgreementState(chain.call(chain.contract("IBillingAgreement", address).functions.state()))


# -- create ------------------------------------------------------------------------------------------------------------


def test_create_records_the_agreement(chain, sessions, deployments_dir):
    spec = make_spec(chain_now(chain) - 3600, reference="ERP-7")
    outcome = create_agreement(sessions[OPERATOR], spec, spec_path="plan.yaml")
    address = outcome.result["agreement"]
    contract = chain.contract("IBillingAgreement", address)
    assert chain.call(contract.functions.parties()) == [address_of(chain, PAYER), address_of(chain, PAYEE)]
    assert agreement_state(chain, address) is AgreementState.PROPOSED
    _, terms_hash, _ = chain.call(contract.functions.termsAt(1))
    assert "0x" + bytes(terms_hash).hex() == outcome.result["terms_hash"] == "0x" + spec.to_terms().terms_hash().hex()
    record = json.loads((deployments_dir / "31337.json").read_text())["agreements"][address]
    assert record["reference"] == "ERP-7" and record["payer"]["name"] == "Payer GmbH" and record["spec"] == "plan.yaml"
    assert [m["name"] for m in record["meters"]] == ["api_calls", "storage"]
    # The same parties, terms and reference cannot be created twice: refused before sending.
    before = state_of(chain)
    with pytest.raises(ConfigError, match=f"already exists at {address}: change `reference`"):
        create_agreement(sessions[OPERATOR], spec)
    assert state_of(chain) == before


def test_create_with_an_invalid_spec_sends_nothing(chain, sessions):
    bad = make_spec(chain_now(chain), cap="5.00")  # below the minimum of 10.00
    before = state_of(chain)
    with pytest.raises(SpecError, match=r"cap: 5.00 EUR is below minimum_commitment 10.00 EUR"):
        create_agreement(sessions[OPERATOR], bad)
    assert state_of(chain) == before


def test_create_with_a_token_not_allowed_is_refused_readably(chain, sessions):
    token = sessions[OPERATOR].deployments.data["tokens"]["EURT"]["address"]
    from settle.operator import allow_token

    allow_token(sessions[OPERATOR], "EURT", allowed=False)
    before = state_of(chain)
    with pytest.raises(ContractRevert) as info:
        create_agreement(sessions[OPERATOR], make_spec(chain_now(chain), token="EURT"))
    assert str(info.value) == (
        "create Test plan T-1 refused: The terms name an ERC-20 token that is not allow-listed "
        f"[AgreementFactory_TokenNotAllowed(token={token})]"
    )
    assert [a.lower() for a in info.value.error_args] == [token.lower()]
    assert state_of(chain) == before


def test_create_by_a_non_operator_is_refused_readably(chain, sessions):
    before = state_of(chain)
    with pytest.raises(ContractRevert) as info:
        create_agreement(sessions[STRANGER], make_spec(chain_now(chain)))
    stranger = address_of(chain, STRANGER)
    assert str(info.value) == f"create Test plan T-1 refused: {stranger} does not hold the operator role [AccessControlUnauthorizedAccount]"
    assert "0x" not in str(info.value).split("refused:")[1].replace(stranger, "")  # no raw revert bytes
    assert state_of(chain) == before


def test_create_dry_run_shows_the_decoded_call_and_sends_nothing(chain, rpc_url, deployments_dir, factory):
    session = make_session(chain, rpc_url, deployments_dir, OPERATOR, dry_run=True)
    before = state_of(chain)
    outcome = create_agreement(session, make_spec(chain_now(chain)))
    assert outcome.dry_run and outcome.gas > 100_000 and outcome.tx_hash is None
    text = session.say.text  # type: ignore[attr-defined]
    assert "call createAgreement(address,address,Terms,bytes32)" in text
    assert f"payer = {address_of(chain, PAYER)}" in text and "interval: daily" in text and "minimum_commitment: 10.00" in text
    assert f"agreement would be at {outcome.result['agreement']}" in text and "dry run: nothing sent" in text
    assert state_of(chain) == before
    assert session.deployments.agreements() == {}


# -- accept ------------------------------------------------------------------------------------------------------------


def test_accept_by_both_parties_activates(chain, sessions, proposed):
    first = accept(sessions[PAYER], proposed)
    assert "accepted: waiting for the other party" in sessions[PAYER].say.text  # type: ignore[attr-defined]
    assert first.result["version"] == 1 and agreement_state(chain, proposed) is AgreementState.PROPOSED
    second = accept(sessions[PAYEE], proposed)
    assert second.result["state"] == "Active" and agreement_state(chain, proposed) is AgreementState.ACTIVE


def test_accept_by_a_stranger_is_refused_readably(chain, sessions, proposed):
    before = state_of(chain)
    with pytest.raises(ContractRevert) as info:
        accept(sessions[STRANGER], proposed)
    assert (
        str(info.value) == f"accept version 1 refused: {address_of(chain, STRANGER)} is neither payer nor payee [BillingAgreement_NotParty]"
    )
    assert state_of(chain) == before


def test_accept_only_the_reviewed_terms(chain, sessions, proposed):
    contract = chain.contract("IBillingAgreement", proposed)
    start = int(chain.call(contract.functions.periodBounds(0))[0])
    before = state_of(chain)
    other = make_spec(start, minimum_commitment="12.00")
    with pytest.raises(ValidationError, match=r"differs from the spec in minimum_commitment .*: not accepting"):
        accept(sessions[PAYER], proposed, spec=other)
    with pytest.raises(ValidationError, match=r"--terms-hash 0x00 is not the pending version 1's"):
        accept(sessions[PAYER], proposed, terms_hash="0x00")
    assert state_of(chain) == before
    accept(sessions[PAYER], proposed, spec=make_spec(start))
    assert chain.call(contract.functions.hasAccepted(address_of(chain, PAYER), 1))


def test_signed_acceptance_submitted_by_the_other_side(chain, sessions, proposed, tmp_path):
    path = tmp_path / "acceptance.json"
    before = state_of(chain)
    document = sign_acceptance(sessions[PAYER], proposed, path, deadline=chain_now(chain) + 3600)
    assert state_of(chain) == before  # signing sends nothing
    assert json.loads(path.read_text()) == document and document["party"] == address_of(chain, PAYER)
    assert chain.dev_accounts(2)[PAYER].key.hex() not in path.read_text()
    accept(sessions[PAYEE], proposed)
    outcome = submit_signature(sessions[PAYEE], path, agreement=proposed)
    assert outcome.result["state"] == "Active" and agreement_state(chain, proposed) is AgreementState.ACTIVE


def test_signature_files_are_checked(chain, sessions, proposed, tmp_path):
    path = tmp_path / "acceptance.json"
    sign_acceptance(sessions[PAYER], proposed, path, deadline=chain_now(chain) + 3600)
    document = json.loads(path.read_text())
    with pytest.raises(ValidationError, match="is neither the payer .* nor the payee"):
        sign_acceptance(sessions[STRANGER], proposed, tmp_path / "x.json", deadline=chain_now(chain) + 3600)
    expired = tmp_path / "expired.json"
    expired.write_text(json.dumps({**document, "deadline": chain_now(chain) - 1}))
    with pytest.raises(ValidationError, match="expired at .*: ask 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 to sign again"):
        submit_signature(sessions[PAYEE], expired)
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({**document, "party": address_of(chain, PAYEE)}))
    before = state_of(chain)
    with pytest.raises(ContractRevert) as info:
        submit_signature(sessions[OPERATOR], forged)
    assert str(info.value).endswith(f"The signature is not {address_of(chain, PAYEE)}'s [BillingAgreement_InvalidSignature]")
    assert state_of(chain) == before
    (tmp_path / "junk.json").write_text("{}")
    with pytest.raises(ValidationError, match="not a Settle acceptance signature"):
        submit_signature(sessions[PAYEE], tmp_path / "junk.json")


def test_accept_dry_run_and_nothing_pending(chain, rpc_url, deployments_dir, sessions, active):
    session = make_session(chain, rpc_url, deployments_dir, PAYER, dry_run=True)
    with pytest.raises(ValidationError, match="nothing awaits acceptance on .*: it is Active at terms version 1"):
        accept(session, active)


# -- amend -------------------------------------------------------------------------------------------------------------


def test_amend_proposed_by_the_payer_and_accepted_by_the_payee(chain, sessions, active):
    contract = chain.contract("IBillingAgreement", active)
    start = int(chain.call(contract.functions.periodBounds(0))[0])
    outcome = amend(sessions[PAYER], active, make_spec(start, minimum_commitment="20.00"))
    assert outcome.result["version"] == 2
    assert f"once {address_of(chain, PAYEE)} accepted" in sessions[PAYER].say.text  # type: ignore[attr-defined]
    accepted = accept(sessions[PAYEE], active)
    current = int(chain.call(contract.functions.currentPeriod())[0])
    assert accepted.result["effective_from_period"] == current + 1
    assert chain.call(contract.functions.versionForPeriod(current + 1)) == 2
    assert chain.call(contract.functions.versionForPeriod(current)) == 1


def test_amend_with_an_invalid_spec_sends_nothing(chain, sessions, active):
    contract = chain.contract("IBillingAgreement", active)
    start = int(chain.call(contract.functions.periodBounds(0))[0])
    before = state_of(chain)
    with pytest.raises(SpecError, match=r"meters\[0\]\.tiers\[1\]\.up_to: 500 is not above the previous tier's 1000"):
        amend(
            sessions[PAYER],
            active,
            make_spec(
                start,
                meters=[
                    {"name": "a", "model": "graduated", "tiers": [{"up_to": 1000, "unit_price": "1"}, {"up_to": 500}, {"unit_price": "1"}]}
                ],
            ),
        )
    with pytest.raises(ValidationError, match="has the same terms as version 1 in force: nothing to amend"):
        amend(sessions[PAYER], active, make_spec(start))
    # Changing what is fixed for the agreement's life is the contract's rule: refused by the estimate, decoded.
    with pytest.raises(
        ContractRevert,
        match=r"propose amendment refused: An amendment changes a field .*\[BillingAgreement_ImmutableTermChanged\(field=interval\)\]$",
    ):
        amend(sessions[PAYER], active, make_spec(start, interval="every 2 days"))
    assert state_of(chain) == before


def test_amend_by_a_stranger_is_refused_readably(chain, sessions, active):
    contract = chain.contract("IBillingAgreement", active)
    start = int(chain.call(contract.functions.periodBounds(0))[0])
    before = state_of(chain)
    with pytest.raises(ContractRevert) as info:
        amend(sessions[STRANGER], active, make_spec(start, minimum_commitment="20.00"))
    assert str(info.value) == (
        f"propose amendment refused: {address_of(chain, STRANGER)} is neither a party nor an operator [BillingAgreement_NotPartyOrOperator]"
    )
    assert state_of(chain) == before


def test_amend_dry_run_and_reject(chain, rpc_url, deployments_dir, sessions, active):
    contract = chain.contract("IBillingAgreement", active)
    start = int(chain.call(contract.functions.periodBounds(0))[0])
    dry = make_session(chain, rpc_url, deployments_dir, OPERATOR, dry_run=True)
    before = state_of(chain)
    outcome = amend(dry, active, make_spec(start, minimum_commitment="20.00"))
    assert outcome.dry_run and "call proposeAmendment(Terms)" in dry.say.text  # type: ignore[attr-defined]
    assert state_of(chain) == before
    amend(sessions[OPERATOR], active, make_spec(start, minimum_commitment="20.00"))
    reject_amendment(sessions[PAYER], active)
    assert chain.call(contract.functions.status())[3] == 0  # no pending version


def test_amend_keeps_the_parties(chain, sessions, active):
    contract = chain.contract("IBillingAgreement", active)
    start = int(chain.call(contract.functions.periodBounds(0))[0])
    swapped = make_spec(start)
    data = swapped.model_dump()
    data["parties"]["payer"], data["parties"]["payee"] = data["parties"]["payee"], data["parties"]["payer"]
    from settle.spec import AgreementSpec

    with pytest.raises(ValidationError, match="parties never change"):
        amend(sessions[PAYER], active, AgreementSpec.model_validate({**data, "interval": "daily"}))


# -- pause, resume -----------------------------------------------------------------------------------------------------


def test_pause_and_resume(chain, sessions, active):
    pause(sessions[PAYEE], active)
    assert agreement_state(chain, active) is AgreementState.PAUSED
    resume(sessions[OPERATOR], active)
    assert agreement_state(chain, active) is AgreementState.ACTIVE


def test_pause_by_the_payer_is_refused_readably(chain, sessions, active):
    before = state_of(chain)
    with pytest.raises(ContractRevert) as info:
        pause(sessions[PAYER], active)
    assert (
        str(info.value)
        == f"pause refused: {address_of(chain, PAYER)} is neither the payee nor an operator [BillingAgreement_NotPayeeOrOperator]"
    )
    with pytest.raises(ContractRevert, match=r"^resume refused: The agreement is active, which does not allow this call"):
        resume(sessions[OPERATOR], active)
    assert state_of(chain) == before


def test_pause_dry_run_sends_nothing(chain, rpc_url, deployments_dir, sessions, active):
    session = make_session(chain, rpc_url, deployments_dir, PAYEE, dry_run=True)
    before = state_of(chain)
    outcome = pause(session, active)
    assert outcome.dry_run and "call pause() on agreement" in session.say.text  # type: ignore[attr-defined]
    assert state_of(chain) == before and agreement_state(chain, active) is AgreementState.ACTIVE


# -- terminate ---------------------------------------------------------------------------------------------------------


def test_terminate_by_notice(chain, sessions, active):
    outcome = terminate(sessions[PAYER], active, notice=True)
    contract = chain.contract("IBillingAgreement", active)
    current = int(chain.call(contract.functions.currentPeriod())[0])
    # One day's notice on daily periods: the agreement ends with the period in which the notice expires.
    assert outcome.result["end_period"] == current + 2
    assert chain.call(contract.functions.status())[8] == outcome.result["end_period"]


def test_terminate_by_notice_dry_run_previews_the_end(chain, sessions, active, rpc_url, deployments_dir):
    from operator_support import make_session

    dry = make_session(chain, rpc_url, deployments_dir, PAYER, dry_run=True)
    before = state_of(chain)
    outcome = terminate(dry, active, notice=True)
    contract = chain.contract("IBillingAgreement", active)
    current = int(chain.call(contract.functions.currentPeriod())[0])
    assert outcome.dry_run and state_of(chain) == before and chain.call(contract.functions.status())[8] == 0
    assert outcome.result["last_period"] == current + 1  # what the real notice then sets (end before current + 2)
    assert f"would end after period {current + 1}, at " in dry.say.text  # type: ignore[attr-defined]
    real = terminate(sessions[PAYER], active, notice=True)
    assert real.result["end_period"] == outcome.result["last_period"] + 1


def test_terminate_by_consent_of_both(chain, sessions, active):
    contract = chain.contract("IBillingAgreement", active)
    end_period = int(chain.call(contract.functions.currentPeriod())[0]) + 3
    first = terminate(sessions[PAYER], active, consent_end_period=end_period)
    assert "end_period" not in first.result and "waiting for the other party" in sessions[PAYER].say.text  # type: ignore[attr-defined]
    second = terminate(sessions[PAYEE], active, consent_end_period=end_period)
    assert second.result["end_period"] == end_period == chain.call(contract.functions.status())[8]


def test_cancel_a_proposed_agreement(chain, sessions, proposed):
    terminate(sessions[OPERATOR], proposed, cancel=True)
    assert agreement_state(chain, proposed) is AgreementState.TERMINATED


def test_terminate_by_a_stranger_is_refused_readably(chain, sessions, active):
    before = state_of(chain)
    with pytest.raises(ContractRevert) as info:
        terminate(sessions[STRANGER], active, notice=True)
    assert str(info.value) == f"give notice refused: {address_of(chain, STRANGER)} is neither payer nor payee [BillingAgreement_NotParty]"
    with pytest.raises(ValidationError, match="choose exactly one of --notice, --consent END_PERIOD, --cancel"):
        terminate(sessions[PAYER], active)
    assert state_of(chain) == before


def test_terminate_dry_run_sends_nothing(chain, rpc_url, deployments_dir, sessions, active):
    session = make_session(chain, rpc_url, deployments_dir, PAYER, dry_run=True)
    before = state_of(chain)
    outcome = terminate(session, active, notice=True)
    assert outcome.dry_run and "call giveNotice()" in session.say.text  # type: ignore[attr-defined]
    assert state_of(chain) == before and chain.call(chain.contract("IBillingAgreement", active).functions.status())[8] == 0

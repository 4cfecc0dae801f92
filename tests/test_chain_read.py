"""Chain.read, Chain.read_many and Chain.get_logs (settle.abi over settle.rpc, no web3) read what web3 reads: every
view `settle status` uses and every event it decodes give the same values, of the same types, through both. Reads
go in JSON-RPC batches; a revert comes back decoded, or in its call's place when asked; a node that refuses
batches gets one request per call; a node that is not there fails the connection at once."""

from __future__ import annotations

import socket
import time

import pytest
from operator_support import (
    GATEWAY,
    OPERATOR,
    ORACLE,
    PAYER,
    STRANGER,
    active,
    deployments_dir,
    factory,
    make_spec,
    operator_session,
    proposed,
    sessions,
)

from settle import chain as chain_module
from settle.chain import Chain
from settle.errors import ChainError, ContractRevert
from settle.keccak import keccak
from settle.operator import amend, grant_role
from settle.rpc import RpcError

__all__ = ["active", "deployments_dir", "factory", "operator_session", "proposed", "sessions"]

PERIOD_VIEWS = ("periodBounds", "versionForPeriod", "usageOf", "previewAmount", "settlement", "dueDate")


@pytest.fixture()
def used(chain: Chain, sessions, active: str) -> str:
    """The active agreement with usage in periods 0 and 1 and a correction (an event with a string), period 0
    settled and paid, and an amendment the payer proposed (pending: the payee has not accepted)."""
    accounts = chain.dev_accounts(6)
    grant_role(sessions[OPERATOR], "oracle", accounts[ORACLE].address)
    grant_role(sessions[OPERATOR], "gateway", accounts[GATEWAY].address)
    agreement = chain.contract("IBillingAgreement", active)
    for period, usages in {0: [(0, 2_500), (1, 40)], 1: [(0, 500), (1, 10)]}.items():
        report = agreement.functions.reportUsage(period, keccak(text=f"report-{period}"), keccak(text=f"root-{period}"), 0, usages)
        chain.transact(report, accounts[ORACLE])
    chain.transact(agreement.functions.correctUsage(1, 0, 400, keccak(text="root-1b"), "double-counted batch"), accounts[ORACLE])
    chain.transact(agreement.functions.settle(0), accounts[STRANGER])
    amount = chain.call(agreement.functions.settlement(0))[0]
    chain.transact(agreement.functions.confirmPayment(0, amount, keccak(text="BANKREF-1")), accounts[GATEWAY])
    start = int(chain.call(agreement.functions.periodBounds(0))[0])
    amend(sessions[PAYER], active, make_spec(start, minimum_commitment="20.00"))
    return active


def _calls(chain: Chain, address: str) -> list[tuple]:
    payer, payee = chain.call(chain.contract("IBillingAgreement", address).functions.parties())
    return [
        ("factory",),
        ("parties",),
        ("status",),
        ("state",),
        ("terms",),
        ("termsAt", 1),
        ("termsAt", 2),
        ("hasAccepted", payer, 2),
        ("hasAccepted", payee, 2),
        ("currentPeriod",),
        ("outstanding",),
        ("usageEpoch",),
        *((name, period) for period in (0, 1, 2) for name in PERIOD_VIEWS),
    ]


def test_every_view_reads_as_web3_reads_it(chain: Chain, used: str) -> None:
    contract = chain.contract("IBillingAgreement", used)
    view = chain.view("IBillingAgreement", used)
    calls = _calls(chain, used)
    expected = [chain.call(contract.functions[name](*args)) for name, *args in calls]
    # == also compares the containers: web3 gives several outputs and arrays as lists, structs as tuples
    assert chain.read_many([view.call(*call) for call in calls]) == expected
    assert [chain.read(view.call(*call)) for call in calls] == expected
    block = chain.head() - 3
    assert chain.read_many([view.call("status"), view.call("usageOf", 1)], block=block) == [
        chain.call(contract.functions.status(), block=block),
        chain.call(contract.functions.usageOf(1), block=block),
    ]


def test_every_event_decodes_as_web3_decodes_it(chain: Chain, used: str) -> None:
    contract = chain.contract("IBillingAgreement", used)
    view = chain.view("IBillingAgreement", used)
    factory_address = chain.read(view.call("factory"))
    heavy_logs = chain.w3.eth.get_logs({"address": [used, factory_address], "fromBlock": 0, "toBlock": "latest"})  # type: ignore[typeddict-item]
    light_logs = chain.get_logs({"address": [used, factory_address]})
    assert [dict(log) for log in heavy_logs] == light_logs
    seen = set()
    for heavy, light in zip(heavy_logs, light_logs, strict=True):
        if light["address"] == used:
            contract_of, view_of = contract, view
        else:
            contract_of, view_of = chain.contract("IAgreementFactory", factory_address), chain.view("IAgreementFactory", factory_address)
        decoded = view_of.decode_log(light)
        assert decoded is not None
        name, args = decoded
        expected = contract_of.events[name]().process_log(heavy)["args"]
        assert list(args.items()) == list(expected.items())  # the same order too: `settle status --json` prints it
        seen.add(name)
    assert {"AgreementCreated", "TermsAccepted", "AgreementActivated", "UsageReported", "UsageCorrected"} <= seen
    assert {"SettlementTriggered", "PaymentConfirmed", "AmendmentProposed", "RoleGranted"} <= seen


def test_a_revert_is_decoded_or_returned_in_its_call_s_place(chain: Chain, used: str) -> None:
    contract = chain.contract("IBillingAgreement", used)
    view = chain.view("IBillingAgreement", used)
    with pytest.raises(ContractRevert) as through_web3:
        chain.call(contract.functions.termsAt(9))
    with pytest.raises(ContractRevert) as read:
        chain.read(view.call("termsAt", 9))
    assert str(read.value) == str(through_web3.value) and read.value.error_name == through_web3.value.error_name
    with pytest.raises(ContractRevert):
        chain.read_many([view.call("state"), view.call("termsAt", 9)])
    state, failed = chain.read_many([view.call("state"), view.call("termsAt", 9)], errors="return")
    assert state == 1 and isinstance(failed, RpcError) and str(chain.translate(failed)) == str(read.value)
    answerless = chain.view("IBillingAgreement", factory_address := chain.read(view.call("factory")))
    (undecodable,) = chain.read_many([answerless.call("parties")], errors="return")
    assert isinstance(undecodable, ChainError), factory_address


def test_reads_go_in_batches_and_one_by_one_to_a_node_without_batches(chain: Chain, used: str, monkeypatch) -> None:
    view = chain.view("IBillingAgreement", used)
    calls = [view.call(*call) for call in _calls(chain, used)]
    expected = chain.read_many(calls)
    batches: list[int] = []
    batch = chain._rpc.batch
    monkeypatch.setattr(chain._rpc, "batch", lambda requests: batches.append(len(requests)) or batch(requests))
    monkeypatch.setattr(chain_module, "READ_BATCH", 8)
    assert chain.read_many(calls) == expected
    assert len(calls) == 30 and batches == [8, 8, 8, 6]

    def refused(requests):
        raise RpcError("batch", {"code": -32600, "message": "batch requests are not supported"})

    singles: list[str] = []
    call = chain._rpc.call
    monkeypatch.setattr(chain._rpc, "batch", refused)
    monkeypatch.setattr(chain._rpc, "call", lambda method, params=(), **kw: singles.append(method) or call(method, params, **kw))
    assert chain.read_many(calls) == expected and singles == ["eth_call"] * len(calls)


def test_a_node_that_is_not_there_fails_the_connection_at_once() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    started = time.monotonic()
    with pytest.raises(ChainError, match=rf"^cannot reach the chain at http://127\.0\.0\.1:{port}: ConnectError"):
        Chain.connect(f"http://127.0.0.1:{port}/SECRET-KEY")
    assert time.monotonic() - started < 5  # one attempt, not the client's retries with backoff


def test_the_events_carry_every_terms_version_and_stand_in_for_a_struct_that_does_not_hash(chain: Chain, used: str) -> None:
    """settle.status reads packed terms from AgreementCreated and AmendmentProposed (decoded with settle.abi) and shows
    them, with a warning, when termsAt's struct does not hash to its termsHash."""
    from settle.status import _checked_version, packed_terms_from_events
    from settle.terms import Terms

    view = chain.view("IBillingAgreement", used)
    answers = chain.read_many([view.call("termsAt", 1), view.call("termsAt", 2)])
    events = packed_terms_from_events(chain, view)
    assert events == {bytes(h): Terms.from_abi(raw) for raw, h, _ in answers}
    raw, terms_hash, effective = answers[1]
    lying = (raw[0], b"USD", *raw[2:])  # another currency: no longer hashes to termsHash
    found, warning = _checked_version(chain, view, 2, (lying, terms_hash, effective), block="latest", events=None)
    assert found.terms == events[bytes(terms_hash)] and found.terms.currency == "EUR"
    assert warning is not None and "do not hash to its termsHash" in warning

"""The fast signer produces byte-for-byte what eth-account produces."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from oracle.txsign import FastSigner, encode_report_usage
from settle.chain import dev_accounts


@settings(max_examples=25, deadline=None)
@given(
    nonce=st.integers(0, 2**32),
    gas=st.integers(21_000, 10**7),
    fee=st.integers(1, 10**12),
    usages=st.lists(st.tuples(st.integers(0, 7), st.integers(0, 2**64 - 1)), max_size=8),
)
def test_signed_transaction_equals_eth_account(nonce, gas, fee, usages):
    account = dev_accounts(2)[1]
    data = encode_report_usage(2, b"\x07" * 32, b"\x08" * 32, 3, usages)
    to = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    mine = FastSigner(account).sign(chain_id=31337, nonce=nonce, to=to, data=data, gas=gas, max_fee=2 * fee, max_priority_fee=fee)
    ref = account.sign_transaction(
        {
            "type": 2,
            "chainId": 31337,
            "nonce": nonce,
            "to": to,
            "data": data,
            "gas": gas,
            "maxFeePerGas": 2 * fee,
            "maxPriorityFeePerGas": fee,
            "value": 0,
        }
    )
    assert mine.raw == bytes(ref.raw_transaction)
    assert mine.hash == bytes(ref.hash)


def test_key_is_not_shown():
    signer = FastSigner(dev_accounts(1)[0])
    assert "ac0974" not in repr(signer) and signer.address in repr(signer)

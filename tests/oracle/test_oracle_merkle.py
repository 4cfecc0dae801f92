"""Merkle leaves, trees and proofs, verified independently: a from-the-spec reimplementation using another
keccak library (pycryptodome), and OpenZeppelin's MerkleProof in Solidity on anvil."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from Crypto.Hash import keccak as pycryptodome_keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from oracle import merkle
from oracle.txsign import encode_report_usage

AGREEMENT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def k(data: bytes) -> bytes:
    return pycryptodome_keccak.new(data=data, digest_bits=256).digest()


def spec_leaf(agreement: str, meter: int, period: int, quantity: int, occurred_us: int, source: str, record_id: str) -> bytes:
    """docs/merkle.md, written out again without the oracle's code."""
    src = source.encode()
    packed = (
        bytes.fromhex(agreement[2:])
        + meter.to_bytes(1, "big")
        + period.to_bytes(4, "big")
        + quantity.to_bytes(32, "big")
        + occurred_us.to_bytes(8, "big")
        + bytes([len(src)])
        + src
        + record_id.encode()
    )
    assert len(packed) > 64
    return k(packed)


def spec_root(leaves: list[bytes]) -> bytes:
    """OpenZeppelin SimpleMerkleTree: sort, lay out as a complete binary tree in an array, hash sorted pairs."""
    leaves = sorted(leaves)
    tree: list[bytes | None] = [None] * (2 * len(leaves) - 1)
    for i, leaf in enumerate(leaves):
        tree[len(tree) - 1 - i] = leaf
    for i in range(len(tree) - 1 - len(leaves), -1, -1):
        a, b = tree[2 * i + 1], tree[2 * i + 2]
        assert a is not None and b is not None
        tree[i] = k(min(a, b) + max(a, b))
    assert tree[0] is not None
    return tree[0]


def spec_verify(proof: list[bytes], root: bytes, leaf: bytes) -> bool:
    node = leaf
    for sibling in proof:
        node = k(min(node, sibling) + max(node, sibling))
    return node == root


def test_leaf_matches_the_spec():
    args = (AGREEMENT, 1, 7, 1500, 1_735_689_600_123_456, "erp-sap", "INV-2025-000017")
    assert merkle.leaf_hash(*args) == spec_leaf(*args)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=70, unique=True))
def test_root_and_every_proof_check_independently(leaves):
    tree = merkle.build_tree(leaves)
    assert tree[0] == spec_root(leaves)
    stored = merkle.StoredTree(merkle.pack_tree(tree))
    assert stored.leaf_count == len(leaves)
    for leaf in leaves:
        proof = stored.proof(leaf)
        assert spec_verify(proof, tree[0], leaf)
        assert merkle.verify(proof, tree[0], leaf)
        tampered = bytes([leaf[0] ^ 1]) + leaf[1:]
        assert not spec_verify(proof, tree[0], tampered)


def test_single_leaf_tree():
    leaf = merkle.keccak(b"x" * 70)
    tree = merkle.StoredTree(merkle.pack_tree(merkle.build_tree([leaf])))
    assert tree.root == leaf and tree.proof(leaf) == []


def test_report_id_is_deterministic():
    assert merkle.report_id(AGREEMENT, 3, 1) == merkle.report_id(AGREEMENT.lower(), 3, 1)
    assert merkle.report_id(AGREEMENT, 3, 1) != merkle.report_id(AGREEMENT, 3, 2)
    assert merkle.report_id(AGREEMENT, 3, 1) == k(
        bytes(12) + bytes.fromhex(AGREEMENT[2:]) + (3).to_bytes(32, "big") + (1).to_bytes(32, "big")
    )


@pytest.fixture(scope="module")
def leaf_check_artifact():
    from settle.compiler import _run_solc
    from settle.config import get_settings
    from settle.toolchain import solc_binary

    root = get_settings().root
    source = Path(__file__).with_name("sol") / "LeafCheck.sol"
    inp = {
        "language": "Solidity",
        "sources": {"LeafCheck.sol": {"content": source.read_text()}},
        "settings": {
            "evmVersion": "shanghai",
            "remappings": ["@openzeppelin/=node_modules/@openzeppelin/"],
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
        },
    }
    out = _run_solc(inp, solc_binary(), root)
    contract = out["contracts"]["LeafCheck.sol"]["LeafCheck"]
    return {"abi": contract["abi"], "bytecode": contract["evm"]["bytecode"]["object"]}


def test_openzeppelin_merkleproof_accepts_the_proofs(chain, accounts, leaf_check_artifact):
    factory = chain.w3.eth.contract(abi=leaf_check_artifact["abi"], bytecode=leaf_check_artifact["bytecode"])
    data = factory.constructor().build_transaction({"gas": 1, "gasPrice": 0, "nonce": 0, "chainId": chain.chain_id})["data"]
    receipt = chain.send({"data": data}, accounts[0])
    check = chain.w3.eth.contract(address=receipt["contractAddress"], abi=leaf_check_artifact["abi"])
    records = [(AGREEMENT, i % 3, 2, 10 * i + 1, 1_735_700_000_000_000 + i, "erp", f"rec-{i}") for i in range(13)]
    leaves = [merkle.leaf_hash(*r) for r in records]
    for r, leaf in zip(records, leaves, strict=True):
        assert check.functions.leaf(*r).call() == leaf
    tree = merkle.StoredTree(merkle.pack_tree(merkle.build_tree(leaves)))
    for leaf in leaves:
        assert check.functions.verify(tree.proof(leaf), tree.root, leaf).call() is True
    assert check.functions.verify(tree.proof(leaves[0]), tree.root, leaves[1]).call() is False


def test_report_calldata_matches_the_abi():
    from eth_abi import encode
    from eth_utils import keccak

    data = encode_report_usage(4, b"\x01" * 32, b"\x02" * 32, 9, [(0, 12), (3, 2**64 - 1)])
    selector = keccak(text="reportUsage(uint32,bytes32,bytes32,uint16,(uint8,uint64)[])")[:4]
    assert data == selector + encode(
        ["uint32", "bytes32", "bytes32", "uint16", "(uint8,uint64)[]"], [4, b"\x01" * 32, b"\x02" * 32, 9, [(0, 12), (3, 2**64 - 1)]]
    )
    assert json.dumps(True)


def test_tree_builder_with_a_helper_process_gives_the_same_trees():
    rnd = __import__("random").Random(5)
    blobs = [b"".join(rnd.randbytes(32) for _ in range(rnd.randrange(1, 900))) for _ in range(40)]
    expected = [merkle.pack_tree(merkle.build_tree(merkle.split_leaves(b))) for b in blobs]
    with merkle.TreeBuilder(helper=True) as builder:
        assert builder.build(blobs) == expected
        assert builder.build(blobs[:3]) == expected[:3]  # small batches stay in this process
    assert merkle.TreeBuilder().build(blobs) == expected


def test_a_failed_tree_helper_is_a_settle_error_naming_its_exit_and_its_traceback():
    """The helper process crashes (here: a message it cannot build a tree from): the cut gets a SettleError that
    says which process failed, how it ended and the last lines of its stderr, not a bare RuntimeError."""
    from oracle.pipes import send
    from settle.errors import SettleError

    rnd = __import__("random").Random(6)
    blobs = [b"".join(rnd.randbytes(32) for _ in range(600)) for _ in range(10)]
    with merkle.TreeBuilder(helper=True) as builder:
        assert builder._proc is not None and builder._proc.stdin is not None
        send(builder._proc.stdin, [5])  # not a leaf blob: the helper raises and exits
        with pytest.raises(merkle.TreeHelperError) as failed:
            builder.build(blobs)
        assert builder.build(blobs) == [merkle.pack_tree(merkle.build_tree(merkle.split_leaves(b))) for b in blobs]  # then alone
    message = str(failed.value)
    assert isinstance(failed.value, SettleError) and "\n" not in message
    assert message.startswith("the Merkle tree helper process (python -m oracle.merkle) failed (exit code 1): ")
    assert "TypeError: object of type 'int' has no len()" in message and message.endswith("nothing was cut, the next cut tries again")


def test_a_killed_tree_helper_names_the_signal():
    rnd = __import__("random").Random(7)
    blobs = [b"".join(rnd.randbytes(32) for _ in range(600)) for _ in range(10)]
    with merkle.TreeBuilder(helper=True) as builder:
        assert builder._proc is not None
        builder._proc.kill()
        builder._proc.wait()
        with pytest.raises(merkle.TreeHelperError, match=r"failed \(killed by SIGKILL\): BrokenPipeError on its pipe; nothing was cut"):
            builder.build(blobs)

"""Merkle commitments over usage records (specified in docs/merkle.md).

Leaf = ``keccak256(abi.encodePacked(address agreement, uint8 meter, uint32 period, uint256 quantity,
uint64 occurredAtMicros, uint8 sourceLength, string source, string recordId))``. The preimage is always longer
than 64 bytes, so a leaf can never pass for an inner node and one hash suffices. The tree is OpenZeppelin's
(``@openzeppelin/merkle-tree`` ``SimpleMerkleTree``): leaves sorted, sorted-pair hashing, array layout; so
``SimpleMerkleTree.of(leaves).root`` gives the same root and ``MerkleProof.verify`` checks a proof on-chain.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

from _pysha3 import keccak_256

from oracle.pipes import recv, send
from settle.errors import SettleError, ValidationError

LEAF_TYPES = ("address", "uint8", "uint32", "uint256", "uint64", "uint8", "string", "string")
_WORD = 32


_digest = keccak_256.digest


def keccak(data: bytes) -> bytes:
    return keccak_256(data).digest()


class LeafEncoder:
    """Builds leaf preimages fast: the bytes shared by many records are encoded once and cached."""

    __slots__ = ("_prefixes", "_sources")

    def __init__(self) -> None:
        self._prefixes: dict[tuple[str, int, int], bytes] = {}
        self._sources: dict[str, bytes] = {}

    def prefix(self, agreement: str, meter: int, period: int) -> bytes:
        """``agreement (20) ‖ meter (1) ‖ period (4)``."""
        key = (agreement, meter, period)
        cached = self._prefixes.get(key)
        if cached is None:
            cached = bytes.fromhex(agreement[2:]) + meter.to_bytes(1, "big") + period.to_bytes(4, "big")
            if len(self._prefixes) > 100_000:
                self._prefixes.clear()
            self._prefixes[key] = cached
        return cached

    def source_part(self, source: str) -> bytes:
        """``uint8(len(source)) ‖ source``."""
        cached = self._sources.get(source)
        if cached is None:
            raw = source.encode()
            if len(raw) > 255:
                raise ValidationError(f"source name {source!r} is longer than 255 bytes")
            cached = self._sources[source] = len(raw).to_bytes(1, "big") + raw
        return cached


def leaf_preimage(agreement: str, meter: int, period: int, quantity: int, occurred_at_us: int, source: str, record_id: str) -> bytes:
    """``abi.encodePacked`` of the leaf values."""
    encoder = LeafEncoder()
    return (
        encoder.prefix(agreement, meter, period)
        + quantity.to_bytes(32, "big")
        + occurred_at_us.to_bytes(8, "big")
        + encoder.source_part(source)
        + record_id.encode()
    )


def leaf_hash(agreement: str, meter: int, period: int, quantity: int, occurred_at_us: int, source: str, record_id: str) -> bytes:
    """The Merkle leaf of one record."""
    return keccak(leaf_preimage(agreement, meter, period, quantity, occurred_at_us, source, record_id))


def hash_pair(a: bytes, b: bytes) -> bytes:
    """keccak256 of the two nodes in ascending byte order (OpenZeppelin's ``Hashes.commutativeKeccak256``)."""
    return keccak(a + b if a < b else b + a)


def build_tree(leaves: Sequence[bytes]) -> list[bytes]:
    """OpenZeppelin's array layout: ``2n - 1`` nodes, the root at 0, the sorted leaves from the end backwards
    (sorted leaf ``i`` at ``2n - 2 - i``), node ``i`` = hash_pair(node ``2i + 1``, node ``2i + 2``).

    Nodes are hashed a range at a time, from the end: every node in ``lo..hi`` with ``lo = (hi + 1) // 2`` has
    both children above ``hi``, so the whole range is one pass of C-level maps."""
    if not leaves:
        raise ValidationError("a Merkle tree needs at least one leaf")
    ordered = sorted(leaves)
    n = len(ordered)
    tree: list[bytes] = [b""] * (n - 1) + ordered[::-1]
    hi = n - 2
    while hi >= 0:
        lo = (hi + 1) // 2
        left = tree[2 * lo + 1 : 2 * hi + 2 : 2]
        right = tree[2 * lo + 2 : 2 * hi + 3 : 2]
        tree[lo : hi + 1] = map(_digest, map(keccak_256, map(bytes.__add__, map(min, left, right), map(max, left, right))))
        hi = lo - 1
    return tree


def split_leaves(blob: bytes) -> list[bytes]:
    """Concatenated 32-byte leaves → list."""
    return [blob[i : i + _WORD] for i in range(0, len(blob), _WORD)]


def pack_tree(tree: Sequence[bytes]) -> bytes:
    return b"".join(tree)


@dataclass(frozen=True)
class StoredTree:
    """A tree as stored: the concatenated nodes."""

    blob: bytes

    @property
    def size(self) -> int:
        return len(self.blob) // _WORD

    @property
    def leaf_count(self) -> int:
        return (self.size + 1) // 2

    @property
    def root(self) -> bytes:
        return self.node(0)

    def node(self, i: int) -> bytes:
        return self.blob[i * _WORD : (i + 1) * _WORD]

    def index_of(self, leaf: bytes) -> int:
        """Array index of ``leaf`` (leaves occupy the last ``n`` slots)."""
        first = self.size - self.leaf_count
        pos = self.blob.find(leaf, first * _WORD)
        while pos != -1 and pos % _WORD:
            pos = self.blob.find(leaf, pos + 1)
        if pos == -1:
            raise ValidationError(f"leaf 0x{leaf.hex()} is not in this tree")
        return pos // _WORD

    def proof(self, leaf: bytes) -> list[bytes]:
        """Sibling hashes from the leaf up to (not including) the root."""
        i = self.index_of(leaf)
        out = []
        while i > 0:
            sibling = i + 1 if i % 2 else i - 1
            out.append(self.node(sibling))
            i = (i - 1) // 2
        return out


def verify(proof: Sequence[bytes], root: bytes, leaf: bytes) -> bool:
    """``MerkleProof.verify``: fold the proof into the leaf with sorted-pair hashing and compare to the root."""
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node == root


def root_of(leaves: Sequence[bytes]) -> bytes:
    return build_tree(leaves)[0]


def report_id(agreement: str, period: int, seq: int) -> bytes:
    """Deterministic report id: ``keccak256(abi.encode(address agreement, uint32 period, uint32 seq))``."""
    return keccak(bytes(12) + bytes.fromhex(agreement[2:]) + period.to_bytes(_WORD, "big") + seq.to_bytes(_WORD, "big"))


# -- trees of many reports on two cores -----------------------------------------------------------------------------


def packed_trees(blobs: Sequence[bytes]) -> list[bytes]:
    """Each blob of concatenated leaves → its packed tree."""
    return [pack_tree(build_tree(split_leaves(blob))) for blob in blobs]


class TreeHelperError(SettleError):
    """The helper process that builds Merkle trees (``python -m oracle.merkle``) failed; nothing was cut."""


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class TreeBuilder:
    """Builds the trees of many reports; with ``helper``, a second process (``python -m oracle.merkle``) builds
    the larger part of every batch of trees while this one builds the rest."""

    #: the part of the leaves this process hashes itself when it has a helper
    SHARE = 0.4

    def __init__(self, helper: bool = False):
        self._proc: subprocess.Popen[bytes] | None = None
        # the helper's stderr goes to a file, read only when it fails (a pipe nobody reads could fill and block it)
        self._stderr: IO[bytes] | None = None
        if helper:
            self._stderr = tempfile.TemporaryFile()
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "oracle.merkle"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr
            )

    def _failed(self, proc: subprocess.Popen[bytes], cause: BaseException) -> TreeHelperError:
        """The helper's end, its exit status and the last lines it wrote to stderr (its traceback), as an error."""
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        said = ""
        if self._stderr is not None:
            self._stderr.seek(0)
            lines = [line for line in self._stderr.read().decode(errors="replace").splitlines() if line.strip()]
            said = " | ".join(lines[-3:])
        detail = said or f"{type(cause).__name__} on its pipe"
        return TreeHelperError(
            f"the Merkle tree helper process (python -m oracle.merkle) failed ({_exit_text(code)}): {detail}; "
            "nothing was cut, the next cut tries again"
        )

    def build(self, blobs: Sequence[bytes]) -> list[bytes]:
        """Packed trees (``2n - 1`` nodes, the root first) of the leaf blobs, in order."""
        proc = self._proc
        total = sum(map(len, blobs))
        if proc is None or total < 2 * _WORD * 1000:
            return packed_trees(blobs)
        assert proc.stdin is not None and proc.stdout is not None
        mine, cut = 0, len(blobs)
        for i, blob in enumerate(blobs):  # the helper takes the tail: this process also reads and writes the rows
            mine += len(blob)
            if mine >= total * self.SHARE:
                cut = i + 1
                break
        try:
            send(proc.stdin, list(blobs[cut:]))
            head = packed_trees(blobs[:cut])
            tail = recv(proc.stdout)
        except (EOFError, OSError) as exc:  # it died: the pipe broke or closed mid-message
            self._proc = None
            raise self._failed(proc, exc) from None
        return head + tail

    def close(self) -> None:
        if self._proc is not None:
            proc, self._proc = self._proc, None
            if proc.stdin is not None:
                try:
                    proc.stdin.close()
                except OSError:  # it died with data still in the pipe
                    pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> TreeBuilder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _serve() -> None:
    """The helper process: batches of leaf blobs in, packed trees out, until stdin closes."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            blobs = recv(stdin)
        except EOFError:
            return
        send(stdout, packed_trees(blobs))


if __name__ == "__main__":
    _serve()

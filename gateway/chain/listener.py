"""The chain listener: reads the factory's and its agreements' events into the read model.

Each poll reads the next range of blocks after the cursor, up to ``head - confirmations`` (at most
``batch_blocks`` at a time), with one ``eth_getLogs`` call filtered by the topics of the events the gateway knows
(no address filter: agreements created in the same range are followed at once; logs of other contracts are
dropped by address). The range's logs, their effect on the read model, the hashes of the blocks read and the new
cursor commit in one transaction, so a crash repeats a range at worst, and repeating it changes nothing.

Reorgs: before reading on, the stored hash of the cursor block is compared with the chain's. If they differ, the
listener walks back through the stored block hashes to the newest block both agree on, rolls the read model
back to it (:func:`gateway.chain.readmodel.rollback`) and reads the new blocks from there.

Blocks and logs are read through the shared JSON-RPC client (:mod:`settle.rpc`: a node that is down or busy is
retried with backoff). Several gateway processes may run a listener against one database: the cursor row is locked while a range is
applied and a range is only applied if the cursor has not moved since it was read.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway.chain.events import DecodedLog, EventDecoder, default_decoder
from gateway.chain.readmodel import Projector, rollback
from gateway.database import unit_of_work
from gateway.faults import crashpoint
from gateway.models import ChainBlock, ChainCursor
from gateway.workers import Pass, Worker
from settle.errors import ChainError
from settle.rpc import Rpc

if TYPE_CHECKING:
    from gateway.service import Gateway

log = logging.getLogger(__name__)

CURSOR_NAME = "listener"
#: Block hashes older than this many blocks behind the cursor are pruned (reorgs never go that deep).
KEEP_BLOCKS = 4_096


@dataclass
class PollResult:
    from_block: int = 0
    to_block: int = -1
    events: int = 0
    reorg_to: int | None = None

    @property
    def caught_up(self) -> bool:
        return self.to_block < self.from_block and self.reorg_to is None


class ChainListener:
    """Follows one factory on one chain; :meth:`poll` applies the next range, :meth:`catch_up` all ranges."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        rpc: Rpc,
        *,
        chain_id: int,
        factory_address: str,
        confirmations: int = 0,
        from_block: int = 0,
        batch_blocks: int = 2_000,
        decoder: EventDecoder | None = None,
    ):
        self.db = factory
        self.rpc = rpc
        self.chain_id = chain_id
        self.factory_address = factory_address.lower()
        self.confirmations = confirmations
        self.from_block = from_block
        self.batch_blocks = batch_blocks
        self.decoder = decoder or default_decoder()
        self.topics = self.decoder.topics

    # -- cursor ----------------------------------------------------------------------------------------------------

    def cursor(self) -> tuple[int, str | None]:
        """``(last block applied, its hash)``; ``(from_block - 1, None)`` before the first range."""
        with self.db() as session:
            row = session.scalar(select(ChainCursor).where(ChainCursor.chain_id == self.chain_id, ChainCursor.name == CURSOR_NAME))
            if row is None:
                return self.from_block - 1, None
            return row.block_number, row.block_hash

    def _locked_cursor(self, session: Session) -> ChainCursor:
        query = select(ChainCursor).where(ChainCursor.chain_id == self.chain_id, ChainCursor.name == CURSOR_NAME)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        row = session.scalar(query)
        if row is None:
            row = ChainCursor(chain_id=self.chain_id, name=CURSOR_NAME, block_number=self.from_block - 1, block_hash=None)
            try:
                with session.begin_nested():
                    session.add(row)
                    session.flush()
            except IntegrityError:  # another worker created it a moment ago
                row = session.scalar(query)
                assert row is not None
        return row

    # -- polling ---------------------------------------------------------------------------------------------------

    def poll(self) -> PollResult:
        """Apply the next range of confirmed blocks (or repair a reorg); see the module docstring."""
        number, known_hash = self.cursor()
        head = self.rpc.head()
        if known_hash is not None:
            current = self.rpc.block_hash(number) if number <= head else None
            if current != known_hash:
                return PollResult(reorg_to=self._repair(number, known_hash))
        safe = head - self.confirmations
        start, end = number + 1, min(safe, number + self.batch_blocks)
        result = PollResult(from_block=start, to_block=end)
        if end < start:
            return result
        end_hash = self.rpc.block_hash(end)
        raw = self.rpc.logs(start, end, self.topics)
        if end_hash is None or self.rpc.block_hash(end) != end_hash:
            log.info("blocks %d..%d changed while being read; reading them again", start, end)
            return PollResult(from_block=start, to_block=start - 1)
        decoded: list[DecodedLog] = []
        for item in raw:
            if item.get("removed"):
                continue
            decoded_log = self.decoder.decode(item)
            if decoded_log is not None:
                decoded.append(decoded_log)
        decoded.sort(key=lambda lg: lg.position)
        with unit_of_work(self.db, "listener") as session:
            cursor = self._locked_cursor(session)
            if (cursor.block_number, cursor.block_hash) != (number, known_hash):
                return PollResult(from_block=start, to_block=start - 1)  # another worker applied it
            result.events = Projector(session, self.chain_id, self.factory_address).apply_all(decoded)
            hashes = {lg.block_number: lg.block_hash for lg in decoded}
            hashes[end] = end_hash
            existing = set(
                session.scalars(select(ChainBlock.number).where(ChainBlock.chain_id == self.chain_id, ChainBlock.number.in_(list(hashes))))
            )
            for block_number, block_hash in sorted(hashes.items()):
                if block_number not in existing:
                    session.add(ChainBlock(chain_id=self.chain_id, number=block_number, hash=block_hash))
            session.execute(delete(ChainBlock).where(ChainBlock.chain_id == self.chain_id, ChainBlock.number < end - KEEP_BLOCKS))
            cursor.block_number, cursor.block_hash = end, end_hash
            crashpoint("listener.applied")
        if result.events:
            log.info("applied %d event(s) from blocks %d..%d", result.events, start, end)
        return result

    def catch_up(self, *, max_rounds: int = 1_000_000) -> int:
        """Poll until the cursor reaches the confirmed head; returns the events applied."""
        total = 0
        for _ in range(max_rounds):
            result = self.poll()
            total += result.events
            if result.caught_up:
                break
        return total

    def _repair(self, number: int, known_hash: str) -> int:
        """Roll the read model back to the newest stored block the chain still has; returns that block."""
        with self.db() as session:
            stored = list(
                session.execute(
                    select(ChainBlock.number, ChainBlock.hash)
                    .where(ChainBlock.chain_id == self.chain_id, ChainBlock.number <= number)
                    .order_by(ChainBlock.number.desc())
                )
            )
        head = self.rpc.head()
        ancestor, ancestor_hash = self.from_block - 1, None
        for block_number, block_hash in stored:
            if block_number <= head and self.rpc.block_hash(block_number) == block_hash:
                ancestor, ancestor_hash = block_number, block_hash
                break
        with unit_of_work(self.db, "listener") as session:
            cursor = self._locked_cursor(session)
            if (cursor.block_number, cursor.block_hash) != (number, known_hash):
                return cursor.block_number  # another worker repaired it
            rebuilt = rollback(session, self.chain_id, self.factory_address, ancestor)
            cursor = self._locked_cursor(session)
            cursor.block_number, cursor.block_hash = ancestor, ancestor_hash
        log.warning(
            "reorg: block %d changed; read model rolled back to block %d (%d agreement(s) rebuilt), reading the new blocks",
            number,
            ancestor,
            len(rebuilt),
        )
        return ancestor

    def run(self, stop: Any, idle_seconds: float = 1.0) -> None:
        """Poll until ``stop`` (a threading.Event) is set."""
        while not stop.is_set():
            try:
                result = self.poll()
            except ChainError as exc:
                log.warning("listener: %s; retrying", exc)
                stop.wait(idle_seconds)
                continue
            if result.caught_up:
                stop.wait(idle_seconds)


def wait_for(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def _listen(gw: Gateway) -> Pass:
    result = gw.listener.poll()
    lines = []
    if result.reorg_to is not None:
        lines.append(f"reorg: read model rolled back to block {result.reorg_to}")
    if result.events:
        lines.append(f"applied {result.events} chain event(s)")
    return Pass(lines=lines, busy=bool(result.events or result.reorg_to is not None), data={"events": result.events})


WORKER = Worker("listener", _listen, summary="chain events → read model, with reorg repair")

"""Worker process for large files: reads and checks a file, streams the checked chunks back to the parent.

Started as ``python -m oracle.worker`` (not multiprocessing: that would re-import the parent's main module).
The job comes in pickled on stdin, with the mapping snapshot to check against (the worker never opens the
database); results go out on stdout as length-prefixed pickles: ``("block", k, Checked, bytes_read)`` for the
chunks ``k`` it checks, then ``("end", number of chunks)``, or a ``FileFormatError``.
"""

from __future__ import annotations

import gc
import pickle
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from oracle import records as rec
from oracle.check import Checker
from oracle.clock import Clock
from oracle.pipes import recv, send
from oracle.snapshot import Registry


@dataclass(frozen=True)
class Job:
    registry: Registry
    source: str
    path: str
    fmt: str
    chunk_records: int
    future_tolerance: int
    clock: Clock
    part: int = 0  # with parts > 1: this worker checks the chunks k with k % parts == part
    parts: int = 1
    by_lines: bool = True  # the file holds no quoted line breaks: read a block of lines at a time


def run(job: Job, out: IO[bytes]) -> None:
    """Check the file against the mapping snapshot the job carries (the one in force when the file started).
    Every worker reads the whole file (to number the lines; cheap) but checks only its share of the chunks."""
    checker = Checker(job.registry, job.source, job.future_tolerance)
    mine = None if job.parts == 1 else (lambda k: k % job.parts == job.part)
    k = 0
    clock = time.process_time
    cpu = {"read": 0.0, "check": 0.0, "send": 0.0}
    try:
        with open(job.path, "rb") as stream:
            progress = rec.ReadProgress()
            if job.by_lines:
                chunks: Iterator[list[rec.Segment] | None] = rec.read_segments(stream, job.fmt, job.chunk_records, progress, select=mine)
            else:
                chunks = rec.item_chunks(rec.reader_for(job.fmt)(stream, progress), job.chunk_records)
            while True:
                t0 = clock()
                segments = next(chunks, StopIteration)
                t1 = clock()
                cpu["read"] += t1 - t0
                if segments is StopIteration:
                    break
                if segments is not None and (mine is None or mine(k)):
                    checked = checker.check_segments(segments, job.clock.now())  # type: ignore[arg-type]
                    segments = None  # the raw fields can go before the chunk is pickled
                    t2 = clock()
                    send(out, ("block", k, checked, progress.bytes_read))
                    cpu["check"] += t2 - t1
                    cpu["send"] += clock() - t2
                k += 1
        send(out, ("end", k, cpu))
    except rec.FileFormatError as exc:
        send(out, exc)


def spawn(job: Job, cpu: list[float] | None = None) -> tuple[subprocess.Popen[bytes], Iterator[Any]]:
    """Start a worker for ``job``; returns the process and an iterator over its messages (with ``cpu``: the CPU
    seconds spent reading and unpickling each message are appended to it)."""
    proc = subprocess.Popen([sys.executable, "-m", "oracle.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(pickle.dumps(job))
    proc.stdin.close()
    stdout = proc.stdout

    def messages() -> Iterator[Any]:
        while True:
            try:
                t0 = time.process_time()
                message = recv(stdout)
                if cpu is not None:
                    cpu.append(time.process_time() - t0)
            except EOFError:
                proc.wait()
                raise rec.FileFormatError(f"{job.path}: the checking process ended unexpectedly (exit code {proc.returncode})") from None
            yield message

    return proc, messages()


def main() -> None:
    job = pickle.loads(sys.stdin.buffer.read())
    # a chunk is many small objects that live until it is sent, and no cycles: collect rarely
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)
    run(job, sys.stdout.buffer)


if __name__ == "__main__":
    main()

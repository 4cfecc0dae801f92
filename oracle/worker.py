"""Worker process for large files: reads and checks a file, streams the checked chunks back to the parent.

Started as ``python -m oracle.worker`` (not multiprocessing: that would re-import the parent's main module).
The job comes in pickled on stdin, with the mapping snapshot to check against (the worker never opens the
database); results go out on stdout as length-prefixed pickles: ``(Checked, bytes_read)`` per chunk, then
``None``, or an exception (block mode: see ``_run_blocks``).
"""

from __future__ import annotations

import pickle
import struct
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from oracle import records as rec
from oracle.check import Checker
from oracle.clock import Clock
from oracle.snapshot import Registry

_LEN = struct.Struct("<Q")


@dataclass(frozen=True)
class Job:
    registry: Registry
    source: str
    path: str
    fmt: str
    chunk_records: int
    future_tolerance: int
    clock: Clock
    part: int = 0  # with parts > 1: this worker checks the blocks k with k % parts == part
    parts: int = 1
    block: int = 1 << 20


def _send(out: IO[bytes], message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_LEN.pack(len(data)))
    out.write(data)
    out.flush()


def _recv(stream: IO[bytes]) -> Any:
    head = stream.read(_LEN.size)
    if len(head) < _LEN.size:
        raise EOFError
    (size,) = _LEN.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


def run(job: Job, out: IO[bytes]) -> None:
    """Check the file against the mapping snapshot the job carries (the one in force when the file started)."""
    checker = Checker(job.registry, job.source, job.future_tolerance)
    try:
        if job.parts > 1:
            _run_blocks(job, out, checker)
            return
        progress = rec.ReadProgress()
        with open(job.path, "rb") as stream:
            chunk: list[rec.Item] = []
            for item in rec.reader_for(job.fmt)(stream, progress):
                chunk.append(item)
                if len(chunk) >= job.chunk_records:
                    _send(out, (checker.check(chunk, job.clock.now()), progress.bytes_read))
                    chunk = []
            if chunk:
                _send(out, (checker.check(chunk, job.clock.now()), progress.bytes_read))
        _send(out, None)
    except rec.FileFormatError as exc:
        _send(out, exc)


def _run_blocks(job: Job, out: IO[bytes], checker: Checker) -> None:
    """Block mode: the file is cut into ``job.block``-byte blocks at newlines (a line belongs to the block holding
    its newline); this worker checks its share and sends ``("block", k, Checked, bytes_read)`` for each, in order,
    then ``("end", number_of_blocks)``. Every worker reads the whole file to count lines (cheap) but parses only
    its blocks."""
    with open(job.path, "rb") as stream:
        first = stream.readline()
        columns = None
        line_no = 0
        if job.fmt == "csv":
            import csv as _csv

            header = next(_csv.reader([first.decode("utf-8-sig")]))
            columns = rec.csv_columns(header)
            line_no = 1
        else:
            stream.seek(0)
        carry = b""
        k = 0
        while True:
            block = stream.read(job.block)
            data = carry + block
            if not block:
                end = len(data)  # the last line, without a newline
            else:
                end = data.rfind(rec.NEWLINE) + 1
            lines, carry = data[:end], data[end:]
            if k % job.parts == job.part:
                items = rec.parse_block(lines, job.fmt, line_no + 1, columns) if lines.strip() else []
                _send(out, ("block", k, checker.check(items, job.clock.now()), stream.tell()))
            line_no += lines.count(rec.NEWLINE)
            k += 1
            if not block:
                break
        _send(out, ("end", k))


def spawn(job: Job) -> tuple[subprocess.Popen[bytes], Iterator[Any]]:
    """Start a worker for ``job``; returns the process and an iterator over its messages."""
    proc = subprocess.Popen([sys.executable, "-m", "oracle.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(pickle.dumps(job))
    proc.stdin.close()
    stdout = proc.stdout

    def messages() -> Iterator[Any]:
        while True:
            try:
                message = _recv(stdout)
            except EOFError:
                proc.wait()
                raise rec.FileFormatError(f"{job.path}: the checking process ended unexpectedly (exit code {proc.returncode})") from None
            if message is None:
                return
            yield message

    return proc, messages()


def main() -> None:
    job = pickle.loads(sys.stdin.buffer.read())
    run(job, sys.stdout.buffer)


if __name__ == "__main__":
    main()

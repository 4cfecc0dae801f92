"""The bank connector: how payment files reach the bank and statements come back.

:class:`BankConnector` is the interface (an EBICS client, a bank API or SFTP can implement it later).
:class:`FileBankConnector` is the folder hand-over most EBICS clients offer: payment files are dropped into an
*outbox* folder the client uploads from, statements appear in an *inbox* folder the client downloads to.

Every write is atomic (temporary file in the same folder, ``fsync``, ``os.replace``, ``fsync`` of the folder):
a reader never sees half a file, and an interruption leaves either the old state or the new one. Uploading the
same file twice is a no-op; uploading different content under an existing name is refused.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol, runtime_checkable

from gateway.errors import BankFileError, StatementError

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
STATEMENT_SUFFIXES = (".xml", ".camt", ".053", ".054")


def write_atomic(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` so that readers see the old file or the complete new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def safe_name(name: str) -> str:
    """A plain file name (no folders, no leading dot); anything else is refused."""
    if not isinstance(name, str) or not _SAFE_NAME.match(name) or ".." in name:
        raise BankFileError(f"file name {name!r} is not a plain name (letters, digits, . _ -)")
    return name


@runtime_checkable
class BankConnector(Protocol):
    """What the gateway needs from a bank."""

    def upload(self, name: str, content: bytes) -> str:
        """Hand a payment file to the bank; returns the bank-side reference. Idempotent per name and content."""
        ...

    def list_statements(self) -> list[str]:
        """Names of statements waiting to be fetched, oldest first."""
        ...

    def fetch_statement(self, name: str) -> bytes:
        """The bytes of one statement."""
        ...

    def acknowledge_statement(self, name: str) -> None:
        """Mark a statement as imported so it is not listed again."""
        ...


class FileBankConnector:
    """Folder hand-over: ``outbox`` for payment files to the bank, ``inbox`` for statements from the bank."""

    def __init__(self, outbox: Path | str, inbox: Path | str) -> None:
        self.outbox = Path(outbox)
        self.inbox = Path(inbox)
        self.processed = self.inbox / "processed"

    def upload(self, name: str, content: bytes) -> str:
        target = self.outbox / safe_name(name)
        if target.exists():
            if hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(content).digest():
                return target.name
            raise BankFileError(f"bank outbox already holds a different file named {name!r}; refusing to overwrite it")
        write_atomic(target, content)
        return target.name

    def list_statements(self) -> list[str]:
        if not self.inbox.is_dir():
            return []
        names = [
            p.name for p in self.inbox.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in STATEMENT_SUFFIXES
        ]
        return sorted(names)

    def fetch_statement(self, name: str) -> bytes:
        path = self.inbox / safe_name(name)
        if not path.is_file():
            raise StatementError(f"statement {name!r} is not in the inbox {self.inbox}")
        return path.read_bytes()

    def acknowledge_statement(self, name: str) -> None:
        source = self.inbox / safe_name(name)
        if not source.exists():
            return
        self.processed.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(source, self.processed / source.name)
        except FileNotFoundError:  # another worker acknowledged it a moment ago
            return
        fsync_dir(self.inbox)
        fsync_dir(self.processed)

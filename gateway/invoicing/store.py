"""Issued documents on disk, content-addressed: a file's name is the SHA-256 of its bytes (``ab/abcdef….ext``), and
the database keeps that hash. A file is written atomically and synced before the transaction that records it
commits, so a crash leaves at worst an unreferenced file (the next attempt writes the same name again); reading
checks the hash, so a changed file is found, never served."""

from __future__ import annotations

import hashlib
from pathlib import Path

from gateway.banking.bank import write_atomic
from gateway.errors import ConflictError, NotFoundError

SUFFIX = {"ubl": ".xml", "cii": ".xml", "pdf": ".pdf"}
MEDIA_TYPE = {"ubl": "application/xml", "cii": "application/xml", "pdf": "application/pdf"}


class DocumentStore:
    def __init__(self, root: Path):
        self.root = root

    def path(self, sha256: str, fmt: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}{SUFFIX.get(fmt, '')}"

    def put(self, data: bytes, fmt: str) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self.path(digest, fmt)
        if not (path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == digest):
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, data)
        return digest

    def get(self, sha256: str, fmt: str) -> bytes:
        path = self.path(sha256, fmt)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"invoice file {path} is missing from the document store {self.root}") from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ConflictError(f"invoice file {path} does not match its SHA-256 {sha256}: it was changed after issuance")
        return data

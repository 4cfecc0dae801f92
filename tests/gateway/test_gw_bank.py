"""The file bank connector: atomic, idempotent hand-over."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.banking.bank import BankConnector, FileBankConnector, safe_name, write_atomic
from gateway.errors import BankFileError, StatementError


def test_upload_is_atomic_and_idempotent(tmp_path: Path) -> None:
    bank = FileBankConnector(tmp_path / "out", tmp_path / "in")
    assert isinstance(bank, BankConnector)
    assert bank.upload("a.xml", b"<x/>") == "a.xml"
    assert bank.upload("a.xml", b"<x/>") == "a.xml"  # the same file again changes nothing
    with pytest.raises(BankFileError, match="already holds a different file named 'a.xml'"):
        bank.upload("a.xml", b"<y/>")
    assert (tmp_path / "out" / "a.xml").read_bytes() == b"<x/>"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.xml"]  # no temporary files left


@pytest.mark.parametrize("name", ["../escape.xml", "/etc/passwd", ".hidden.xml", "a/b.xml", "", "x" * 300])
def test_unsafe_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(BankFileError, match="is not a plain name"):
        FileBankConnector(tmp_path, tmp_path).upload(name, b"x")
    with pytest.raises(BankFileError):
        safe_name(name)


def test_interrupted_write_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.xml"
    write_atomic(target, b"old")

    def crash(*_args: object) -> None:
        raise OSError("disk pulled")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk pulled"):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.xml"]


def test_statement_inbox(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    bank = FileBankConnector(tmp_path / "out", inbox)
    assert bank.list_statements() == []
    write_atomic(inbox / "b.xml", b"2")
    write_atomic(inbox / "a.xml", b"1")
    (inbox / ".a.xml.123.tmp").write_bytes(b"partial")  # a download in progress is not listed
    (inbox / "notes.txt").write_text("x")
    assert bank.list_statements() == ["a.xml", "b.xml"]
    assert bank.fetch_statement("a.xml") == b"1"
    bank.acknowledge_statement("a.xml")
    bank.acknowledge_statement("a.xml")  # twice is harmless
    assert bank.list_statements() == ["b.xml"]
    assert (inbox / "processed" / "a.xml").read_bytes() == b"1"
    with pytest.raises(StatementError, match="statement 'a.xml' is not in the inbox"):
        bank.fetch_statement("a.xml")

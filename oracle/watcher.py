"""The watched folder: ``<inbox>/<source>/`` takes CSV and JSONL exports of that source.

Each file is ingested once it has not changed for ``file_settle_seconds`` (writers should still write under a
temporary name such as ``x.csv.part`` and rename). It then moves to ``processed/`` (read to the end; its
records may still be quarantined or rejected one by one) or ``rejected/`` (unreadable: unknown type, bad
header, not UTF-8, or a file the oracle failed on), with ``<name>.report.json`` beside it. A crash mid-file is
harmless: the file is still in the inbox and is resumed (see ``Pipeline.ingest_file``). A file that fails for
a reason of its own is moved aside with the error, so it cannot hold up the files after it; one that fails
because the database or the disk does (it may work next time) stays and is tried again, after the others.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from oracle.ingest import IngestResult, Pipeline
from oracle.records import FileFormatError, detect_format

log = logging.getLogger("settle.oracle.watcher")

SKIP_SUFFIXES = (".part", ".tmp", ".partial", ".report.json", ".swp")


class FolderWatcher:
    def __init__(
        self, pipeline: Pipeline, inbox: Path, *, settle_seconds: float = 1.0, poll_seconds: float = 1.0, progress_every: float = 5.0
    ):
        self.pipeline = pipeline
        self.inbox = inbox
        self.settle_seconds = settle_seconds
        self.poll_seconds = poll_seconds
        self.progress_every = progress_every
        self.stop_event = threading.Event()
        self._warned: set[str] = set()

    def run(self) -> None:
        self.inbox.mkdir(parents=True, exist_ok=True)
        log.info("watching %s for <source>/*.csv and <source>/*.jsonl", self.inbox)
        while not self.stop_event.is_set():
            try:
                self.scan_once()
            except Exception:  # noqa: BLE001 - keep watching; the error is logged with its trace
                log.exception("folder scan failed")
            self.stop_event.wait(self.poll_seconds)

    def ready_files(self) -> list[tuple[str, Path]]:
        if not self.inbox.is_dir():
            return []
        sources = self.pipeline.registry.sources
        out = []
        now = time.time()
        for folder in sorted(p for p in self.inbox.iterdir() if p.is_dir()):
            if folder.name not in sources:
                if folder.name not in self._warned:
                    log.warning("folder %s is not a known source: create it with 'settle oracle source add %s'", folder, folder.name)
                    self._warned.add(folder.name)
                continue
            for path in sorted(folder.iterdir()):
                if not path.is_file() or path.name.startswith(".") or path.name.endswith(SKIP_SUFFIXES):
                    continue
                if now - path.stat().st_mtime < self.settle_seconds:
                    continue
                out.append((folder.name, path))
        return out

    def scan_once(self) -> list[dict[str, Any]]:
        done = []
        for source, path in self.ready_files():
            try:
                done.append(self.process(source, path))
            except (SQLAlchemyError, OSError):  # the database or the disk failed: tried again next scan
                log.exception("%s: not processed this time; it stays in the inbox and is tried again", path)
        return done

    def process(self, source: str, path: Path) -> dict[str, Any]:
        started = time.monotonic()
        size = path.stat().st_size
        last = [started]

        def progress(result: IngestResult) -> None:
            if time.monotonic() - last[0] >= self.progress_every:
                last[0] = time.monotonic()
                pct = f"{100 * result.bytes_read / size:.0f}%" if size and result.bytes_read else "?"
                log.info("%s: %s read, %d records (%d accepted)", path.name, pct, result.items, result.accepted)

        report: dict[str, Any] = {"file": path.name, "source": source, "bytes": size, "started_at": datetime.now(UTC).isoformat()}
        try:
            detect_format(path.name)
            result = self.pipeline.ingest_file(source, path, progress=progress)
            destination = "processed"
            report.update(result.as_dict())
        except FileFormatError as exc:
            destination = "rejected"
            report["error"] = str(exc)
            partial = getattr(exc, "result", None)
            if partial is not None:
                report.update(partial.as_dict())
                report["note"] = (
                    f"the file is damaged: the {partial.items} record(s) before the damage were processed, the rest was not read"
                )
        except (SQLAlchemyError, OSError):
            raise
        except Exception as exc:  # noqa: BLE001 - a fault in the oracle on this file's content: set it aside, go on
            log.exception("%s: ingest failed; moved to rejected/ with the error", path.name)
            destination = "rejected"
            report["error"] = f"the oracle failed on this file: {type(exc).__name__}: {exc}"
            report["note"] = (
                "records stored before the failure stay stored (a resend of this file resumes, counting them once); "
                "the log has the trace: please report it"
            )
        report["seconds"] = round(time.monotonic() - started, 3)
        target_dir = path.parent / destination
        target_dir.mkdir(exist_ok=True)
        target = target_dir / path.name
        if target.exists():
            target = target_dir / f"{path.stem}.{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}{path.suffix}"
        report_path = target.with_name(target.name + ".report.json")
        tmp = report_path.with_name(report_path.name + ".tmp")
        tmp.write_text(json.dumps(report, indent=1, default=str))
        os.replace(tmp, report_path)
        os.replace(path, target)
        counts = report.get("counts", {})
        log.info("%s → %s/ (%s)", path.name, destination, ", ".join(f"{k} {v}" for k, v in counts.items()) or report.get("error"))
        return {"file": str(target), "report": str(report_path), "destination": destination, **counts}

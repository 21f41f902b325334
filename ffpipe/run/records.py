"""Run records: ``<workspace>/runs/<id>/events.jsonl`` as the run goes, ``run.json`` at the end."""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from ffpipe.run.events import Event


def new_run_id() -> str:
    """A sortable, unique run id: UTC time and a random suffix."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def write_json_atomically(path: Path, document: Any) -> None:
    """Write ``document`` as JSON next to ``path`` and rename it over ``path``."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, path)


class RunRecorder:
    """Appends every event to the run's events file and writes its run.json."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._events = (folder / "events.jsonl").open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._events.write(json.dumps(event.to_dict()) + "\n")
            self._events.flush()

    def finish(self, record: dict[str, Any]) -> Path:
        """Write run.json and close the events file; returns run.json's path."""
        with self._lock:
            self._events.close()
        path = self.folder / "run.json"
        write_json_atomically(path, record)
        return path

"""Offline sessions: record into a folder, replay into the store later.

A session folder is a store of its own (``session.db``) plus the artifact files written under
``<folder>/artifacts`` (offline tasks default their output_uri there). Importing replays each
task's records bundle (``records.py``) into the main store and re-uploads artifact and model
files to the main store's default destination, rewriting their URLs. The same bundle format
carries the records of pipeline steps that ran on remote workers.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Optional

from .. import config
from ..errors import NotFoundError, ValidationError
from .records import export_records, import_records
from .store import Store, default_store


def _open_session(folder_or_zip: str) -> tuple[Path, Optional[str]]:
    path = Path(folder_or_zip).expanduser()
    if path.is_file() and zipfile.is_zipfile(path):
        tmp = tempfile.mkdtemp(prefix="pipetrack-offline-")
        with zipfile.ZipFile(path) as archive:
            archive.extractall(tmp)
        candidates = list(Path(tmp).rglob("session.db"))
        if not candidates:
            raise ValidationError(f"{folder_or_zip!r} is a zip without a session.db (not an offline session)")
        return candidates[0].parent, tmp
    if not (path / "session.db").is_file():
        raise ValidationError(f"{folder_or_zip!r} is not an offline session folder or zip (no session.db inside)")
    return path, None


def _relocate(url: Optional[str], session_dir: Path, new_base: str) -> Optional[str]:
    """Re-upload a file that lives in the session folder; other URLs are kept."""
    from ..storage import is_local, join_url, local_path, upload_file
    if not url or not is_local(url):
        return url
    # the session may have moved (zip): find the file by its path below the artifacts folder
    original = Path(local_path(url))
    parts = original.parts
    if "artifacts" in parts:
        relative = Path(*parts[parts.index("artifacts") + 1:])
        candidate = session_dir / "artifacts" / relative
        if candidate.exists():
            return upload_file(str(candidate), join_url(new_base, *relative.parts))
    return url if original.exists() else url


def import_session(folder_or_zip: str, previous_task_id: Optional[str] = None, iteration_offset: int = 0) -> str:
    """Replay the session's task(s) into the default store; returns the (main) task id."""
    from ..storage import normalize_url
    if not isinstance(iteration_offset, int):
        raise ValidationError(f"iteration_offset must be an int, got {iteration_offset!r}")
    session_dir, tmp = _open_session(folder_or_zip)
    try:
        session_store = Store(session_dir / "session.db")
        rows = session_store.query("SELECT id FROM tasks ORDER BY created")
        if not rows:
            raise ValidationError(f"offline session {folder_or_zip!r} holds no task")
        target = default_store()
        if previous_task_id is not None and target.task_row(previous_task_id) is None:
            raise NotFoundError(f"previous_task_id {previous_task_id!r} names no task in {target.path}")
        main_id = None
        for row in rows:
            bundle = export_records(session_store, row["id"])
            new_base = config.default_output_uri()
            bundle["task"]["output_uri"] = None
            for artifact in bundle["artifacts"]:
                artifact["uri"] = _relocate(artifact["uri"], session_dir, new_base)
            for model in bundle["models"]:
                model["uri"] = _relocate(model["uri"], session_dir, new_base)
            for sample in bundle["debug_samples"]:
                sample["url"] = _relocate(sample["url"], session_dir, new_base)
            task_id = import_records(target, bundle, target_id=previous_task_id if main_id is None else None,
                                     iteration_offset=iteration_offset)
            main_id = main_id or task_id
        session_store.close()
        return main_id
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def offline_output_uri(store: Store) -> str:
    from ..storage import normalize_url
    return normalize_url(str(Path(store.path).parent / "artifacts"))

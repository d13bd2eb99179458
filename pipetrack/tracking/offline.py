"""Offline sessions: record into a folder, replay into the store later.

A session folder is a store of its own (``session.db``) plus the artifact files written under
``<folder>/artifacts`` (offline tasks default their output_uri there). Importing replays each
task's records bundle (``records.py``) into the main store and re-uploads artifact and model
files to the main store's default destination, rewriting their URLs. The same bundle format
carries the records of pipeline steps that ran on remote workers.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Optional
from urllib.parse import unquote

from .. import config
from ..errors import NotFoundError, ValidationError
from .records import export_records, import_records
from .session import OFFLINE_DB
from ..store import TaskStore, default_store, new_id
from ..store.sqlite import SqliteStore


def _open_session(folder_or_zip: str) -> tuple[Path, Optional[str]]:
    path = Path(folder_or_zip).expanduser()
    if path.is_file() and zipfile.is_zipfile(path):
        tmp = tempfile.mkdtemp(prefix="pipetrack-offline-")
        with zipfile.ZipFile(path) as archive:
            archive.extractall(tmp)
        candidates = list(Path(tmp).rglob(OFFLINE_DB))
        if not candidates:
            raise ValidationError(f"{folder_or_zip!r} is a zip without a session.db (not an offline session)")
        return candidates[0].parent, tmp
    if not (path / OFFLINE_DB).is_file():
        raise ValidationError(f"{folder_or_zip!r} is not an offline session folder or zip (no session.db inside)")
    return path, None


def _relocate(url: Optional[str], old_base: Optional[str], session_dir: Path, new_base: str,
              source_id: str, target_id: str) -> Optional[str]:
    """Re-upload a file recorded under the session's artifact folder; other URLs are kept.

    The session may have moved (unzipped elsewhere), so the file is found by its path relative
    to the output URI the offline task had (``old_base``), below ``<session>/artifacts``.
    """
    from ..storage import join_url, upload_file
    if not url or not old_base or not url.startswith(old_base.rstrip("/") + "/"):
        return url
    relative = unquote(url[len(old_base.rstrip("/")) + 1:])  # file:// URLs are percent-encoded
    candidate = session_dir / "artifacts" / relative
    if not candidate.exists():
        return url
    return upload_file(str(candidate), join_url(new_base, *relative.replace(source_id, target_id).split("/")))


def import_session(folder_or_zip: str, previous_task_id: Optional[str] = None, iteration_offset: int = 0) -> str:
    """Replay the session's task(s) into the default store; returns the (main) task id."""
    if not isinstance(iteration_offset, int) or isinstance(iteration_offset, bool):
        raise ValidationError(f"iteration_offset must be an int, got {iteration_offset!r}")
    session_dir, tmp = _open_session(folder_or_zip)
    try:
        session_store = SqliteStore(session_dir / OFFLINE_DB)
        task_ids = session_store.task_ids()
        if not task_ids:
            raise ValidationError(f"offline session {folder_or_zip!r} holds no task")
        target = default_store()
        if previous_task_id is not None and target.task_row(previous_task_id) is None:
            raise NotFoundError(f"previous_task_id {previous_task_id!r} names no task in {target}")
        main_id = None
        new_base = config.default_output_uri()
        for task_id in task_ids:
            bundle = export_records(session_store, task_id)
            source_id = bundle["task"]["id"]
            if main_id is None and previous_task_id:
                target_id = previous_task_id
            elif target.task_row(source_id) is None:
                target_id = source_id  # the id the offline run printed stays valid
            else:
                target_id = new_id()  # imported before: this import is a new copy, not a duplicate
            old_base = bundle["task"]["output_uri"]
            bundle["task"]["output_uri"] = None
            moves = (("artifacts", "uri"), ("models", "uri"), ("debug_samples", "url"))
            for table, column in moves:
                for record in bundle[table]:
                    record[column] = _relocate(record[column], old_base, session_dir, new_base, source_id, target_id)
            imported = import_records(target, bundle, target_id=target_id, iteration_offset=iteration_offset)
            main_id = main_id or imported
        session_store.close()
        return main_id
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def finish_session(store: TaskStore) -> Path:
    """Make the session folder self-contained (WAL checkpointed) and zip it next to itself."""
    folder = store.home
    store.checkpoint()  # another connection still reading: the -wal file goes into the zip instead
    archive = folder.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.endswith("-shm"):
                zf.write(path, path.relative_to(folder.parent))
    print(f"pipetrack: offline session stored in {archive} (import it with Task.import_offline_session)",
          file=sys.__stderr__)
    return archive


def offline_output_uri(store: TaskStore) -> str:
    """Where an offline task's artifacts, models and debug samples go: inside its session folder."""
    return (store.home / "artifacts").resolve().as_uri()

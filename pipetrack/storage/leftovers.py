"""Removal of what killed uploads leave behind: ``.upload-*`` work folders and ``.*.part`` files.

An upload serialises into a ``.upload-*`` folder at the root of a local destination, and a
local write goes to a ``.<name>.*.part`` file beside its target; both are renamed or removed when
the write ends, so only a killed process leaves them. They are removed once they are older than
a grace period (an hour by default, far longer than any upload still making progress: the age is
that of the newest file inside), when a store opens (the default destination) and when a task
is reset or deleted (its own destination and folder).
"""
from __future__ import annotations

import os
import shutil
import time
from typing import Iterable

GRACE_SECONDS = 3600.0
UPLOAD_PREFIX = ".upload-"
PART_SUFFIX = ".part"


def _newest_mtime(path: str) -> float:
    newest = os.lstat(path).st_mtime
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                newest = max(newest, os.lstat(os.path.join(folder, name)).st_mtime)
            except OSError:
                pass
    return newest


def remove_stale(folders: Iterable[str], grace: float = GRACE_SECONDS) -> list[str]:
    """Remove ``.upload-*`` folders and ``.*.part`` files directly inside ``folders`` whose newest
    content is older than ``grace`` seconds; returns what was removed. Missing folders are fine."""
    removed: list[str] = []
    cutoff = time.time() - grace
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            is_upload = entry.name.startswith(UPLOAD_PREFIX) and entry.is_dir(follow_symlinks=False)
            is_part = entry.name.startswith(".") and entry.name.endswith(PART_SUFFIX) \
                and entry.is_file(follow_symlinks=False)
            if not (is_upload or is_part):
                continue
            try:
                if _newest_mtime(entry.path) >= cutoff:
                    continue
                if is_upload:
                    shutil.rmtree(entry.path)
                else:
                    os.remove(entry.path)
                removed.append(entry.path)
            except OSError:
                pass  # raced with another process cleaning up, or not ours to remove
    return removed


__all__ = ["remove_stale", "GRACE_SECONDS", "UPLOAD_PREFIX"]

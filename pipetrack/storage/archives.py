"""Zip creation and safe, atomic archive extraction (.zip, .tar, .tar.gz, .tgz)."""
from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import zipfile
from typing import Iterable

from ..errors import StorageError

ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")


def is_archive(path: str) -> bool:
    """True when ``path``'s name ends with a supported archive suffix."""
    return os.path.basename(str(path)).lower().endswith(ARCHIVE_SUFFIXES)


def make_zip(files: Iterable[tuple[str, str]], dest: str) -> str:
    """Write ``(local file, name in archive)`` pairs into a deflated zip at ``dest``."""
    os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for local, arcname in files:
            zf.write(local, arcname)
    return dest


def _inside(root: str, name: str) -> bool:
    target = os.path.realpath(os.path.join(root, name))
    return target == root or target.startswith(root + os.sep)


def _extract_zip(archive: str, dest: str) -> None:
    root = os.path.realpath(dest)
    with zipfile.ZipFile(archive) as zf:
        for member in zf.namelist():
            if not _inside(root, member):
                raise StorageError(f"refusing to extract {archive}: member {member!r} escapes the target folder")
        zf.extractall(dest)


def _extract_tar(archive: str, dest: str) -> None:
    with tarfile.open(archive) as tf:
        if hasattr(tarfile, "data_filter"):
            tf.extractall(dest, filter="data")
            return
        root = os.path.realpath(dest)  # pragma: no cover - Python without extraction filters
        for member in tf.getmembers():
            if not _inside(root, member.name) or member.issym() or member.islnk():
                raise StorageError(f"refusing to extract {archive}: unsafe member {member.name!r}")
        tf.extractall(dest)


def extract_archive(archive: str, dest_dir: str, force: bool = False) -> str:
    """Extract ``archive`` into ``dest_dir`` once, atomically; return ``dest_dir``.

    Extraction goes to a temporary sibling folder that is renamed into place, so concurrent
    callers (threads or processes) all end up with one complete folder. An existing folder
    is reused unless ``force``.
    """
    dest_dir = os.path.abspath(dest_dir)
    if os.path.isdir(dest_dir) and not force:
        return dest_dir
    parent = os.path.dirname(dest_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix="." + os.path.basename(dest_dir)[:60] + ".", suffix=".part")
    try:
        try:
            if archive.lower().endswith(".zip"):
                _extract_zip(archive, tmp)
            else:
                _extract_tar(archive, tmp)
        except StorageError:
            raise
        except Exception as err:
            raise StorageError(f"extraction of {archive} failed: {type(err).__name__}: {err}") from err
        if force and os.path.isdir(dest_dir):
            trash = tmp + ".old"
            try:
                os.rename(dest_dir, trash)
                shutil.rmtree(trash, ignore_errors=True)
            except OSError:
                pass
        try:
            os.rename(tmp, dest_dir)
        except OSError as err:
            if not os.path.isdir(dest_dir):  # a lost race is fine: the winner's folder is there
                raise StorageError(f"extraction of {archive} into {dest_dir} failed: {err}") from err
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return dest_dir


__all__ = ["ARCHIVE_SUFFIXES", "is_archive", "make_zip", "extract_archive"]

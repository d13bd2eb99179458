"""Byte movement between local files and storage URLs (any fsspec protocol).

Local destinations are written to a temporary file in the destination folder and then
``os.replace``-d into place, so a reader never sees a partial file. Every I/O failure is
raised as :class:`pipetrack.errors.StorageError` naming the URL and the original error.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from .. import config
from ..errors import StorageError, ValidationError
from .filesystems import filesystem_for
from .urls import is_local, local_path as _local_path, normalize_url, protocol

CHUNK = 1 << 20
# Object stores have no folders to create (s3fs.makedirs would even try to create a bucket).
_OBJECT_STORES = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss", "memory", "http", "https"}


@contextmanager
def wrap_errors(action: str, url: str) -> Iterator[None]:
    """Re-raise any non-pipetrack exception as StorageError("<action> <url> failed: ...")."""
    try:
        yield
    except (StorageError, ValidationError):
        raise
    except Exception as err:
        raise StorageError(f"{action} {url} failed: {type(err).__name__}: {err}") from err


_UMASK: list[int] = []


def _umask() -> int:
    """The process umask, read once (Linux reports it in /proc; elsewhere set-and-restore)."""
    if not _UMASK:
        try:
            with open("/proc/self/status") as fh:
                _UMASK.append(next(int(line.split()[1], 8) for line in fh if line.startswith("Umask:")))
        except (OSError, StopIteration, ValueError):
            current = os.umask(0o022)
            os.umask(current)
            _UMASK.append(current)
    return _UMASK[0]


def make_local_dirs(path: str) -> None:
    """Create a local folder: private (0700) inside the pipetrack home, by the umask elsewhere
    (a shared output destination stays readable by the team, the sha256 check protects it)."""
    if os.path.isdir(path):  # the usual case on hot paths (every artifact): one stat, no realpath
        return
    if config.is_private_path(path):
        config.private_dir(Path(path))
    else:
        os.makedirs(path, exist_ok=True)


def set_local_file_mode(path: str) -> None:
    """0600 inside the pipetrack home, the umask's mode elsewhere, for a file pipetrack wrote."""
    os.chmod(path, 0o600 if config.is_private_path(path) else 0o666 & ~_umask())


def atomic_write_local(dest: str, writer: Callable[[str], None]) -> str:
    """Call ``writer(tmp_path)`` on a temp file beside ``dest``, then rename it to ``dest``."""
    parent = os.path.dirname(dest) or "."
    make_local_dirs(parent)
    fd, tmp = tempfile.mkstemp(dir=parent, prefix="." + os.path.basename(dest)[:60] + ".", suffix=".part")
    os.close(fd)
    try:
        writer(tmp)
        set_local_file_mode(tmp)
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    return dest


def _source_path(local_path: str, dest: str) -> str:
    src = _local_path(local_path)
    if not os.path.isfile(src):
        raise StorageError(f"upload of {src} to {dest} failed: source file not found")
    return src


def _upload_once(src: str, url: str, move: bool) -> None:
    if is_local(url):
        dest = _local_path(url)
        if os.path.exists(dest) and os.path.samefile(src, dest):
            return
        make_local_dirs(os.path.dirname(dest) or ".")
        if move:
            try:
                set_local_file_mode(src)
                os.replace(src, dest)  # same filesystem: atomic, no copy
                return
            except OSError:
                pass  # e.g. cross-device: fall back to copy + delete
        atomic_write_local(dest, lambda tmp: shutil.copyfile(src, tmp))
    else:
        fs, path = filesystem_for(url)
        if protocol(url) not in _OBJECT_STORES:
            parent = fs._parent(path)
            if parent:
                fs.makedirs(parent, exist_ok=True)
        fs.put_file(src, path)
    if move and os.path.exists(src):
        os.remove(src)


def upload_file(local_path: str, url: str, retries: int = 0, *, move: bool = False) -> str:
    """Copy a local file to ``url`` (parents created); return the normalised URL.

    ``retries`` extra attempts are made on failure (with a short backoff). ``move=True``
    consumes the source: on the same local filesystem it is renamed into place (no copy),
    which is how freshly serialised artifacts are published.
    """
    dest = normalize_url(url)
    src = _source_path(local_path, dest)
    attempts = max(0, int(retries or 0)) + 1
    for attempt in range(attempts):
        try:
            with wrap_errors(f"upload of {src} to", dest):
                _upload_once(src, dest, move)
            return dest
        except StorageError:
            if attempt + 1 >= attempts:
                raise
            time.sleep(min(0.5 * 2 ** attempt, 5.0))
    return dest  # pragma: no cover


def upload_bytes(data: bytes | bytearray | memoryview, url: str) -> str:
    """Write ``data`` to ``url`` (atomically for local destinations); return the URL."""
    dest = normalize_url(url)
    with wrap_errors("write of", dest):
        if is_local(dest):
            def _write(tmp: str) -> None:
                with open(tmp, "wb") as fh:
                    fh.write(data)
            atomic_write_local(_local_path(dest), _write)
        else:
            fs, path = filesystem_for(dest)
            if protocol(dest) not in _OBJECT_STORES and fs._parent(path):
                fs.makedirs(fs._parent(path), exist_ok=True)
            fs.pipe_file(path, bytes(data))
    return dest


def download_file(url: str, local_path: str, overwrite: bool = True) -> str:
    """Copy ``url`` to a local file (atomically); return the local path.

    With ``overwrite=False`` an existing local file is kept and its path returned.
    """
    src = normalize_url(url)
    dest = os.path.abspath(os.path.expanduser(os.fspath(local_path)))
    if not overwrite and os.path.exists(dest):
        return dest
    with wrap_errors("download of", src):
        if is_local(src):
            path = _local_path(src)
            if os.path.exists(dest) and os.path.samefile(path, dest):
                return dest
            atomic_write_local(dest, lambda tmp: shutil.copyfile(path, tmp))
        else:
            fs, path = filesystem_for(src)
            atomic_write_local(dest, lambda tmp: fs.get_file(path, tmp))
    return dest


def read_bytes(url: str) -> bytes:
    """The whole content of ``url``."""
    src = normalize_url(url)
    with wrap_errors("read of", src):
        if is_local(src):
            return Path(_local_path(src)).read_bytes()
        fs, path = filesystem_for(src)
        return fs.cat_file(path)


def _query(url: str, action: str, local: Callable[[str], object], remote: str) -> object:
    """Ask a question about ``url``: ``local(path)`` on this machine, else the fsspec method ``remote``."""
    src = normalize_url(url)
    with wrap_errors(action, src):
        if is_local(src):
            return local(_local_path(src))
        fs, path = filesystem_for(src)
        return getattr(fs, remote)(path)


def exists(url: str) -> bool:
    """True when a file or folder exists at ``url``."""
    return bool(_query(url, "existence check of", os.path.exists, "exists"))


def is_file(url: str) -> bool:
    """True when ``url`` is an existing file (not a folder)."""
    return bool(_query(url, "file check of", os.path.isfile, "isfile"))


def delete(url: str, recursive: bool = False) -> None:
    """Remove ``url`` (a folder only with ``recursive=True``); a missing target is fine."""
    src = normalize_url(url)
    with wrap_errors("delete of", src):
        if is_local(src):
            path = _local_path(src)
            if os.path.isdir(path) and not os.path.islink(path):
                if not recursive:
                    raise StorageError(f"delete of {src} failed: it is a folder; pass recursive=True")
                shutil.rmtree(path, ignore_errors=False)
            elif os.path.lexists(path):
                try:
                    os.remove(path)
                except FileNotFoundError:
                    pass
            return
        fs, path = filesystem_for(src)
        try:
            fs.rm(path, recursive=recursive)
        except FileNotFoundError:
            pass


def _entry_url(url: str, root: str, path: str, fs: object) -> str:
    if is_local(url):
        return Path(path).as_uri()
    root = root.rstrip("/")
    if path.rstrip("/") == root:
        return url
    if root and path.startswith(root + "/"):
        return url.rstrip("/") + path[len(root):]
    return fs.unstrip_protocol(path)  # type: ignore[attr-defined]


def list_entries(url: str, recursive: bool = True) -> list[tuple[str, int]]:
    """``(file URL, size in bytes)`` for every file under ``url`` (or ``url`` itself), sorted."""
    src = normalize_url(url)
    with wrap_errors("listing of", src):
        fs, path = filesystem_for(src)
        try:
            if recursive:
                found = fs.find(path, detail=True)
                infos = list(found.values()) if isinstance(found, dict) else found
            else:
                infos = [i for i in fs.ls(path, detail=True) if i.get("type") == "file"]
        except FileNotFoundError:
            return []
        entries = [(_entry_url(src, path, fs._strip_protocol(i["name"]), fs), int(i.get("size") or 0))
                   for i in infos if i.get("type", "file") == "file"]
    return sorted(entries)


def list_files(url: str, recursive: bool = True) -> list[str]:
    """Full URLs of the files under ``url`` (recursively by default); [] when missing."""
    return [entry for entry, _ in list_entries(url, recursive=recursive)]


def size(url: str) -> int:
    """Size of the file at ``url`` in bytes."""
    return int(_query(url, "size query of", os.path.getsize, "size"))


def sha256_file(path: str) -> str:
    """Hex sha256 of a local file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    local = _local_path(path)
    with wrap_errors("hashing of", local):
        with open(local, "rb") as fh:
            for chunk in iter(lambda: fh.read(CHUNK), b""):
                digest.update(chunk)
    return digest.hexdigest()


__all__ = [
    "upload_file", "upload_bytes", "download_file", "read_bytes", "exists", "is_file", "delete",
    "list_files", "list_entries", "size", "sha256_file", "wrap_errors", "atomic_write_local",
    "make_local_dirs", "set_local_file_mode",
]

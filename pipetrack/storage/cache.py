"""Local cache of remote files: ``config.cache_dir()/<sha256(url)[:16]>/<basename>``.

Local paths and ``file://`` URLs are never copied. Remote files are downloaded to a temporary
file and renamed into place, and archives are extracted to a temporary folder and renamed, so
several processes asking for the same URL at once all get one complete copy.

The cache is bounded (``PIPETRACK_CACHE_MAX_MB``, default 10 GiB; a Dask worker downloads every
input of every step it runs): after each download the least recently used entries (a URL's or
a content hash's folder, extracted copy included) are removed until the cache fits again. An
entry is "used" when it is downloaded or served (its folder's mtime is touched); entries used
in the last minute are never removed, so a path just handed to a step stays there.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

from .. import config
from ..errors import StorageError, ValidationError
from .archives import extract_archive as _extract, is_archive
from .transfer import download_file
from .urls import basename, has_scheme, is_local, local_path, normalize_url

EXTRACTED_SUFFIX = "_extracted"


def _safe_name(value: str, what: str) -> str:
    if not value or value in (".", "..") or "/" in value or "\\" in value or "\x00" in value:
        raise ValidationError(f"invalid {what} {value!r}; expected a plain file/folder name without '/' or '..'")
    return value


def cache_root(cache_context: str | None = None) -> Path:
    """The cache folder, or its ``cache_context`` sub-folder (ClearML's cache contexts)."""
    root = config.cache_dir()
    if cache_context:
        root = root / _safe_name(cache_context, "cache_context")
        root.mkdir(parents=True, exist_ok=True)
    return root


def cache_key(url: str) -> str:
    """Folder name of ``url`` in the cache: the first 16 hex digits of sha256(url)."""
    return hashlib.sha256(normalize_url(url).encode("utf-8")).hexdigest()[:16]


def _extract_local(path: str, force: bool, cache_context: str | None) -> str:
    """Extract a local archive into the cache, keyed by its URL, size and mtime."""
    st = os.stat(path)
    ident = f"{Path(path).as_uri()}|{st.st_size}|{st.st_mtime_ns}"
    folder = cache_root(cache_context) / hashlib.sha256(ident.encode("utf-8")).hexdigest()[:16]
    return _extract(path, str(folder / (os.path.basename(path) + EXTRACTED_SUFFIX)), force=force)


def extract_cached(path: str, force: bool = False) -> str:
    """The folder a (verified) archive in the cache is extracted into, beside it; extracted once."""
    return _extract(path, path + EXTRACTED_SUFFIX, force=force)


def get_local_copy(url: str, extract_archive: bool = False, force_download: bool = False,
                   name: str | None = None, cache_context: str | None = None) -> str:
    """Local path holding the content of ``url``.

    - local path / ``file://``: the path itself (no copy); must exist.
    - other URLs: downloaded once into the cache and reused unless ``force_download``;
      ``name`` overrides the cached file's name.
    - ``extract_archive`` and a .zip/.tar/.tar.gz/.tgz: the folder it was extracted into
      (``<file>_extracted``), extracted once.
    """
    if not has_scheme(str(url)) or is_local(url):
        path = local_path(url)
        if not os.path.exists(path):
            raise StorageError(f"local copy of {normalize_url(url)} failed: no such file or folder")
        if extract_archive and os.path.isfile(path) and is_archive(path):
            return _extract_local(path, force_download, cache_context)
        return path
    url = normalize_url(url)
    fname = _safe_name(name or basename(url) or "download", "cached file name")
    target = cache_root(cache_context) / cache_key(url) / fname
    if force_download or not target.is_file():
        download_file(url, str(target), overwrite=True)
        touch_entry(target.parent)
        enforce_limit()
    else:
        touch_entry(target.parent)
    if extract_archive and is_archive(fname):
        try:
            return _extract(str(target), str(target) + EXTRACTED_SUFFIX, force=force_download)
        except StorageError as err:
            raise StorageError(f"local copy of {url} failed: {err}") from err
    return str(target)


RECENTLY_USED_SECONDS = 60.0


def touch_entry(folder: Path) -> None:
    """Mark a cache entry used now (what least-recently-used eviction goes by)."""
    try:
        os.utime(folder)
    except OSError:
        pass


def _entries(root: Path) -> list[tuple[float, int, Path]]:
    """(last used, bytes, folder) of every cache entry: ``<key>/``, ``objects/<xx>/<sha256>/`` and
    the entries of cache-context folders. The verification stamps are not entries."""
    from .integrity import OBJECTS, STAMPS
    found = []

    def add(folder: Path) -> None:
        size = 0
        for base, _dirs, files in os.walk(folder):
            for name in files:
                try:
                    size += os.lstat(os.path.join(base, name)).st_size
                except OSError:
                    pass
        try:
            found.append((folder.stat().st_mtime, size, folder))
        except OSError:
            pass

    for child in root.iterdir() if root.is_dir() else ():
        if not child.is_dir() or child.name == STAMPS:
            continue
        if child.name == OBJECTS:
            for prefix in child.iterdir():
                for entry in prefix.iterdir() if prefix.is_dir() else ():
                    add(entry)
        elif len(child.name) == 16 and all(c in "0123456789abcdef" for c in child.name):
            add(child)
        else:  # a cache context (ClearML's cache_context): its own entries
            for entry in child.iterdir():
                if entry.is_dir():
                    add(entry)
    return found


def enforce_limit(limit: int | None = None) -> list[Path]:
    """Remove least recently used entries until the cache fits ``limit`` bytes (default
    ``config.cache_limit_bytes()``); returns the folders removed."""
    limit = config.cache_limit_bytes() if limit is None else limit
    entries = _entries(config.cache_dir())
    total = sum(size for _, size, _ in entries)
    removed = []
    now = time.time()
    for used, size, folder in sorted(entries, key=lambda e: e[0]):
        if total <= limit:
            break
        if now - used < RECENTLY_USED_SECONDS:
            break  # everything from here on was used just now
        shutil.rmtree(folder, ignore_errors=True)
        total -= size
        removed.append(folder)
    return removed


__all__ = ["get_local_copy", "extract_cached", "cache_root", "cache_key", "EXTRACTED_SUFFIX", "enforce_limit"]


def sha256_url(url: str) -> str:
    """Hex sha256 of the content at ``url`` (a local file is hashed in place, a remote one via the cache)."""
    from .integrity import pending_hash
    from .transfer import sha256_file
    path = get_local_copy(url)
    return pending_hash(path) or sha256_file(path)

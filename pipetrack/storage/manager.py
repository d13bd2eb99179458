"""``StorageManager``: ClearML's storage helper class over pipetrack's fsspec storage.

Every URL may be a local path, ``file://``, ``memory://``, ``s3://`` or any fsspec URL.
Uploads are synchronous (``wait_for_upload`` is accepted for compatibility). Failures raise
:class:`pipetrack.errors.StorageError` unless a method offers ``silence_errors``.
"""
from __future__ import annotations

import builtins
import fnmatch
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .. import config
from ..errors import StorageError, ValidationError
from . import transfer
from .cache import get_local_copy as _get_local_copy
from .urls import is_local, join_url, local_path, normalize_url

_PARALLEL = 8


def _relative_to(url: str, base: str) -> str:
    """``url``'s path below ``base`` ('' when equal)."""
    if url == base:
        return ""
    if url.startswith(base.rstrip("/") + "/"):
        return url[len(base.rstrip("/")) + 1:]
    return url.split("://", 1)[-1]


def _path_below_root(url: str) -> str:
    """Relative local path mirroring ``url``: the key below the bucket/root (ClearML layout)."""
    if is_local(url):
        return local_path(url).lstrip(os.sep)
    rest = url.split("://", 1)[1]
    if url.startswith("memory://"):
        return rest.lstrip("/")
    return rest.split("/", 1)[1] if "/" in rest else rest


def _local_rel(rel_url_path: str, url: str) -> str:
    """Decode a relative URL path into a local relative path (file URLs are percent-encoded)."""
    from urllib.parse import unquote
    return unquote(rel_url_path) if is_local(url) else rel_url_path


class StorageManager:
    """Upload, download, list and cache files at any storage URL (ClearML-compatible API)."""

    @classmethod
    def upload_file(cls, local_file: str, remote_url: str, wait_for_upload: bool = True,
                    retries: int | None = None) -> str:
        """Upload ``local_file`` to the full destination ``remote_url``; return the URL."""
        return transfer.upload_file(local_file, remote_url, retries=retries or 0)

    @classmethod
    def download_file(cls, remote_url: str, local_folder: str | None = None, overwrite: bool = False,
                      skip_zero_size_check: bool = False, silence_errors: bool = False) -> str | None:
        """Download ``remote_url`` below ``local_folder`` (default: the cache folder), keeping
        the object's path below its bucket; return the local path (None on error if silenced)."""
        try:
            url = normalize_url(remote_url)
            folder = Path(local_folder).expanduser().absolute() if local_folder else config.cache_dir()
            dest = str(folder / _path_below_root(url))
            result = transfer.download_file(url, dest, overwrite=overwrite)
            if not skip_zero_size_check and os.path.getsize(result) == 0:
                os.remove(result)
                raise StorageError(f"download of {url} failed: the downloaded file is empty "
                                   "(pass skip_zero_size_check=True to accept empty files)")
            return result
        except (StorageError, ValidationError):
            if silence_errors:
                return None
            raise

    @classmethod
    def get_local_copy(cls, remote_url: str, cache_context: str | None = None, extract_archive: bool = True,
                       name: str | None = None, force_download: bool = False) -> str:
        """Cached local copy of ``remote_url`` (local files are returned as they are);
        archives are extracted and the folder returned when ``extract_archive``."""
        return _get_local_copy(remote_url, extract_archive=extract_archive, force_download=force_download,
                               name=name, cache_context=cache_context)

    @classmethod
    def list(cls, remote_url: str, return_full_path: bool = False,
             with_metadata: bool = False) -> builtins.list[Any]:
        """Files below ``remote_url`` (recursively): paths relative to it, or full URLs;
        with ``with_metadata`` dicts ``{"name": ..., "size": ...}``."""
        base = normalize_url(remote_url)
        out: builtins.list[Any] = []
        for url, nbytes in transfer.list_entries(base, recursive=True):
            name = url if return_full_path else _local_rel(_relative_to(url, base), base)
            out.append({"name": name, "size": nbytes} if with_metadata else name)
        return out

    @classmethod
    def upload_folder(cls, local_folder: str, remote_url: str, match_wildcard: str | None = None) -> str:
        """Upload every file below ``local_folder`` (matching ``match_wildcard``, an rglob
        pattern such as ``*.json``) to the same relative path below ``remote_url``."""
        root = Path(local_path(local_folder))
        if not root.is_dir():
            raise StorageError(f"upload of {root} to {remote_url} failed: local folder not found")
        base = normalize_url(remote_url)
        files = [p for p in root.rglob(match_wildcard or "*") if p.is_file()]
        jobs = [(str(p), join_url(base, p.relative_to(root).as_posix())) for p in files]
        with ThreadPoolExecutor(max_workers=_PARALLEL) as pool:
            for future in [pool.submit(transfer.upload_file, src, dest) for src, dest in jobs]:
                future.result()
        return base

    @classmethod
    def download_folder(cls, remote_url: str, local_folder: str | None = None,
                        match_wildcard: str | None = None, overwrite: bool = False) -> str:
        """Download every file below ``remote_url`` (whose URL matches ``match_wildcard``) to
        the same relative path below ``local_folder``; existing non-empty files are kept
        unless ``overwrite``. Returns the local folder."""
        base = normalize_url(remote_url)
        folder = Path(local_folder).expanduser().absolute() if local_folder else config.cache_dir()
        jobs = []
        for url in transfer.list_files(base, recursive=True):
            if match_wildcard and not fnmatch.fnmatch(url, match_wildcard):
                continue
            rel = _local_rel(_relative_to(url, base), base) or os.path.basename(local_path(url) if is_local(url) else url)
            dest = folder / rel
            if not overwrite and dest.is_file() and dest.stat().st_size > 0:
                continue
            jobs.append((url, str(dest)))
        with ThreadPoolExecutor(max_workers=_PARALLEL) as pool:
            for future in [pool.submit(transfer.download_file, src, dest) for src, dest in jobs]:
                future.result()
        return str(folder)

    @classmethod
    def exists_file(cls, remote_url: str) -> bool:
        """True when ``remote_url`` is an existing file (False for folders)."""
        return transfer.is_file(remote_url)

    @classmethod
    def get_file_size_bytes(cls, remote_url: str, silence_errors: bool = False) -> int | None:
        """Size of the file at ``remote_url`` in bytes (None on error if silenced)."""
        try:
            return transfer.size(remote_url)
        except StorageError:
            if silence_errors:
                return None
            raise


__all__ = ["StorageManager"]

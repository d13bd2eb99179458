"""Verified reads: stored bytes are checked against the sha256 pipetrack recorded when it wrote them.

Every artifact read that loads a value or hands out a file goes through :func:`verified_local_copy`
(or :func:`verified_bytes`), given the hash recorded in the store. A mismatch raises
:class:`~pipetrack.errors.IntegrityError` naming what was read, its URL, and both hashes; a file
with no recorded hash (written by an older pipetrack) is read with a warning, except where the
caller refuses unverified bytes (pickles: unpickling runs code).

Remote files are hashed while they are downloaded (one pass) into a content-addressed cache,
``cache/objects/<sha256[:2]>/<sha256>/<name>``, and only renamed into place when the hash
matches: a cache entry's path says what its bytes must be.

Why a local file is not re-hashed on every read: hashing costs ~0.16 s per 200 MB here, three
times a raw ``np.save`` + ``np.load`` round trip. Like git's index, pipetrack keeps a *stamp* of
each local file it hashed or verified — device, inode, size, mtime and ctime (ns) with the
sha256 — in ``cache/stamps/`` (private to the user). A read whose file still has that stamp is
the very file that was hashed; any write through the filesystem changes mtime *and* ctime,
and ctime cannot be set back by an unprivileged user, so a flipped byte, a truncation, a copy
or a rename over the file all force a full re-hash. What a stamp does not catch is corruption
below the filesystem (a failing disk) of a file that was already verified;
``PIPETRACK_VERIFY=full`` re-hashes on every read for those who want that too.

A large file written to a local destination is hashed on a background thread
(:func:`hash_in_background`), so ``upload_artifact`` returns after the rename; until its hash is
recorded, this process knows the file by the stat it had right after the write
(:func:`written_unchanged`). The task's ``flush()``/``close()``, a pipeline step's completion and
the interpreter's exit wait for those hashes, so other processes find them recorded.
"""
from __future__ import annotations

import hashlib
import os
import threading
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Optional

from .. import config
from ..errors import IntegrityError, StorageError
from .transfer import CHUNK, atomic_write_local, sha256_file, wrap_errors
from .urls import basename, has_scheme, is_local, local_path, normalize_url

OBJECTS = "objects"
STAMPS = "stamps"


def _stamp_path(path: str) -> Path:
    return config.cache_dir() / STAMPS / hashlib.sha256(os.path.realpath(path).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _stat_key(st: os.stat_result) -> str:
    return f"{st.st_dev} {st.st_ino} {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns}"


STAMP_MIN_BYTES = 1024 * 1024  # smaller files are hashed again on read: cheaper than writing a stamp


def record_verified(path: str, sha256: str) -> None:
    """Remember that the local file at ``path`` (as it is now) has content ``sha256``.

    Files under ``STAMP_MIN_BYTES`` get no stamp: hashing one again when it is read costs less
    than the stamp's own file (written and read back), and a pipeline step writes one per output."""
    try:
        st = os.stat(path)
        if st.st_size < STAMP_MIN_BYTES:
            return
        record = f"{_stat_key(st)} {sha256}"
        atomic_write_local(str(_stamp_path(path)), lambda tmp: Path(tmp).write_text(record))
    except (OSError, StorageError):  # a stamp only saves time; without one the next read hashes the file
        pass


def _stamped(path: str, st: os.stat_result, sha256: str) -> bool:
    if os.environ.get("PIPETRACK_VERIFY", "").lower() == "full":
        return False
    try:
        return _stamp_path(path).read_text() == f"{_stat_key(st)} {sha256}"
    except OSError:
        return False


_pending: dict[str, tuple[str, Future]] = {}  # realpath -> (stat key right after the write, sha256 future)
_pending_lock = threading.Lock()
_hasher: list[ThreadPoolExecutor] = []


def hash_in_background(path: str, on_hashed: Callable[[str], None]) -> "Future[str]":
    """Hash the file pipetrack just wrote at ``path`` on a background thread, then call
    ``on_hashed(sha256)`` (to record it). Fails with IntegrityError if the file changed meanwhile."""
    real = os.path.realpath(path)
    key = _stat_key(os.stat(path))

    def work() -> str:
        digest = sha256_file(path)
        if _stat_key(os.stat(path)) != key:
            raise IntegrityError(f"{Path(path).as_uri()} changed while pipetrack was hashing it after writing it; "
                                 "its sha256 is not recorded")
        record_verified(path, digest)
        on_hashed(digest)
        return digest

    with _pending_lock:
        if not _hasher:  # non-daemon: the interpreter's exit waits for hashes still running
            _hasher.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="pipetrack-hash"))
        future = _hasher[0].submit(work)
        _pending[real] = (key, future)
    future.add_done_callback(lambda done: _forget_pending(real, done))
    return future


def _forget_pending(real: str, future: Future) -> None:
    with _pending_lock:
        if _pending.get(real, (None, None))[1] is future:
            del _pending[real]


def written_unchanged(path: str) -> bool:
    """True when this process wrote ``path``, its hash is still being computed, and the file still
    has the stat it had right after the write (so it holds exactly the bytes written)."""
    entry = _pending.get(os.path.realpath(path))
    try:
        return entry is not None and _stat_key(os.stat(path)) == entry[0]
    except OSError:
        return False


def pending_hash(path: str) -> Optional[str]:
    """The sha256 of a file this process is hashing in the background (waits for it), else None."""
    entry = _pending.get(os.path.realpath(path))
    return entry[1].result() if entry is not None else None


def mismatch(what: str, url: str, expected: str, actual: str) -> IntegrityError:
    """The error for bytes that are not what was recorded."""
    return IntegrityError(f"{what} at {url} is corrupted: its recorded sha256 is {expected} but the stored "
                          f"bytes hash to {actual}; it was changed after pipetrack wrote it (restore it, "
                          "or re-run the task that produced it)")


def unverified(what: str, url: str, refuse: bool) -> None:
    """A read of bytes with no recorded hash: warn, or refuse (``refuse``, e.g. before unpickling)."""
    if refuse:
        raise IntegrityError(f"{what} at {url} has no recorded sha256, so pipetrack cannot verify it and will "
                             "not unpickle it (unpickling runs code); re-run the task that produced it")
    warnings.warn(f"{what} at {url} has no recorded sha256 (stored by an older pipetrack): read unverified",
                  stacklevel=3)


def verify_local_file(path: str, expected: str, what: str, url: Optional[str] = None) -> None:
    """Raise IntegrityError unless the local file at ``path`` has content ``expected``."""
    with wrap_errors("verification of", url or path):
        st = os.stat(path)
        if _stamped(path, st, expected):
            return
        actual = sha256_file(path)
    if actual != expected:
        raise mismatch(what, url or Path(path).as_uri(), expected, actual)
    record_verified(path, actual)


def _download_verified(url: str, target: Path, expected: str, what: str) -> None:
    """Stream ``url`` into ``target``, hashing as it goes; rename into place only if it matches."""
    from .filesystems import filesystem_for

    def fetch(tmp: str) -> None:
        digest = hashlib.sha256()
        fs, path = filesystem_for(url)
        with open(tmp, "wb") as out, fs.open(path, "rb") as src:
            for chunk in iter(lambda: src.read(CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != expected:
            raise mismatch(what, url, expected, digest.hexdigest())

    with wrap_errors("download of", url):
        atomic_write_local(str(target), fetch)
    record_verified(str(target), expected)


def cached_object_path(expected: str, name: str) -> Path:
    """Where the download cache keeps a file whose content hash is ``expected``."""
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise IntegrityError(f"recorded sha256 {expected!r} is not 64 hex digits")
    return config.cache_dir() / OBJECTS / expected[:2] / expected / name


def verified_local_copy(url: str, expected: Optional[str], what: str, *, extract_archive: bool = False,
                        force_download: bool = False, refuse_unverified: bool = False,
                        name: Optional[str] = None) -> str:
    """Local path of ``url``'s content, checked against ``expected`` (the recorded sha256).

    Local files are verified in place (no copy); remote ones are downloaded into the
    content-addressed cache, hashing while downloading. ``expected=None``: read with a warning,
    or refused when ``refuse_unverified``. ``extract_archive``: the folder a verified archive was
    extracted into. ``what`` names the file in errors ("artifact 'data' of task 1f2e...").
    """
    from .cache import enforce_limit, extract_cached, get_local_copy, touch_entry
    if expected is None:
        if not (is_local(url) and written_unchanged(local_path(url))):
            unverified(what, normalize_url(url), refuse_unverified)
        return get_local_copy(url, extract_archive=extract_archive, force_download=force_download, name=name)
    if not has_scheme(str(url)) or is_local(url):
        path = local_path(url)
        if not os.path.isfile(path):
            raise StorageError(f"{what} at {normalize_url(url)} is missing: no such file")
        verify_local_file(path, expected, what, normalize_url(url))
        return get_local_copy(url, extract_archive=extract_archive, force_download=force_download)
    url = normalize_url(url)
    target = cached_object_path(expected, name or basename(url) or "download")
    fresh = force_download or not target.is_file()
    if not fresh:
        try:
            verify_local_file(str(target), expected, what + " (cached copy)")
        except IntegrityError:  # the cached copy went bad: fetch it again
            fresh = True
    if fresh:
        _download_verified(url, target, expected, what)
    touch_entry(target.parent)
    if fresh:
        enforce_limit()
    if extract_archive:
        return extract_cached(str(target), force=fresh)
    return str(target)


def verified_bytes(url: str, expected: Optional[str], what: str, refuse_unverified: bool = False) -> bytes:
    """The content of ``url``, checked against ``expected`` (see :func:`verified_local_copy`)."""
    return Path(verified_local_copy(url, expected, what, refuse_unverified=refuse_unverified)).read_bytes()


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data`` (what the writer records beside bytes it stores)."""
    return hashlib.sha256(data).hexdigest()


__all__ = ["hash_in_background", "written_unchanged", "pending_hash", "verified_local_copy", "verified_bytes", "verify_local_file", "record_verified", "mismatch",
           "unverified", "cached_object_path", "sha256_bytes"]

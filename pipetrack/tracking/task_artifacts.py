"""Artifacts of a task: upload by type, read back, delete, and registered DataFrames.

An artifact is a file in storage (``<output destination>/artifacts/<name>/<name><ext>``) plus a
row with its URL, size, sha256, type, metadata and preview. The sha256 is of the stored bytes,
so pipeline caching can key on content instead of task ids.

Uploads are synchronous (``wait_on_upload`` is accepted for compatibility): when
``upload_artifact`` returns, the artifact is stored and visible to other processes. For a
local destination the serialised file is written in a ``.upload-*`` folder at the root of the
destination (same filesystem) and renamed into place, so a large artifact is written once and
never copied; a folder left by a killed upload is removed later (``storage.leftovers``).

Every read (``get``, ``get_local_copy``, a pipeline step's input) is checked against the
recorded sha256 (``storage.integrity``); pickles with no recorded hash are never loaded.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import warnings
from typing import Any, Callable, Mapping, Optional

from ..errors import NotFoundError, StorageError, ValidationError
from .logger import check_name as _storable, shown as _shown


# a file or folder name made from a user's name (an artifact's ``<name><ext>``, a task's folder):
# filesystems allow 255 bytes; the rest is room for an extension or a task id
MAX_ARTIFACT_NAME_BYTES = 200


def validate_artifact_name(name: Any) -> str:
    """An artifact name must be a non-empty string without path separators or '..', that the
    store can hold (no lone surrogate) and short enough to be a file name: checked here, before
    anything is written, instead of failing later with UnicodeEncodeError or ENAMETOOLONG."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"artifact name must be a non-empty string, got {_shown(name)}")
    if "/" in name or "\\" in name or ".." in name or "\x00" in name or name.strip() == ".":
        raise ValidationError(f"artifact name {name!r} may not contain '/', '\\\\', '..' or a NUL character, "
                              "nor be '.'")
    _storable("artifact name", name)
    if len(name.encode("utf-8")) > MAX_ARTIFACT_NAME_BYTES:
        raise ValidationError(f"artifact name {name!r} is {len(name.encode('utf-8'))} bytes long in UTF-8; "
                              f"at most {MAX_ARTIFACT_NAME_BYTES} are accepted (it names a file)")
    return name


# Files this large published by rename into a local destination are hashed on a background
# thread (storage.integrity): hashing 200 MB takes ~0.16 s here, longer than writing it.
# Pickles are always hashed before upload_artifact returns (nothing unpickles them unverified).
BACKGROUND_HASH_BYTES = 64 * 1024 * 1024


class Artifact:
    """A stored artifact: its URL, size, hash, type, metadata and preview; ``get()`` loads it."""

    def __init__(self, row: Mapping[str, Any], store: Any = None):
        self._row = dict(row)
        self._store = store

    @property
    def hash(self) -> Optional[str]:
        """sha256 of the stored bytes, recorded when they were written (None for a URL artifact, or
        for one stored by an older pipetrack before its hash was computed)."""
        return self._row.get("hash")

    def _describe(self) -> str:
        return f"artifact {self.name!r} of task {self._row.get('task_id')}"

    def _verified_path(self, extract_archive: bool, force_download: bool,
                       deserialization_function: Optional[Callable[[bytes], Any]] = None) -> str:
        from ..storage import verified_local_copy
        from ..storage.serializers import unpickles
        refuse = deserialization_function is None and unpickles(self.type, self._row.get("extension"))
        return verified_local_copy(self.url, self.hash, self._describe(), extract_archive=extract_archive,
                                   force_download=force_download, refuse_unverified=refuse)

    name = property(lambda self: self._row["name"])
    url = property(lambda self: self._row["uri"])
    size = property(lambda self: self._row.get("size"))
    type = property(lambda self: self._row.get("type"))
    mode = property(lambda self: self._row.get("mode"))
    preview = property(lambda self: self._row.get("preview"))
    content_type = property(lambda self: self._row.get("content_type"))
    timestamp = property(lambda self: self._row.get("created"))

    @property
    def metadata(self) -> dict:
        value = self._row.get("metadata") or "{}"
        return json.loads(value) if isinstance(value, str) else dict(value)

    def get_local_copy(self, extract_archive: Optional[bool] = None, raise_on_error: bool = False,
                       force_download: bool = False) -> Optional[str]:
        """Local path of the artifact file, verified against its sha256 (a folder artifact's zip
        is extracted unless extract_archive=False). An IntegrityError is always raised: a
        corrupted file is never handed out, ``raise_on_error`` or not."""
        from ..errors import IntegrityError
        if self.type == "url":
            return self.url
        extract = self.type == "folder" if extract_archive is None else extract_archive
        try:
            return self._verified_path(extract and self.type == "folder", force_download)
        except IntegrityError:
            raise
        except Exception:
            if raise_on_error:
                raise
            return None

    def get(self, force_download: bool = False, deserialization_function: Optional[Callable[[bytes], Any]] = None) -> Any:
        """The artifact's value: dict, DataFrame, ndarray, image, extracted folder path, file path, ...
        Its bytes are checked against the recorded sha256 first (IntegrityError on a mismatch)."""
        from ..storage import deserialize_artifact
        if self.type == "url":
            return self.url
        if self.type == "folder":
            return self._verified_path(True, force_download)
        path = self._verified_path(False, force_download, deserialization_function)
        return deserialize_artifact(path, self.type, self._row.get("extension"), deserialization_function)

    def __repr__(self) -> str:
        return f"<Artifact {self.name!r} type={self.type} url={self.url!r}>"


class ArtifactsMixin:
    """upload_artifact / artifacts / delete_artifacts / register_artifact."""

    @property
    def artifacts(self) -> dict[str, Artifact]:
        """Read-only mapping of artifact name -> :class:`Artifact` (a fresh read)."""
        return {row["name"]: Artifact(row, self._store) for row in self._store.task_artifacts(self._id)}

    def upload_artifact(self, name: str, artifact_object: Any, metadata: Optional[Mapping] = None,
                        delete_after_upload: bool = False, auto_pickle: bool = True, preview: Any = None,
                        wait_on_upload: bool = False, extension_name: Optional[str] = None,
                        serialization_function: Optional[Callable[[Any], bytes]] = None, retries: int = 0) -> bool:
        """Serialise ``artifact_object`` by type, store it, and record it on the task."""
        from ..storage import (is_local, join_url, local_path, record_verified, serialize_artifact, sha256_file,
                               upload_file)
        from ..storage.integrity import hash_in_background
        from ..storage.serializers import unpickles
        from ..storage.leftovers import UPLOAD_PREFIX
        from ..storage.transfer import make_local_dirs, set_local_file_mode
        name = validate_artifact_name(name)
        if metadata is not None and not isinstance(metadata, Mapping):
            raise ValidationError(f"artifact metadata must be a dict, got {_shown(metadata)}")
        from .task_metadata import check_storable_data
        if metadata:
            check_storable_data(f"metadata of artifact {name!r}", dict(metadata))
        if preview is not None:
            _storable(f"preview of artifact {name!r}", str(preview))  # a TEXT column: refused, not UnicodeEncodeError
        if not isinstance(retries, int) or retries < 0:
            raise ValidationError(f"retries must be a non-negative int, got {retries!r}")
        self._check_editable("artifacts", metadata=True)
        base = self.get_output_destination("artifacts")
        local_dest = is_local(base)
        work_root = None
        if local_dest:  # serialise on the destination's filesystem: the move into place is a rename, not a copy
            work_root = local_path(self.output_uri)
            make_local_dirs(work_root)
        work_dir = tempfile.mkdtemp(prefix=UPLOAD_PREFIX, dir=work_root)
        try:
            serialized = serialize_artifact(artifact_object, work_dir, name, auto_pickle=auto_pickle,
                                            serialization_function=serialization_function,
                                            extension_name=extension_name)
            row: dict[str, Any] = {"type": serialized.type, "extension": serialized.extension,
                                   "content_type": serialized.content_type,
                                   "preview": str(preview) if preview is not None else serialized.preview}
            if serialized.type == "url":
                row.update(uri=str(artifact_object), size=None, hash=None)
            else:
                filename = name + serialized.extension if serialized.type != "file" else \
                    os.path.basename(serialized.local_path)
                url = join_url(base, name, filename)
                size = os.path.getsize(serialized.local_path)
                source_is_user_file = serialized.type == "file"
                published_by_rename = local_dest and not source_is_user_file
                later = published_by_rename and size >= BACKGROUND_HASH_BYTES and \
                    not unpickles(serialized.type, serialized.extension)
                digest = None if later else sha256_file(serialized.local_path)
                row.update(size=size, hash=digest)
                if published_by_rename:
                    target = local_path(url)
                    make_local_dirs(os.path.dirname(target))
                    set_local_file_mode(serialized.local_path)
                    os.replace(serialized.local_path, target)
                    if digest is not None:
                        record_verified(target, digest)  # the file we just hashed and renamed
                    row["uri"] = url
                else:
                    row["uri"] = upload_file(serialized.local_path, url, retries=retries)
                if delete_after_upload and source_is_user_file:
                    os.remove(serialized.local_path)
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)
        row.update(task_id=self._id, name=name, mode="output", metadata=json.dumps(dict(metadata or {}), default=str),
                   created=time.time())
        self._store.put_artifacts([row])
        if row["type"] != "url" and row["hash"] is None:
            self._pending_hashes.append(hash_in_background(local_path(row["uri"]), self._hash_recorder(name, row["uri"])))
        return True

    def _hash_recorder(self, name: str, uri: str) -> Callable[[str], None]:
        store, task_id = self._store, self._id
        return lambda digest: store.record_artifact_hash(task_id, name, uri, digest)

    def _settle_artifacts(self) -> None:
        """Upload the registered DataFrames and wait for the hashes still being computed, so every
        artifact of this task is recorded with its sha256 (flush, close, end of a pipeline step)."""
        self._snapshot_registered()
        pending, self._pending_hashes[:] = list(self._pending_hashes), []
        for future in pending:
            try:
                future.result()
            except Exception as err:  # noqa: BLE001 - the artifact stays, read back unverified
                warnings.warn(f"task {self._id}: {err}", stacklevel=2)

    def delete_artifacts(self, artifact_names: list[str], raise_on_errors: bool = True,
                         delete_from_storage: bool = True) -> bool:
        from ..storage import delete
        self._check_editable("artifacts", metadata=True)
        current = self.artifacts
        missing = [n for n in artifact_names if n not in current]
        if missing and raise_on_errors:
            raise NotFoundError(f"task {self._id} has no artifact(s) {missing}; it has {sorted(current)}")
        for name in artifact_names:
            artifact = current.get(name)
            if artifact is None:
                continue
            if delete_from_storage and artifact.type != "url":
                try:
                    delete(artifact.url)
                except StorageError:
                    if raise_on_errors:
                        raise
            self._store.delete_artifact(self._id, name)
        return True

    def _artifact_files(self, skip_shared_models: bool = True) -> list[tuple[str, str]]:
        """(kind, url) of the files this task owns: its artifacts and its unshared output models."""
        targets = [("artifact", a.url) for a in self.artifacts.values() if a.type != "url" and a.mode != "linked"]
        for model in self._store.output_model_files(self._id):
            if model["uri"] and not (skip_shared_models and model["shared"]):
                targets.append(("model", model["uri"]))
        return targets

    def _delete_artifact_files(self, callback: Optional[Callable[[str, str], bool]] = None,
                               raise_on_error: bool = False, skip_shared_models: bool = True,
                               targets: Optional[list[tuple[str, str]]] = None) -> None:
        """Remove this task's artifact and output-model files from storage (reset/delete), and
        what killed uploads left in its destination (see ``storage.leftovers``)."""
        from ..storage import delete, is_local, local_path
        from ..storage.leftovers import remove_stale
        for kind, url in targets if targets is not None else self._artifact_files(skip_shared_models):
            if callback is not None and not callback(kind, url):
                continue
            try:
                delete(url)
            except StorageError:
                if raise_on_error:
                    raise
        if is_local(self.output_uri):
            artifacts = local_path(self.get_output_destination("artifacts"))
            folders = [local_path(self.output_uri)]
            if os.path.isdir(artifacts):
                folders += [entry.path for entry in os.scandir(artifacts) if entry.is_dir()]
            remove_stale(folders)

    # ------------------------------------------------------------------ registered DataFrames
    def register_artifact(self, name: str, artifact: Any, metadata: Optional[Mapping] = None,
                          uniqueness_columns: Any = True) -> None:
        """Track a pandas DataFrame; it is re-uploaded on flush() and close()."""
        name = validate_artifact_name(name)
        if type(artifact).__module__.split(".")[0] != "pandas" or not hasattr(artifact, "columns"):
            raise ValidationError(f"register_artifact supports pandas DataFrames only, got {type(artifact).__name__}")
        self._registered[name] = (artifact, dict(metadata or {}))

    def get_registered_artifacts(self) -> dict[str, Any]:
        return {name: frame for name, (frame, _) in self._registered.items()}

    def unregister_artifact(self, name: str) -> None:
        self._registered.pop(name, None)

    def _snapshot_registered(self) -> None:
        for name, (frame, metadata) in list(self._registered.items()):
            self.upload_artifact(name, frame, metadata=metadata)

"""Artifacts of a task: upload by type, read back, delete, and registered DataFrames.

An artifact is a file in storage (``<output destination>/artifacts/<name>/<name><ext>``) plus a
row with its URL, size, sha256, type, metadata and preview. The sha256 is of the stored bytes,
so pipeline caching can key on content instead of task ids.

Uploads are synchronous (``wait_on_upload`` is accepted for compatibility): when
``upload_artifact`` returns, the artifact is stored and visible to other processes. For a
local destination the serialised file is written next to its final place and renamed into
it, so a large artifact is written once and never copied.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from typing import Any, Callable, Mapping, Optional

from ..errors import NotFoundError, StorageError, ValidationError


def validate_artifact_name(name: Any) -> str:
    """An artifact name must be a non-empty string without path separators or '..'."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"artifact name must be a non-empty string, got {name!r}")
    if "/" in name or "\\" in name or ".." in name or name.strip() == ".":
        raise ValidationError(f"artifact name {name!r} may not contain '/', '\\\\' or '..', nor be '.'")
    return name


# Artifacts this large are not hashed on the upload path (hashing 200 MB takes longer than
# writing and reading it back); their sha256 is computed when first needed — a cache key or
# ``Artifact.hash`` — and then stored.
LAZY_HASH_BYTES = 64 * 1024 * 1024


class Artifact:
    """A stored artifact: its URL, size, hash, type, metadata and preview; ``get()`` loads it."""

    def __init__(self, row: Mapping[str, Any], store: Any = None):
        self._row = dict(row)
        self._store = store

    @property
    def hash(self) -> Optional[str]:
        """sha256 of the stored bytes (computed and recorded now if the upload deferred it)."""
        if self._row.get("hash") is None and self.type != "url" and self.url:
            from ..storage import sha256_url
            self._row["hash"] = sha256_url(self.url)
            if self._store is not None:
                self._store.execute("UPDATE artifacts SET hash=? WHERE task_id=? AND name=? AND uri=?",
                                    (self._row["hash"], self._row["task_id"], self.name, self.url))
        return self._row.get("hash")

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
        """Local path of the artifact file (a folder artifact's zip is extracted unless extract_archive=False)."""
        from ..storage import get_local_copy
        if self.type == "url":
            return self.url
        extract = self.type == "folder" if extract_archive is None else extract_archive
        try:
            return get_local_copy(self.url, extract_archive=extract and self.type == "folder",
                                  force_download=force_download)
        except Exception:
            if raise_on_error:
                raise
            return None

    def get(self, force_download: bool = False, deserialization_function: Optional[Callable[[bytes], Any]] = None) -> Any:
        """The artifact's value: dict, DataFrame, ndarray, image, extracted folder path, file path, ..."""
        from ..storage import deserialize_artifact, get_local_copy
        if self.type == "url":
            return self.url
        if self.type == "folder":
            return get_local_copy(self.url, extract_archive=True, force_download=force_download)
        path = get_local_copy(self.url, force_download=force_download)
        return deserialize_artifact(path, self.type, self._row.get("extension"), deserialization_function)

    def __repr__(self) -> str:
        return f"<Artifact {self.name!r} type={self.type} url={self.url!r}>"


class ArtifactsMixin:
    """upload_artifact / artifacts / delete_artifacts / register_artifact."""

    @property
    def artifacts(self) -> dict[str, Artifact]:
        """Read-only mapping of artifact name -> :class:`Artifact` (a fresh read)."""
        rows = self._store.query("SELECT * FROM artifacts WHERE task_id=? ORDER BY created", (self._id,))
        return {row["name"]: Artifact(row, self._store) for row in rows}

    def upload_artifact(self, name: str, artifact_object: Any, metadata: Optional[Mapping] = None,
                        delete_after_upload: bool = False, auto_pickle: bool = True, preview: Any = None,
                        wait_on_upload: bool = False, extension_name: Optional[str] = None,
                        serialization_function: Optional[Callable[[Any], bytes]] = None, retries: int = 0) -> bool:
        """Serialise ``artifact_object`` by type, store it, and record it on the task."""
        from ..storage import is_local, join_url, local_path, serialize_artifact, sha256_file, upload_file
        name = validate_artifact_name(name)
        if metadata is not None and not isinstance(metadata, Mapping):
            raise ValidationError(f"artifact metadata must be a dict, got {type(metadata).__name__}")
        if not isinstance(retries, int) or retries < 0:
            raise ValidationError(f"retries must be a non-negative int, got {retries!r}")
        self._check_editable("artifacts", metadata=True)
        base = self.get_output_destination("artifacts")
        local_dest = is_local(base)
        work_root = None
        if local_dest:  # serialise next to the final place: the move into place is a rename, not a copy
            work_root = local_path(base)
            os.makedirs(work_root, exist_ok=True)
        work_dir = tempfile.mkdtemp(prefix=".upload-", dir=work_root)
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
                row.update(size=size, hash=sha256_file(serialized.local_path) if size < LAZY_HASH_BYTES else None)
                source_is_user_file = serialized.type == "file"
                if local_dest and not source_is_user_file:
                    target = local_path(url)
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    os.replace(serialized.local_path, target)
                    row["uri"] = url
                else:
                    row["uri"] = upload_file(serialized.local_path, url, retries=retries)
                if delete_after_upload and source_is_user_file:
                    os.remove(serialized.local_path)
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)
        row.update(task_id=self._id, name=name, mode="output", metadata=json.dumps(dict(metadata or {}), default=str),
                   created=time.time())
        cols = list(row)
        self._store.execute(f"INSERT OR REPLACE INTO artifacts({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                            [row[c] for c in cols])
        return True

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
            self._store.execute("DELETE FROM artifacts WHERE task_id=? AND name=?", (self._id, name))
        return True

    def _artifact_files(self, skip_shared_models: bool = True) -> list[tuple[str, str]]:
        """(kind, url) of the files this task owns: its artifacts and its unshared output models."""
        targets = [("artifact", a.url) for a in self.artifacts.values() if a.type != "url" and a.mode != "linked"]
        for model in self._store.query(
                "SELECT m.id, m.uri FROM task_models tm JOIN models m ON m.id=tm.model_id "
                "WHERE tm.task_id=? AND tm.role='output'", (self._id,)):
            shared = self._store.query_one("SELECT COUNT(*) AS n FROM task_models WHERE model_id=? AND task_id!=?",
                                           (model["id"], self._id))["n"]
            if model["uri"] and not (skip_shared_models and shared):
                targets.append(("model", model["uri"]))
        return targets

    def _delete_artifact_files(self, callback: Optional[Callable[[str, str], bool]] = None,
                               raise_on_error: bool = False, skip_shared_models: bool = True,
                               targets: Optional[list[tuple[str, str]]] = None) -> None:
        """Remove this task's artifact and output-model files from storage (reset/delete)."""
        from ..storage import delete
        for kind, url in targets if targets is not None else self._artifact_files(skip_shared_models):
            if callback is not None and not callback(kind, url):
                continue
            try:
                delete(url)
            except StorageError:
                if raise_on_error:
                    raise

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

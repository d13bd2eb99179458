"""The vocabulary of serialised artifacts: types, accepted extensions, content types."""
from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from typing import Any

from ..errors import ValidationError

ARTIFACT_TYPES = ("dict", "pandas", "numpy", "image", "string", "pickle", "folder", "file", "url", "custom")
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "dict": (".json", ".yaml", ".yml"),
    "pandas": (".csv.gz", ".parquet", ".feather", ".csv", ".pickle", ".pkl"),
    "numpy": (".npy", ".npz", ".csv.gz", ".pkl"),
    "string": (".txt", ".pkl"),
    "folder": (".zip",),
    "pickle": (".pkl",),
}
_CONTENT_TYPES = {
    ".json": "application/json", ".yaml": "application/x-yaml", ".yml": "application/x-yaml",
    ".csv.gz": "application/gzip", ".csv": "text/csv", ".parquet": "application/vnd.apache.parquet",
    ".feather": "application/vnd.apache.arrow.file", ".npy": "application/x-npy",
    ".npz": "application/x-npz", ".pkl": "application/x-pickle", ".pickle": "application/x-pickle",
    ".txt": "text/plain", ".zip": "application/zip", ".bin": "application/octet-stream",
}
PREVIEW_CHARS = 200


@dataclass
class SerializedArtifact:
    """A serialised artifact ready to upload (``local_path``) or, for ``url``, to reference."""

    local_path: str
    type: str
    extension: str
    preview: str
    content_type: str
    is_archive: bool = False
    url: str | None = None  # type 'url': the referenced location
    owned: bool = True  # False: local_path is the user's own file; never move or delete it


def content_type_for(extension: str) -> str:
    """MIME type for an extension such as '.csv.gz'."""
    ext = extension.lower()
    return _CONTENT_TYPES.get(ext) or mimetypes.guess_type("x" + ext)[0] or "application/octet-stream"


def made(path: str, kind: str, ext: str, preview: str, archive: bool = False) -> SerializedArtifact:
    """A SerializedArtifact for a file pipetrack wrote itself (preview capped at 1024 chars)."""
    return SerializedArtifact(path, kind, ext, preview[:1024], content_type_for(ext), archive)


def module_roots(obj: Any) -> set[str]:
    """Top-level packages of the classes in ``type(obj)``'s MRO ({'pandas', 'builtins'}, ...).

    Lets callers recognise numpy/pandas/PIL objects (and their subclasses) without importing
    those libraries for anything else.
    """
    return {cls.__module__.split(".")[0] for cls in type(obj).__mro__}


def norm_ext(extension_name: str | None) -> str | None:
    """'csv.gz' / '.CSV.GZ' -> '.csv.gz'; None or blank -> None."""
    if extension_name is None or not str(extension_name).strip():
        return None
    ext = str(extension_name).strip().lower()
    return ext if ext.startswith(".") else "." + ext


def check_ext(kind: str, ext: str | None, accepted: tuple[str, ...]) -> str:
    """The default (first accepted) extension, or ``ext`` if accepted, else ValidationError."""
    if ext is None:
        return accepted[0]
    if ext not in accepted:
        raise ValidationError.choice(f"extension_name for a {kind} artifact", ext, accepted)
    return ext


def short(text: str, limit: int = PREVIEW_CHARS) -> str:
    """``text`` cut to ``limit`` characters (with '...')."""
    return text if len(text) <= limit else text[:limit] + "..."



__all__ = ["ARTIFACT_TYPES", "EXTENSIONS", "PREVIEW_CHARS", "SerializedArtifact", "content_type_for",
           "made", "module_roots", "norm_ext", "check_ext", "short"]

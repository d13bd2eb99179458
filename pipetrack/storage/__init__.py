"""fsspec-backed storage: URLs, filesystems, transfers, the local cache, artifact serialisation.

Importing this package is cheap: fsspec, s3fs, numpy, pandas and PIL are imported only
when a function needs them.
"""
from __future__ import annotations

from .archives import extract_archive, is_archive, make_zip
from .cache import get_local_copy, sha256_url
from .integrity import record_verified, sha256_bytes, verified_bytes, verified_local_copy, verify_local_file
from .filesystems import clear_s3_config, configure_s3, filesystem_for
from .manager import StorageManager
from .serializers import SerializedArtifact, deserialize_artifact, serialize_artifact
from .transfer import (
    delete, download_file, exists, is_file, list_entries, list_files, read_bytes, sha256_file, size,
    upload_bytes, upload_file,
)
from .urls import is_local, join_url, local_path, normalize_url

__all__ = [
    "normalize_url", "join_url", "is_local", "local_path",
    "filesystem_for", "configure_s3", "clear_s3_config",
    "upload_file", "upload_bytes", "download_file", "read_bytes", "exists", "is_file", "delete",
    "list_files", "list_entries", "size", "sha256_file",
    "get_local_copy", "sha256_url",
    "verified_local_copy", "verified_bytes", "verify_local_file", "record_verified", "sha256_bytes", "extract_archive", "is_archive", "make_zip",
    "SerializedArtifact", "serialize_artifact", "deserialize_artifact",
    "StorageManager",
]

"""Storage URLs: every location pipetrack reads or writes is one normalised URL string.

- A local path (relative, absolute or ``~``) becomes an absolute, percent-encoded
  ``file:///...`` URL (the form ``pathlib.Path.as_uri`` produces, same as ``config``).
- ``file://``, ``memory://``, ``s3://`` and any other ``proto://`` URL is kept as given,
  minus a trailing slash (``file://`` URLs are re-encoded canonically).

No third-party import here: this module is safe to use anywhere.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from ..errors import ValidationError

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")


def protocol(url: str) -> str:
    """The URL's scheme in lower case (``'file'`` for a plain local path)."""
    match = _SCHEME.match(str(url))
    return match.group(1).lower() if match else "file"


def has_scheme(value: str) -> bool:
    """True when ``value`` starts with ``proto://``."""
    return bool(_SCHEME.match(str(value)))


def _check(path_or_url: object) -> str:
    if isinstance(path_or_url, os.PathLike):
        path_or_url = os.fspath(path_or_url)
    if not isinstance(path_or_url, str) or not path_or_url.strip():
        raise ValidationError(
            f"invalid storage location {path_or_url!r}; expected a local path or a URL "
            "such as file:///data, memory://bucket/key or s3://bucket/key")
    return path_or_url


def local_path(url: str) -> str:
    """Absolute local filesystem path of a ``file://`` URL or a plain local path."""
    url = _check(url)
    if not has_scheme(url):
        return os.path.abspath(os.path.expanduser(url))
    parts = urlsplit(url)
    if parts.scheme.lower() != "file":
        raise ValidationError(f"{url!r} is not a local file URL; expected file:///absolute/path")
    if parts.netloc not in ("", "localhost"):
        raise ValidationError(
            f"file URL {url!r} names host {parts.netloc!r}; expected file:///absolute/path "
            "(three slashes)")
    path = unquote(parts.path) or "/"
    return os.path.abspath(path)


def normalize_url(path_or_url: str) -> str:
    """Canonical URL for a local path or URL (see module docstring)."""
    value = _check(path_or_url)
    if not has_scheme(value):
        return Path(local_path(value)).as_uri()
    if protocol(value) == "file":
        return Path(local_path(value)).as_uri()
    scheme_end = value.index("://") + 3
    rest = value[scheme_end:].rstrip("/")
    return value[:scheme_end] + rest if rest else value[:scheme_end]


def is_local(url: str) -> bool:
    """True for plain local paths and ``file://`` URLs."""
    return protocol(_check(url)) == "file"


def join_url(base: str, *parts: str) -> str:
    """Join path segments onto a base path/URL; ``..`` segments are refused.

    Each part may itself contain ``/``. Parts are percent-encoded for ``file://`` URLs.
    """
    url = normalize_url(base)
    local = is_local(url)
    segments: list[str] = []
    for part in parts:
        text = os.fspath(part) if isinstance(part, os.PathLike) else str(part)
        for seg in text.replace("\\", "/").split("/"):
            if seg in ("", "."):
                continue
            if seg == "..":
                raise ValidationError(f"path segment '..' in {part!r} is not allowed in a storage URL")
            segments.append(quote(seg, safe="") if local else seg)
    if not segments:
        return url
    sep = "" if url.endswith("/") else "/"
    return url + sep + "/".join(segments)


def basename(url: str) -> str:
    """Last path segment of a URL or path (decoded for ``file://`` URLs)."""
    url = normalize_url(url)
    if is_local(url):
        return os.path.basename(local_path(url))
    return url.rstrip("/").rsplit("/", 1)[-1].split("://")[-1]


__all__ = ["normalize_url", "join_url", "is_local", "local_path", "protocol", "has_scheme", "basename"]

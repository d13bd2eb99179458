"""fsspec filesystem lookup: one cached instance per (process, protocol, options).

S3 credentials come from the standard AWS environment variables (s3fs/botocore read
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_DEFAULT_REGION``,
``AWS_PROFILE`` themselves; ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3`` is passed explicitly
as ``client_kwargs['endpoint_url']``), overridden per bucket (or bucket/subdir prefix) by
:func:`configure_s3` — the backend of ClearML's ``Task.setup_aws_upload``.

fsspec and s3fs are imported only when a filesystem is first asked for.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

from ..errors import StorageError
from .urls import is_local, local_path, normalize_url, protocol

_AWS_ENV = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION",
    "AWS_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
)
_INSTALL_HINTS = {"s3": "pip install 'pipetrack[s3]'", "s3a": "pip install 'pipetrack[s3]'"}

_lock = threading.Lock()
_instances: dict[tuple, Any] = {}


def _reset_after_fork() -> None:
    """A forked child gets a fresh lock and no inherited instances (their event loops are the parent's)."""
    global _lock
    _lock = threading.Lock()
    _instances.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


@dataclass(frozen=True)
class S3Config:
    """Credentials and endpoint for one bucket (or bucket/subdir prefix)."""

    bucket: str
    subdir: str | None = None
    host: str | None = None
    key: str | None = None
    secret: str | None = None
    token: str | None = None
    region: str | None = None
    secure: bool = True
    verify: bool = True
    profile: str | None = None
    multipart: bool = True

    @property
    def prefix(self) -> str:
        return self.bucket + ("/" + self.subdir.strip("/") if self.subdir and self.subdir.strip("/") else "")

    def endpoint_url(self) -> str | None:
        if not self.host:
            return None
        if "://" in self.host:
            return self.host.rstrip("/")
        return f"{'https' if self.secure else 'http'}://{self.host.rstrip('/')}"


_s3_configs: dict[str, S3Config] = {}


def configure_s3(bucket: str, host: str | None = None, key: str | None = None,
                 secret: str | None = None, token: str | None = None, region: str | None = None,
                 secure: bool = True, verify: bool = True, profile: str | None = None,
                 subdir: str | None = None, multipart: bool = True) -> None:
    """Register credentials/endpoint for ``s3://bucket[/subdir]`` (this process only).

    ``host`` is ``"127.0.0.1:9000"`` (scheme from ``secure``) or a full ``http(s)://`` URL.
    ``multipart`` is accepted for ClearML compatibility; s3fs decides multipart by size.
    """
    from ..errors import ValidationError
    bucket = (bucket or "").strip()
    if bucket.startswith("s3://"):
        bucket = bucket[5:]
    bucket = bucket.strip("/")
    if not bucket or "/" in bucket:
        raise ValidationError(f"invalid S3 bucket {bucket!r}; expected a bare bucket name such as 'my-bucket'")
    cfg = S3Config(bucket=bucket, subdir=subdir, host=host, key=key, secret=secret, token=token,
                   region=region, secure=secure, verify=verify, profile=profile, multipart=multipart)
    with _lock:
        _s3_configs[cfg.prefix] = cfg


def clear_s3_config() -> None:
    """Forget every :func:`configure_s3` registration (mostly for tests)."""
    with _lock:
        _s3_configs.clear()
        _instances.clear()


def s3_config_for(path: str) -> S3Config | None:
    """The registered config with the longest bucket/subdir prefix matching ``bucket/key``."""
    best: S3Config | None = None
    for prefix, cfg in list(_s3_configs.items()):
        if (path == prefix or path.startswith(prefix + "/")) and (best is None or len(prefix) > len(best.prefix)):
            best = cfg
    return best


def _s3_options(path: str) -> dict[str, Any]:
    """s3fs keyword arguments for ``bucket/key`` from configure_s3 and the environment."""
    client: dict[str, Any] = {}
    options: dict[str, Any] = {"use_listings_cache": False}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    cfg = s3_config_for(path)
    if cfg is not None:
        endpoint = cfg.endpoint_url() or endpoint
        if cfg.key:
            options["key"] = cfg.key
        if cfg.secret:
            options["secret"] = cfg.secret
        if cfg.token:
            options["token"] = cfg.token
        if cfg.profile:
            options["profile"] = cfg.profile
        if cfg.region:
            client["region_name"] = cfg.region
        if not cfg.verify:
            client["verify"] = False
    if endpoint:
        client["endpoint_url"] = endpoint
    if client:
        options["client_kwargs"] = client
    return options


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _missing_dependency(proto: str, err: BaseException, url: str) -> StorageError:
    hint = _INSTALL_HINTS.get(proto)
    return StorageError(f"cannot open {url}: the {proto}:// backend is not installed ({err})"
                        + (f"; install it with: {hint}" if hint else ""))


def _instance(proto: str, options: dict[str, Any], url: str) -> Any:
    """Cached ``fsspec.filesystem(proto, **options)``; the cache is per process id."""
    env = tuple(os.environ.get(name) for name in _AWS_ENV) if proto in ("s3", "s3a") else ()
    key = (os.getpid(), proto, _freeze(options), env)
    with _lock:
        fs = _instances.get(key)
    if fs is not None:
        return fs
    try:
        import fsspec
    except ImportError as err:  # pragma: no cover - fsspec is a hard dependency
        raise StorageError(f"fsspec is not installed ({err}); install it with: pip install fsspec") from err
    try:
        fs = fsspec.filesystem(proto, skip_instance_cache=True, **options)
    except ImportError as err:
        raise _missing_dependency(proto, err, url) from err
    except ValueError as err:
        raise StorageError(f"cannot open {url}: unknown storage protocol {proto}:// ({err})") from err
    with _lock:
        if any(k[0] != os.getpid() for k in _instances):
            for stale in [k for k in _instances if k[0] != os.getpid()]:
                del _instances[stale]
        _instances.setdefault(key, fs)
        return _instances[key]


def filesystem_for(url: str) -> tuple[Any, str]:
    """``(fsspec filesystem, path within it)`` for a local path or URL."""
    url = normalize_url(url)
    proto = protocol(url)
    if is_local(url):
        return _instance("file", {}, url), local_path(url)
    if proto in ("s3", "s3a"):
        path = url.split("://", 1)[1]
        fs = _instance("s3", _s3_options(path), url)
        return fs, path
    if "::" in url:  # chained URL (e.g. simplecache::s3://...): let fsspec parse it
        try:
            import fsspec.core
            return fsspec.core.url_to_fs(url)
        except ImportError as err:
            raise _missing_dependency(proto, err, url) from err
        except ValueError as err:
            raise StorageError(f"cannot open {url}: {err}") from err
    try:
        import fsspec
        cls = fsspec.get_filesystem_class(proto)
    except ImportError as err:
        raise _missing_dependency(proto, err, url) from err
    except ValueError as err:
        raise StorageError(f"cannot open {url}: unknown storage protocol {proto}:// ({err})") from err
    fs = _instance(proto, cls._get_kwargs_from_urls(url), url)
    return fs, fs._strip_protocol(url)


__all__ = ["filesystem_for", "configure_s3", "clear_s3_config", "s3_config_for", "S3Config"]

"""Artifact serialisation by type, following ClearML's ``Task.upload_artifact``.

=================  ================  =====================================================
object             type              extensions (first = default)
=================  ================  =====================================================
any + function     ``custom``        any (default ``.bin``); ``serialization_function`` wins
any                ``pickle``        ``.pkl`` (always wins when asked for)
dict / list        ``dict``          ``.json``, ``.yaml``/``.yml`` (PyYAML)
pandas.DataFrame   ``pandas``        ``.csv.gz``, ``.parquet``, ``.feather``, ``.csv``, ``.pickle``
numpy.ndarray      ``numpy``         ``.npy``, ``.npz``, ``.csv.gz``
PIL.Image.Image    ``image``         ``.png`` or any extension PIL can save
existing file      ``file``          the file itself, uploaded as is
folder / glob      ``folder``        ``.zip`` of the matched files (glob matched recursively)
remote URL string  ``url``           nothing uploaded; the URL is the artifact
other str          ``string``        ``.txt``
anything else      ``pickle``        ``.pkl`` (cloudpickle) when ``auto_pickle``
=================  ================  =====================================================

numpy defaults to ``.npy`` (ClearML: ``.npz``): measured on a 200 MB float64 array, ``.npz``
(zip + CRC) costs ~2.6x a raw ``np.save``+``np.load`` round trip, ``.npy`` ~1.0x. Arrays are
written with ``allow_pickle=False``; object arrays fall back to pickle.

A dict/list is stored as JSON only when JSON gives back an equal object (no int keys, tuples,
NaN ...); otherwise it is pickled when ``auto_pickle`` (ClearML would silently change it).
numpy/pandas/PIL are imported only when such an object (or artifact) is seen.
"""
from __future__ import annotations

import json
import os
import pickle
from pathlib import Path, PurePath
from typing import Any, Callable, Optional

from ..errors import ValidationError
from .archives import extract_archive, make_zip
from .artifact_types import (
    ARTIFACT_TYPES, EXTENSIONS, SerializedArtifact, check_ext as _check_ext, made as _made,
    module_roots as _module_roots, norm_ext as _norm_ext, short as _short,
)
from .transfer import wrap_errors
from .urls import has_scheme, local_path as _local_path, protocol

_GLOB_CHARS = set("*?[")


def _write_pickle(obj: Any, base: str) -> SerializedArtifact:
    import cloudpickle
    path = base + ".pkl"
    try:
        with open(path, "wb") as fh:
            cloudpickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as err:
        if os.path.exists(path):
            os.remove(path)
        raise ValidationError(f"cannot pickle artifact of type {type(obj).__qualname__}: {err}") from err
    try:
        shown = repr(obj)
    except Exception:
        shown = "<unrepresentable>"
    return _made(path, "pickle", ".pkl", f"{type(obj).__module__}.{type(obj).__qualname__}: {_short(shown)}")


def _write_dict(obj: Any, base: str, ext: str | None, auto_pickle: bool) -> SerializedArtifact:
    ext_ = _check_ext("dict/list", ext, EXTENSIONS["dict"])
    if ext_ == ".json":
        try:
            text = json.dumps(obj, indent=2, allow_nan=False)
            lossless = type(obj) in (dict, list) and json.loads(text) == obj
        except (TypeError, ValueError) as err:
            if auto_pickle and ext is None:
                return _write_pickle(obj, base)
            raise ValidationError(f"artifact of type {type(obj).__name__} is not JSON serialisable: {err}") from err
        if not lossless and auto_pickle and ext is None:
            return _write_pickle(obj, base)
    else:
        try:
            import yaml
        except ImportError as err:
            raise ValidationError(f"extension_name {ext_!r} needs PyYAML; install it with: pip install pyyaml") from err
        try:
            text = yaml.safe_dump(obj, sort_keys=False)
        except yaml.YAMLError as err:
            raise ValidationError(f"artifact of type {type(obj).__name__} is not YAML serialisable: {err}") from err
    path = base + ext_
    Path(path).write_text(text, encoding="utf-8")
    return _made(path, "dict", ext_, _short(text.replace("\n", " "), 256))


def _write_pandas(df: Any, base: str, ext: str | None) -> SerializedArtifact:
    ext = _check_ext("pandas.DataFrame", ext, EXTENSIONS["pandas"])
    path = base + ext
    try:
        if ext in (".csv.gz", ".csv"):
            df.to_csv(path, compression="gzip" if ext == ".csv.gz" else None)
        elif ext == ".parquet":
            df.to_parquet(path)
        elif ext == ".feather":
            df.to_feather(path)
        else:
            df.to_pickle(path)
    except ImportError as err:
        raise ValidationError(f"extension_name {ext!r} needs an extra package ({err}); e.g. pip install pyarrow") from err
    except ValueError as err:
        raise ValidationError(f"cannot store this DataFrame as {ext}: {err}") from err
    preview = f"DataFrame shape={tuple(df.shape)}\n{df.head(5).to_string(max_cols=10)}"
    return _made(path, "pandas", ext, _short(preview, 1000))


def _write_numpy(arr: Any, base: str, ext: str | None, auto_pickle: bool) -> SerializedArtifact:
    import numpy as np
    ext_ = _check_ext("numpy.ndarray", ext, EXTENSIONS["numpy"])
    if ext_ == ".pkl":
        return _write_pickle(arr, base)
    path = base + ext_
    try:
        if ext_ == ".npy":
            with open(path, "wb") as fh:
                np.save(fh, arr, allow_pickle=False)
        elif ext_ == ".npz":
            np.savez(path, arr, allow_pickle=False)
        else:
            np.savetxt(path, arr, delimiter=",")
    except (ValueError, TypeError) as err:
        if os.path.exists(path):
            os.remove(path)
        if auto_pickle and ext is None:
            return _write_pickle(arr, base)
        raise ValidationError(f"cannot store this ndarray (dtype {arr.dtype}) as {ext_}: {err}") from err
    return _made(path, "numpy", ext_, f"ndarray shape={tuple(arr.shape)} dtype={arr.dtype}")


def _write_image(img: Any, base: str, ext: str | None) -> SerializedArtifact:
    from PIL import Image
    registered = Image.registered_extensions()
    accepted = tuple(sorted(e for e, fmt in registered.items() if fmt in Image.SAVE))
    ext = ".png" if ext is None else ext
    if ext not in accepted:
        raise ValidationError.choice("extension_name for a PIL.Image artifact", ext, accepted)
    fmt = registered[ext]
    if fmt == "JPEG" and img.mode not in ("RGB", "L", "CMYK"):
        img = img.convert("RGB")
    path = base + ext
    img.save(path, format=fmt)
    return _made(path, "image", ext, f"PIL.Image mode={img.mode} size={img.size}")


def _files_for(path: str, pattern: str, exclude: str) -> list[tuple[str, str]]:
    root = Path(path)
    files = sorted(p for p in root.rglob(pattern) if p.is_file() and str(p) != exclude)
    return [(str(p), p.relative_to(root).as_posix()) for p in files]


def _write_path_or_string(obj: Any, base: str, ext: str | None) -> SerializedArtifact:
    text = os.fspath(obj) if isinstance(obj, PurePath) else obj
    is_path = isinstance(obj, PurePath)
    if not is_path and has_scheme(text) and protocol(text) != "file":
        art = SerializedArtifact("", "url", "".join(PurePath(text.split("?")[0]).suffixes[-2:]),
                                 _short(text), "text/uri-list", owned=False)
        art.url = text
        return art
    if is_path or (text.strip() and len(text) < 4096 and "\n" not in text and "\x00" not in text):
        full = _local_path(text)
        if os.path.isfile(full):
            suffix = "".join(Path(full).suffixes[-2:])
            art = _made(full, "file", suffix, f"{full} ({os.path.getsize(full)} bytes)")
            art.owned = False
            return art
        folder, pattern = (full, "*") if os.path.isdir(full) else (os.path.dirname(full), os.path.basename(full))
        globbed = pattern != "*" and bool(_GLOB_CHARS & set(pattern)) and (is_path or os.path.dirname(text) != "")
        if (pattern == "*" or globbed) and os.path.isdir(folder) and not _GLOB_CHARS & set(folder):
            _check_ext("folder", ext, EXTENSIONS["folder"])
            dest = base + ".zip"
            files = _files_for(folder, pattern, dest)
            if files or pattern == "*":
                make_zip(files, dest)
                names = ", ".join(arc for _, arc in files[:5]) + (" ..." if len(files) > 5 else "")
                return _made(dest, "folder", ".zip", f"{len(files)} files from {full}: {names}", archive=True)
        if is_path:
            raise ValidationError(f"artifact path {full!r} could not be found (expected an existing file, "
                                  "folder or a wildcard matching files)")
    ext_ = _check_ext("string", ext, EXTENSIONS["string"])
    if ext_ == ".pkl":
        return _write_pickle(obj, base)
    path = base + ".txt"
    Path(path).write_text(text, encoding="utf-8")
    return _made(path, "string", ".txt", _short(text))


def serialize_artifact(obj: Any, work_dir: str, name: str, auto_pickle: bool = True,
                       serialization_function: Callable[[Any], bytes] | None = None,
                       extension_name: str | None = None) -> SerializedArtifact:
    """Serialise ``obj`` into ``work_dir/<name><ext>`` by type (see module docstring)."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise ValidationError(f"invalid artifact name {name!r}; expected a name without '/', '\\' or '..'")
    os.makedirs(work_dir, exist_ok=True)
    base = os.path.join(os.path.abspath(work_dir), name)
    ext = _norm_ext(extension_name)
    if serialization_function is not None:
        data = serialization_function(obj)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ValidationError(f"serialization_function must return bytes or bytearray, got {type(data).__name__}")
        path = base + (ext or ".bin")
        Path(path).write_bytes(bytes(data))
        return _made(path, "custom", ext or ".bin", f"{type(obj).__qualname__} ({len(data)} bytes, custom)")
    if ext == ".pkl" and not isinstance(obj, (str, PurePath)):
        return _write_pickle(obj, base)
    roots = _module_roots(obj)
    if "pandas" in roots:
        import pandas as pd
        if isinstance(obj, pd.DataFrame):
            return _write_pandas(obj, base, ext)
    if "numpy" in roots:
        import numpy as np
        if isinstance(obj, np.ndarray):
            return _write_numpy(obj, base, ext, auto_pickle)
    if "PIL" in roots:
        from PIL import Image
        if isinstance(obj, Image.Image):
            return _write_image(obj, base, ext)
    if isinstance(obj, (dict, list)):
        return _write_dict(obj, base, ext, auto_pickle)
    if isinstance(obj, (str, PurePath)):
        return _write_path_or_string(obj, base, ext)
    if not auto_pickle:
        raise ValidationError(
            f"artifact of type {type(obj).__module__}.{type(obj).__qualname__} is not supported with "
            "auto_pickle=False; supported: dict, list, str, pathlib.Path, pandas.DataFrame, "
            "numpy.ndarray, PIL.Image.Image, or pass serialization_function")
    if ext is not None:
        raise ValidationError.choice(f"extension_name for a {type(obj).__qualname__} artifact", ext, (".pkl",))
    return _write_pickle(obj, base)


def unpickles(type: str, extension: Optional[str]) -> bool:
    """True when loading an artifact of this type/extension runs ``pickle`` (so it runs code)."""
    return type == "pickle" or (type == "pandas" and (extension or "").lower() in (".pickle", ".pkl"))


def deserialize_artifact(local_path: str, type: str, extension: str,
                         deserialization_function: Callable[[bytes], Any] | None = None) -> Any:
    """Load what :func:`serialize_artifact` wrote (``type``/``extension`` as it reported).

    folder -> path of the extracted folder; file -> its path; url -> the URL; custom
    without ``deserialization_function`` -> the local path.
    """
    kind, ext = type, (extension or "").lower()
    if deserialization_function is not None:
        with wrap_errors("reading of", local_path):
            data = Path(local_path).read_bytes()
        return deserialization_function(data)
    if kind in ("url", "file", "custom"):
        return local_path
    with wrap_errors("deserialization of", local_path):
        if kind == "folder":
            return local_path if os.path.isdir(local_path) else extract_archive(local_path, local_path + "_extracted")
        if kind == "string":
            return Path(local_path).read_text(encoding="utf-8")
        if kind == "pickle":
            with open(local_path, "rb") as fh:
                return pickle.load(fh)
        if kind == "dict":
            text = Path(local_path).read_text(encoding="utf-8")
            if ext in (".yaml", ".yml"):
                import yaml
                return yaml.safe_load(text)
            return json.loads(text)
        if kind == "numpy":
            import numpy as np
            if ext == ".csv.gz":
                return np.loadtxt(local_path, delimiter=",")
            loaded = np.load(local_path, allow_pickle=False)
            if ext != ".npz":
                return loaded
            with loaded:
                arrays = {k: loaded[k] for k in loaded.files}
            return next(iter(arrays.values())) if len(arrays) == 1 else arrays
        if kind == "pandas":
            import pandas as pd
            if ext in (".csv.gz", ".csv"):
                return pd.read_csv(local_path, index_col=0)
            reader = {".parquet": pd.read_parquet, ".feather": pd.read_feather}.get(ext, pd.read_pickle)
            return reader(local_path)
        if kind == "image":
            from PIL import Image
            img = Image.open(local_path)
            img.load()
            return img
    raise ValidationError.choice("artifact type", kind, ARTIFACT_TYPES)


__all__ = ["SerializedArtifact", "serialize_artifact", "deserialize_artifact", "unpickles", "EXTENSIONS"]

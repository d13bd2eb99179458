"""Task parameters, configuration objects and label enumeration (a mixin of ``Task``).

Parameters live in the ``params`` table as ``(section, name, value-as-string, type)``; the
flat ClearML key is ``Section/name``. When the task is run by an agent or executor
(``task._remote``), ``connect`` and ``connect_configuration`` first *read* the stored values
into the user's objects — that is how an edited clone re-runs with new values.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping, Optional

from ..errors import ValidationError
from .logger import check_name as _storable
from .parameters import DEFAULT_SECTION, cast_like, cast_value, encode_value, flatten, nest, split_key


class ProxyDict(dict):
    """A dict returned by ``Task.connect(dict)``: later writes are recorded as parameters."""

    def __init__(self, task: Any, section: str, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._task = task
        self._section = section

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._task._write_params({f"{self._section}/{k}": v for k, v in flatten({key: value})}, replace=False)

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        super().update(*args, **kwargs)
        self._task._write_params({f"{self._section}/{k}": v for k, v in flatten(dict(*args, **kwargs))},
                                 replace=False)

    def __reduce__(self):  # pickles as a plain dict (no task handle)
        return dict, (dict(self),)


class ParametersMixin:
    """Hyperparameters and configuration of a Task."""

    _remote: bool = False

    # ------------------------------------------------------------ storage primitives
    def _write_params(self, flat: Mapping[str, Any], replace: bool = False, descriptions: Mapping[str, str] | None = None,
                      types: Mapping[str, str] | None = None, check: bool = True) -> None:
        rows = []
        for key, value in flat.items():
            if not isinstance(key, str) or not key:
                raise ValidationError(f"parameter names must be non-empty strings, got {key!r}")
            # checked before the write: a lone surrogate would fail the write with a UnicodeEncodeError
            _storable("parameter name", key)
            section, name = split_key(key)
            try:
                text, type_name = encode_value(value)
            except ValidationError as exc:
                raise ValidationError(f"parameter {key!r}: {exc}") from None
            _storable(f"parameter {key!r} value", text)
            if types and key in types:
                type_name = types[key]
            description = (descriptions or {}).get(key)
            if description is not None:
                _storable(f"parameter {key!r} description", str(description))
            rows.append((self._id, section, name, text, type_name, description))
        # the check runs inside the write: an agent claiming the task meanwhile can't get an edit it didn't see
        self._store.write_task_params(self._id, rows, replace=replace,
                                      guard=(lambda: self._check_editable("parameters")) if check else None)

    def _param_rows(self) -> list[dict]:
        return self._store.task_params(self._id)

    # ------------------------------------------------------------ public parameter API
    def set_parameter(self, name: str, value: Any, description: Optional[str] = None,
                      value_type: Any = None) -> None:
        types = {name: getattr(value_type, "__name__", value_type)} if value_type else None
        self._write_params({name: value}, descriptions={name: description} if description else None, types=types)

    def set_parameters(self, *args: Any, **kwargs: Any) -> None:
        """Replace all parameters with the given ``{'Section/name': value}`` pairs."""
        self._write_params(_merge_args(args, kwargs), replace=True)

    def update_parameters(self, *args: Any, **kwargs: Any) -> None:
        """Add or change parameters, keeping the others."""
        self._write_params(_merge_args(args, kwargs), replace=False)

    def set_parameters_as_dict(self, dictionary: Mapping[str, Any]) -> None:
        """Replace all parameters with a nested ``{section: {name: value}}`` dict."""
        if not isinstance(dictionary, Mapping):
            raise ValidationError(f"set_parameters_as_dict expects a dict, got {type(dictionary).__name__}")
        self._write_params(dict(flatten(dictionary)), replace=True)

    def get_parameter(self, name: str, default: Any = None, cast: bool = False) -> Any:
        section, key = split_key(name)
        row = self._store.task_param(self._id, section, key)
        if row is None:
            return default
        return cast_value(row["value"], row["type"]) if cast else row["value"]

    def get_parameters(self, backwards_compatibility: bool = True, cast: bool = False) -> dict[str, Any]:
        """All parameters as a flat ``{'Section/name': value}`` dict (strings unless ``cast``)."""
        return {f"{r['section']}/{r['name']}": cast_value(r["value"], r["type"]) if cast else r["value"]
                for r in self._param_rows()}

    def get_parameters_as_dict(self, cast: bool = False) -> dict[str, Any]:
        """All parameters nested by section (and by '/' inside names)."""
        return nest(self.get_parameters(cast=cast))

    def delete_parameter(self, name: str, force: bool = False) -> bool:
        self._check_editable("parameters")
        section, key = split_key(name)
        return self._store.delete_param(self._id, section, key)

    # ------------------------------------------------------------ connect
    def connect(self, mutable: Any, name: Optional[str] = None, ignore_remote_overrides: bool = False) -> Any:
        """Record ``mutable``'s values as parameters; when run remotely, load stored values into it.
        After ``close()`` it raises TaskClosedError (a ValueError, as in ClearML)."""
        from .models import Model
        self._check_open("parameters (connect)")
        override = self._remote and not ignore_remote_overrides
        if isinstance(mutable, Model):
            return mutable._connect(self)
        if isinstance(mutable, argparse.ArgumentParser):
            raise ValidationError("connect() takes the parsed argparse.Namespace (parser.parse_args()), "
                                  "not the ArgumentParser")
        if isinstance(mutable, argparse.Namespace):
            section = name or "Args"
            self._connect_attributes(mutable, vars(mutable), section, override)
            return mutable
        if isinstance(mutable, Mapping):
            section = name or DEFAULT_SECTION
            bad = [k for k in mutable if not isinstance(k, str)]
            if bad:
                raise ValidationError(f"connect(dict) supports only str keys; got {bad[:3]!r}")
            values = dict(mutable)
            if override:
                values = self._override_mapping(values, section)
                if isinstance(mutable, dict):
                    mutable.clear()
                    mutable.update(values)
            self._write_params({f"{section}/{k}": v for k, v in flatten(values)}, check=False)
            return ProxyDict(self, section, values) if isinstance(mutable, dict) else mutable
        if isinstance(mutable, (str, bytes, int, float, bool, list, tuple, set)) or mutable is None:
            raise ValidationError(f"connect() cannot connect a {type(mutable).__name__}; accepted: dict, "
                                  "argparse.Namespace, a class or an object with attributes, InputModel/OutputModel")
        section = name or DEFAULT_SECTION
        attrs = {k: v for k, v in vars(mutable).items() if not k.startswith("_") and not callable(v)
                 and not isinstance(v, (staticmethod, classmethod, property))}
        self._connect_attributes(mutable, attrs, section, override)
        return mutable

    def _connect_attributes(self, target: Any, values: dict, section: str, override: bool) -> None:
        if override:
            new_values = self._override_mapping(values, section, nested=False)
            for key, value in new_values.items():
                setattr(target, key, value)
            values = new_values
        self._write_params({f"{section}/{k}": v for k, v in values.items()}, check=False)

    def _override_mapping(self, values: dict, section: str, nested: bool = True) -> dict:
        stored = {r["name"]: r for r in self._param_rows() if r["section"] == section}
        if not stored:
            return values
        flat = dict(flatten(values)) if nested else dict(values)
        for key, row in stored.items():
            flat[key] = cast_like(row["value"], flat[key]) if key in flat else cast_value(row["value"], row["type"])
        return nest(flat) if nested else flat

    # ------------------------------------------------------------ configuration objects
    def set_configuration_object(self, name: str, config_text: Optional[str] = None,
                                 description: Optional[str] = None, config_type: Optional[str] = None,
                                 config_dict: Optional[Mapping] = None) -> None:
        if not isinstance(name, str) or not name:
            raise ValidationError(f"configuration name must be a non-empty string, got {name!r}")
        _storable("configuration name", name)
        if config_dict is not None:
            config_text, config_type = json.dumps(config_dict, indent=2, default=str), config_type or "dictionary"
        for what, text in (("text", config_text), ("description", description), ("type", config_type)):
            if isinstance(text, str):  # refused here, not as a UnicodeEncodeError from SQLite
                _storable(f"configuration {name!r} {what}", text)
        self._check_editable("configuration")
        self._store.put_configs([(self._id, name, config_text or "", config_type or "text", description)],
                                keep_descriptions=True)

    def get_configuration_object(self, name: str) -> Optional[str]:
        return self._store.task_config(self._id, name)

    def get_configuration_objects(self) -> dict[str, str]:
        return {r["name"]: r["value"] for r in self._store.task_configs(self._id)}

    def get_configuration_object_as_dict(self, name: str) -> Optional[dict | list]:
        text = self.get_configuration_object(name)
        if text is None:
            return None
        return _parse_config_text(text, name)

    def connect_configuration(self, configuration: Any, name: Optional[str] = None,
                              description: Optional[str] = None, ignore_remote_overrides: bool = False) -> Any:
        """Store a dict/list or a config file's content; when run remotely, return the stored version.
        After ``close()`` it raises TaskClosedError (a ValueError, as in ClearML)."""
        self._check_open("configuration (connect_configuration)")
        name = name or DEFAULT_SECTION
        override = self._remote and not ignore_remote_overrides
        stored = self.get_configuration_object(name) if override else None
        if isinstance(configuration, (Mapping, list)):
            if stored is not None:
                value = _parse_config_text(stored, name)
                if isinstance(configuration, dict) and isinstance(value, dict):
                    configuration.clear()
                    configuration.update(value)
                    return configuration
                return value
            self._check_editable_config()
            self.set_configuration_object(name, config_dict=configuration, description=description)
            return configuration
        if isinstance(configuration, (str, Path)):
            path = Path(configuration)
            if stored is not None:
                fd, tmp = tempfile.mkstemp(prefix=f"{path.stem}_", suffix=path.suffix)
                with os.fdopen(fd, "w") as fh:
                    fh.write(stored)
                return Path(tmp) if isinstance(configuration, Path) else tmp
            if not path.is_file():
                raise ValidationError(f"connect_configuration: {str(configuration)!r} is not an existing file "
                                      "(pass a dict/list or a path to a configuration file)")
            suffix = path.suffix.lower().lstrip(".")
            self._check_editable_config()
            self.set_configuration_object(name, config_text=path.read_text(), description=description,
                                          config_type=suffix or "text")
            return configuration
        raise ValidationError(f"connect_configuration accepts a dict, a list or a file path, got "
                              f"{type(configuration).__name__}")

    def _check_editable_config(self) -> None:
        self._check_editable("configuration")

    # ------------------------------------------------------------ labels
    def connect_label_enumeration(self, enumeration: Mapping[str, int], ignore_remote_overrides: bool = False) -> dict:
        if not isinstance(enumeration, Mapping) or not all(
                isinstance(k, str) and isinstance(v, int) for k, v in enumeration.items()):
            raise ValidationError(f"label enumeration must be a dict of str -> int, got {enumeration!r}")
        if self._remote and not ignore_remote_overrides:
            stored = self.data.get("labels") or {}
            if stored:
                if isinstance(enumeration, dict):
                    enumeration.clear()
                    enumeration.update(stored)
                return dict(stored)
        self._set_fields("labels", labels=dict(enumeration))
        return dict(enumeration)

    def get_labels_enumeration(self) -> dict[str, int]:
        return dict(self.data.get("labels") or {})

    def get_num_of_classes(self) -> int:
        return len(self.get_labels_enumeration())


def _merge_args(args: tuple, kwargs: dict) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for arg in args:
        if isinstance(arg, Mapping):
            out.update(arg)
        else:
            try:
                out.update(dict(arg))
            except (TypeError, ValueError):
                raise ValidationError(f"expected a dict or (name, value) pairs, got {arg!r}") from None
    out.update(kwargs)
    return out


def _parse_config_text(text: str, name: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        import yaml  # optional
        value = yaml.safe_load(text)
        if isinstance(value, (dict, list)):
            return value
    except Exception:
        pass
    raise ValidationError(f"configuration object {name!r} is not JSON (or YAML) text; "
                          "use get_configuration_object() for its raw text")

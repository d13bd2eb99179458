"""Hyperparameter encoding: flat ``Section/name`` keys, values stored as strings plus their type.

ClearML stores every parameter as a string and remembers the original type so that
``get_parameters(cast=True)`` restores it. Nested dicts are flattened with ``/``.
"""
from __future__ import annotations

import ast
import json
from typing import Any, Iterator, Mapping

DEFAULT_SECTION = "General"


def encode_value(value: Any) -> tuple[str, str]:
    """(string form, type name) of a parameter value.

    A value with no text form (an int of more than ``sys.get_int_max_str_digits()`` digits, also
    inside a list or dict) is a ValidationError, not the bare ValueError of ``str()``."""
    if value is None:
        return "", "NoneType"
    if isinstance(value, str):
        return value, "str"
    try:
        if isinstance(value, bool):
            return str(value), "bool"
        if isinstance(value, (int, float)):
            return str(value), type(value).__name__
        if isinstance(value, (list, tuple, dict)):
            try:
                return json.dumps(value), type(value).__name__
            except TypeError:
                return str(value), type(value).__name__
        return str(value), type(value).__name__
    except ValueError as exc:
        from ..errors import ValidationError
        from .logger import shown
        raise ValidationError(f"parameter value {shown(value)} has no text form to store: {exc}") from None


def cast_value(text: str | None, type_name: str | None) -> Any:
    """Inverse of :func:`encode_value`; unknown types or unparsable text stay strings."""
    if text is None:
        return None
    try:
        if type_name == "str" or not type_name:
            return text
        if type_name == "NoneType":
            return None if text in ("", "None") else text
        if type_name == "bool":
            return text.strip().lower() in ("true", "1", "yes", "y", "on")
        if type_name == "int":
            return int(float(text)) if "." in text or "e" in text.lower() else int(text)
        if type_name == "float":
            return float(text)
        if type_name in ("list", "tuple", "dict"):
            try:
                value = json.loads(text)
            except ValueError:
                value = ast.literal_eval(text)
            return tuple(value) if type_name == "tuple" else value
    except (ValueError, SyntaxError, TypeError):
        return text
    return text


def cast_like(text: str, original: Any) -> Any:
    """Cast a stored string to the type of ``original`` (used for remote overrides)."""
    if original is None:
        return cast_value(text, "NoneType") if text in ("", "None") else text
    return cast_value(text, type(original).__name__)


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield ``(a/b/c, value)`` for every leaf of a nested dict (empty dicts are leaves)."""
    for key, value in mapping.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from flatten(value, path + "/")
        else:
            yield path, value


def split_key(key: str, default_section: str = DEFAULT_SECTION) -> tuple[str, str]:
    """``'Section/name'`` -> (section, name); a bare name goes to ``default_section``."""
    section, sep, name = key.partition("/")
    if not sep:
        return default_section, key
    return section, name


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`flatten`: ``{'a/b': 1}`` -> ``{'a': {'b': 1}}``."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        parts = key.split("/")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return out

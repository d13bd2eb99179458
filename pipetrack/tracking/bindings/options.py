"""``auto_connect_frameworks`` and ``auto_connect_arg_parser`` as the seed defines them.

``True``/``False`` for everything; or a dict whose keys are frameworks (``'pytorch'``,
``'joblib'``, ...) and whose values are a bool, a dict of finer settings (``{'tensorboard':
{'report_hparams': False}}``) or wildcard strings (one or a list) that a model file's local
path must match to be registered (``{'pytorch': '*.pt'}``). Keys missing from a dict default to
True; an empty dict turns everything off.
"""
from __future__ import annotations

import fnmatch
import os
from typing import Any, Mapping, Optional, Sequence

from ...errors import ValidationError


class FrameworkOption:
    """What ``auto_connect_frameworks`` says about one framework: on or off, the wildcards a model
    file must match (none: every file) and finer settings. (A plain class: this module is
    imported with ``import pipetrack``, and dataclasses would cost a tenth of that import.)"""

    __slots__ = ("enabled", "patterns", "settings")

    def __init__(self, enabled: bool, patterns: tuple[str, ...] = (), settings: Optional[Mapping[str, Any]] = None):
        self.enabled = enabled
        self.patterns = tuple(patterns)
        self.settings = dict(settings or {})

    def __repr__(self) -> str:
        return f"FrameworkOption(enabled={self.enabled!r}, patterns={self.patterns!r}, settings={self.settings!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FrameworkOption) and (self.enabled, self.patterns, self.settings) == \
            (other.enabled, other.patterns, other.settings)

    def accepts(self, path: Any) -> bool:
        """Whether a model file at ``path`` is registered (it matches one of the wildcards, if any)."""
        if not self.enabled:
            return False
        if not self.patterns:
            return True
        text = os.fspath(path) if isinstance(path, (str, os.PathLike)) else str(path)
        return any(fnmatch.fnmatch(text, p) or fnmatch.fnmatch(os.path.basename(text), p) for p in self.patterns)

    def setting(self, name: str, default: Any = None) -> Any:
        return self.settings.get(name, default)


def framework_option(option: Any, name: str, aliases: Sequence[str] = ()) -> FrameworkOption:
    """The option for framework ``name`` (or one of its ``aliases``, e.g. 'scikit' for joblib)."""
    if isinstance(option, bool) or option is None:
        return FrameworkOption(bool(option))
    if not isinstance(option, Mapping):
        raise ValidationError(f"auto_connect_frameworks must be a bool or a dict of framework -> bool, dict or "
                              f"wildcard strings, got {option!r}")
    if not option:
        return FrameworkOption(False)
    value: Any = True
    for key in (name, *aliases):
        if key in option:
            value = option[key]
            break
    if isinstance(value, bool) or value is None:
        return FrameworkOption(bool(value))
    if isinstance(value, str):
        return FrameworkOption(True, (value,))
    if isinstance(value, Mapping):
        return FrameworkOption(True, settings=dict(value))
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return FrameworkOption(bool(value), tuple(value))
    raise ValidationError(f"auto_connect_frameworks[{name!r}] must be a bool, a dict of settings or wildcard "
                          f"strings, got {value!r}")


def argument_allowed(option: Any, name: str) -> bool:
    """Whether argument ``name`` is recorded under ``auto_connect_arg_parser`` (the seed's dict rules)."""
    if isinstance(option, Mapping):
        if not option:
            return False
        return bool(option.get(name, option.get("*", True)))
    return bool(option)

"""jsonargparse: the parsed values of ``ArgumentParser.parse_args`` (also behind
``jsonargparse.CLI``) are recorded under ``Args/``, nested keys dotted (``Args/model.width``),
as ClearML does; when the task is run by an agent, each stored value that differs from the
parsed one is given to jsonargparse again as ``--key=value``, so it is checked and converted by
jsonargparse's own types (a bad value is jsonargparse's usual error).

jsonargparse's parser does not go through argparse's ``parse_known_args`` (so the argparse
capture never sees it) and has no hook for "arguments were parsed": ``parse_args`` is wrapped.
The ``config`` file argument itself is not recorded (the values it set are).
"""
from __future__ import annotations

import sys
import threading
from typing import Any

from ..parameters import encode_value
from .arguments import ArgsRecorder, plain, stored_rows
from .hooks import patch, when_imported

SECTION = "Args"
SKIPPED = ("config", "__path__", "__default_config__")
_recorder = ArgsRecorder()
_depth = threading.local()


def connect(task: Any, option: Any) -> None:
    """Record what jsonargparse parses from now on."""
    _recorder.filter = option
    arm()
    _recorder.flush()


def arm() -> None:
    """Wrap jsonargparse once it is imported (needs no task: values wait for ``Task.init``)."""
    when_imported("jsonargparse", _bind)


def _bind(jsonargparse: Any) -> None:
    patch(jsonargparse.ArgumentParser, "parse_args", _parsing)


def _parsing(original: Any) -> Any:
    def parse_args(self: Any, args: Any = None, *more: Any, **kwargs: Any) -> Any:
        if getattr(_depth, "value", 0):  # a parse inside a parse (sub-commands, CLI internals)
            return original(self, args, *more, **kwargs)
        _depth.value = 1
        try:
            parsed = original(self, args, *more, **kwargs)
            flat = dict(parsed.items()) if hasattr(parsed, "items") else dict(vars(parsed))
            stored = stored_rows(SECTION)
            if stored:
                changed = [f"--{key}={row['value']}" for key, row in stored.items()
                           if key in flat and key not in SKIPPED and row["value"] != encode_value(plain(flat[key]))[0]]
                if changed:
                    given = list(sys.argv[1:] if args is None else args)
                    parsed = original(self, given + changed, *more, **kwargs)
                    flat = dict(parsed.items()) if hasattr(parsed, "items") else dict(vars(parsed))
            for key, value in flat.items():
                if key.split(".")[-1] not in SKIPPED:
                    _recorder.add(f"{SECTION}/{key}", key, value)
            _recorder.flush()
            return parsed
        finally:
            _depth.value = 0

    return parse_args

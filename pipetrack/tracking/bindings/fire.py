"""python-fire: the user's arguments of the functions and classes fire calls are recorded under
``Args/``, as ClearML does (fire's own flags after ``--``, such as ``--help`` or ``--trace``,
never reach them); when the task is run by an agent, stored values replace the parsed ones,
read with fire's own value parser.

The component given to ``fire.Fire`` (a function, or a class's constructor) records
``Args/<arg>``; a command reached from it (a method, or a function of a dict/module) records
``Args/<command>`` (type ``fire.Command``, True) and ``Args/<command>/<arg>``. Arguments left
at their default are recorded with it, so a clone can edit them. fire has no hook for "these
arguments were parsed", so ``fire.Fire`` and fire's per-call parser factory
(``fire.core._MakeParseFn``) are wrapped.
"""
from __future__ import annotations

from typing import Any

from .arguments import ArgsRecorder, stored_rows
from .hooks import patch, when_imported

SECTION = "Args"
COMMAND_TYPE = "fire.Command"
_recorder = ArgsRecorder()
_roots: list = []  # components of the fire.Fire calls running now (innermost last)


def connect(task: Any, option: Any) -> None:
    """Record what fire parses from now on."""
    _recorder.filter = option
    arm()
    _recorder.flush()


def arm() -> None:
    """Wrap fire once it is imported (needs no task: values wait for ``Task.init``)."""
    when_imported("fire", _bind)


def _bind(fire: Any) -> None:
    import fire.core as core
    import fire.parser as flags
    patch(flags, "CreateParser", _inner_parser)
    patch(core, "_MakeParseFn", _parse_maker)
    patch(core, "Fire", _firing)
    if getattr(fire, "Fire", None) is not None:
        patch(fire, "Fire", _firing)


def _inner_parser(original: Any) -> Any:
    def CreateParser(*args: Any, **kwargs: Any) -> Any:  # noqa: N802 - fire's name
        flag_parser = original(*args, **kwargs)
        flag_parser._pipetrack_inner = True  # fire's own flags (--help, --trace): not the user's arguments
        return flag_parser

    return CreateParser


def _firing(original: Any) -> Any:
    def Fire(component: Any = None, *args: Any, **kwargs: Any) -> Any:  # noqa: N802 - fire's name
        _roots.append(component)
        try:
            return original(component, *args, **kwargs)
        finally:
            _roots.pop()

    return Fire


def _parse_maker(original: Any) -> Any:
    def make_parse_fn(fn: Any, metadata: Any) -> Any:
        parse = original(fn, metadata)

        def parse_and_record(args: Any) -> Any:
            (varargs, kwargs), consumed, remaining, capacity = parse(args)
            try:
                varargs, kwargs = _record(fn, list(varargs), dict(kwargs))
            except (TypeError, ValueError, AttributeError) as exc:  # an odd callable: run it unrecorded
                import warnings
                warnings.warn(f"pipetrack: could not record fire arguments of {fn!r}: {exc}", RuntimeWarning)
            _recorder.flush()
            return (varargs, kwargs), consumed, remaining, capacity

        return parse_and_record

    return make_parse_fn


def _record(fn: Any, varargs: list, kwargs: dict) -> tuple[list, dict]:
    from fire import inspectutils, parser
    spec = inspectutils.GetFullArgSpec(fn)
    names = list(spec.args) + list(spec.kwonlyargs)
    defaults = dict(zip(reversed(spec.args), reversed(spec.defaults or ())))
    defaults.update(spec.kwonlydefaults or {})
    values = {name: defaults.get(name) for name in names}
    values.update(zip(spec.args, varargs))
    values.update({k: v for k, v in kwargs.items() if k in values or spec.varkw})
    root = _roots[-1] if _roots else None
    is_root = root is not None and (fn is root or getattr(root, "__call__", None) == fn)
    prefix = "" if is_root else f"{getattr(fn, '__name__', 'command')}/"
    if prefix:
        _recorder.add(f"{SECTION}/{prefix[:-1]}", prefix[:-1], True, COMMAND_TYPE)
    stored = stored_rows(SECTION)
    for name, value in values.items():
        row = (stored or {}).get(prefix + name)
        if row is not None and not (row["value"] == "" and value is None):
            value = parser.DefaultParseValue(row["value"])  # as fire reads a command-line value
            position = spec.args.index(name) if name in spec.args else -1
            if 0 <= position < len(varargs):
                varargs[position] = value
            else:
                kwargs[name] = value
        _recorder.add(f"{SECTION}/{prefix}{name}", name, value)
    return varargs, kwargs

"""click: the options and arguments of the invoked command are recorded under ``Args/``, as
ClearML does; when the task is run by an agent, stored ``Args/`` values replace the parsed ones.

A single command records ``Args/<param>``. A group records its own options as
``Args/<group>/<param>``, every sub-command as ``Args/<command>`` (type ``click.Command``: True
for the invoked one, False for the others) and each sub-command's options as
``Args/<command>/<param>`` (defaults for the ones not invoked, so a clone can switch command).
An agent run invokes the sub-command whose ``Args/<command>`` is True.

click has no hook for "arguments were parsed", so ``Command.parse_args`` (which groups call too)
and ``Group.resolve_command`` are wrapped. When ``Task.init`` runs inside a command, the
parse already happened: the current click context is recorded instead.
"""
from __future__ import annotations

import json
import sys
from typing import Any, Mapping

from .arguments import SECTION, ArgsRecorder, plain, stored_rows, truthy
from .hooks import patch, when_imported
from .options import argument_allowed

COMMAND_TYPE = "click.Command"


def _in_click(value: Any) -> bool:
    return type(value).__module__.split(".")[0] == "click"  # click's own sentinels (UNSET)


# ----------------------------------------------------------------- click
_recorder = ArgsRecorder()


def connect(task: Any, option: Any) -> None:
    """Record click commands parsed from now on (and the one running, if ``Task.init`` is inside it)."""
    _recorder.filter = option
    arm()
    click = sys.modules.get("click")
    if click is not None:
        ctx = click.get_current_context(silent=True)
        chain = []
        while ctx is not None:
            chain.insert(0, ctx)
            ctx = ctx.parent
        for ctx in chain:
            _collect(ctx)
    _recorder.flush()


def arm() -> None:
    """Wrap click's parsing once click is imported (needs no task: values wait for ``Task.init``)."""
    when_imported("click", _bind)


def _bind(click: Any) -> None:
    patch(click.core.Command, "parse_args", _parsing)
    patch(click.core.Group, "resolve_command", _resolving)


def _parsing(original: Any) -> Any:
    def parse_args(self: Any, ctx: Any, args: list) -> Any:
        rest = original(self, ctx, args)
        if not ctx.resilient_parsing:  # shell completion parses without running anything
            stored = stored_rows()
            if stored is not None:
                _apply_stored(ctx, stored)
            _collect(ctx)
            _recorder.flush()
        return rest

    return parse_args


def _resolving(original: Any) -> Any:
    def resolve_command(self: Any, ctx: Any, args: list) -> Any:
        stored = stored_rows() if args and not ctx.resilient_parsing else None
        if stored:
            # sub-commands are known by name: editing a clone's parameters may not keep their type
            chosen = [name for name in self.commands if name in stored and truthy(stored[name]["value"])]
            given = stored.get(args[0])
            if len(chosen) == 1 and chosen[0] != args[0] and given is not None and not truthy(given["value"]):
                args = [chosen[0]]  # the clone switched command: its options come from Args/ too
        return original(self, ctx, args)

    return resolve_command


def _prefix(ctx: Any) -> str:
    """'' for a program of one command; 'name/' for a group or its sub-commands."""
    root = ctx.find_root()
    return "" if root is ctx and not _is_group(ctx.command) else f"{ctx.command.name}/"


def _is_group(command: Any) -> bool:
    return hasattr(command, "commands") and hasattr(command, "resolve_command")


def _collect(ctx: Any) -> None:
    """Add the parsed values of ``ctx``'s command to the recorder."""
    command, prefix = ctx.command, _prefix(ctx)
    for param in command.params:
        if param.expose_value and param.name in ctx.params:
            _recorder.add(f"{SECTION}/{prefix}{param.name}", param.name, _value(ctx.params[param.name]))
    if ctx.parent is not None:
        _recorder.add(f"{SECTION}/{command.name}", command.name, True, COMMAND_TYPE)
    if _is_group(command):
        for name, sub in command.commands.items():
            if f"{SECTION}/{name}" not in _recorder._values:
                _recorder.add(f"{SECTION}/{name}", name, False, COMMAND_TYPE)
            for param in getattr(sub, "params", ()):
                key = f"{SECTION}/{name}/{param.name}"
                if param.expose_value and key not in _recorder._values:
                    default = getattr(param, "default", None)
                    _recorder.add(key, param.name, None if callable(default) else _value(default))


def _value(value: Any) -> Any:
    return None if _in_click(value) else plain(value)


def _apply_stored(ctx: Any, stored: Mapping[str, dict]) -> None:
    """Replace ``ctx.params`` by the stored ``Args/`` values (run by an agent), checked by click's types."""
    prefix = _prefix(ctx)
    for param in ctx.command.params:
        row = stored.get(f"{prefix}{param.name}")
        if row is None or not param.expose_value or not argument_allowed(_recorder.filter, param.name):
            continue
        text = row["value"]
        if text == "" and row["type"] in ("NoneType", "str", None) and ctx.params.get(param.name) is None:
            continue  # recorded as None: nothing was given
        raw: Any = text
        if param.multiple or param.nargs != 1:
            try:
                raw = json.loads(text) if text else []
            except ValueError:
                raw = [text]
        ctx.params[param.name] = param.type_cast_value(ctx, raw)  # a bad value: click's BadParameter

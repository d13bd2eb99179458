"""``pipetrack store copy SRC DST`` and ``pipetrack store info``: move a whole catalogue between
backends (SQLite file <-> PostgreSQL URL) and see which store a machine uses.

A copy goes through the backend-neutral catalogue export (``exchange.py``), never table by
table, so it works between any two backends and whatever their schema versions. It refuses a
destination that already holds tasks (ids would collide; a copy is not a merge), and after
writing it exports the destination again and compares it with the source record by record: a
copy that would come back different (a value one backend cannot hold) fails loudly instead of
being reported as done. Artifact and model files are not moved: their URIs are copied as they
are, so they must be reachable from wherever the new store is used (S3, a shared folder).
"""
from __future__ import annotations

import argparse
import itertools
import math
from collections import Counter
from typing import Any

from .. import cli
from ..errors import StoreError, ValidationError
from . import TaskStore, open_store


def copy_catalogue(source: TaskStore, destination: TaskStore, verify: bool = True) -> Counter:
    """Copy every record of ``source`` into the empty ``destination``; returns the count per kind.

    With ``verify`` the destination is exported again and must equal the source record by record."""
    if source.location == destination.location:
        raise ValidationError(f"store copy: the source and the destination are the same store ({source})")
    held = destination.task_count()
    if held:
        raise ValidationError(f"store copy: the destination {destination} already holds {held} tasks; copy into "
                              "an empty store (a new SQLite path, or an empty PostgreSQL database)")
    counts: Counter = Counter()

    def counted(records):
        for record in records:
            counts[record["kind"]] += 1
            yield record

    destination.import_catalogue(counted(source.export_catalogue()))
    if verify:
        pairs = itertools.zip_longest(source.export_catalogue(), destination.export_catalogue())
        for number, (expected, copied) in enumerate(pairs, 1):
            where = _first_difference(expected, copied)
            if where is not None:
                what = (expected or copied or {}).get("kind", "record")
                raise StoreError(f"store copy: record {number} ({what}) differs after the copy to {destination} at "
                                 f"{where}; the destination holds a partial copy: drop it before trying again")
    return counts


def _first_difference(expected: Any, copied: Any, path: str = "") -> str | None:
    """Where two exported records first differ (a path like ``task.name``), None when equal; NaN
    equals NaN (a stored NaN is the same value on both sides)."""
    if isinstance(expected, dict) and isinstance(copied, dict):
        for key in sorted(set(expected) | set(copied), key=str):
            found = _first_difference(expected.get(key, _MISSING), copied.get(key, _MISSING), f"{path}.{key}")
            if found is not None:
                return found
        return None
    if isinstance(expected, list) and isinstance(copied, list):
        if len(expected) != len(copied):
            return f"{path.lstrip('.')} ({len(expected)} items in the source, {len(copied)} in the copy)"
        for index, (a, b) in enumerate(zip(expected, copied)):
            found = _first_difference(a, b, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    if isinstance(expected, float) and isinstance(copied, float) and math.isnan(expected) and math.isnan(copied):
        return None
    if type(expected) is not type(copied) or expected != copied:
        return f"{path.lstrip('.') or 'the record'} (source {expected!r:.80}, copy {copied!r:.80})"
    return None


_MISSING = object()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="store_command", required=True)
    copy = sub.add_parser("copy", help="copy a whole catalogue into an empty store (SQLite <-> PostgreSQL)")
    copy.add_argument("source", metavar="SRC", help="a SQLite file path or a postgresql:// URL")
    copy.add_argument("destination", metavar="DST", help="a SQLite file path or a postgresql:// URL (empty)")
    copy.add_argument("--no-verify", dest="verify", action="store_false",
                      help="skip reading the copy back and comparing it with the source")
    copy.set_defaults(store_func=cmd_copy)
    info = sub.add_parser("info", help="which store this machine uses (PIPETRACK_STORE), and what it holds")
    info.set_defaults(store_func=cmd_info)


def cmd_copy(args: argparse.Namespace) -> int:
    source, destination = open_store(args.source), open_store(args.destination)
    counts = copy_catalogue(source, destination, verify=args.verify)
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "nothing"
    print(f"copied {summary} from {source} to {destination}"
          + ("; verified record by record" if args.verify else " (not verified)"))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from . import default_store
    store = default_store()
    print(f"store:   {store}\nbackend: {store.dialect.name}\ntasks:   {store.task_count()}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Dispatch to the chosen ``store`` subcommand."""
    return int(args.store_func(args) or 0)


cli.EXTRA_COMMANDS["store"] = ("copy a catalogue between stores, or show which store is used", add_arguments, run)

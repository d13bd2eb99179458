"""Pipeline runs and versions: "name #2" run numbers, semantic version bumps, finding runs."""
from __future__ import annotations

import re
from typing import Any, Optional, Sequence

from ..store.pipelines import PIPELINE_TAG as PIPELINE_TAG

DEFAULT_VERSION = "1.0.0"


def version_key(version: str) -> Optional[tuple]:
    """A sortable key of a semantic-ish version ('1.2.10' > '1.2.9'); None if not numeric."""
    if not isinstance(version, str) or not re.fullmatch(r"\d+(\.\d+)*", version.strip()):
        return None
    return tuple(int(p) for p in version.strip().split("."))


def bump_version(version: str) -> str:
    """1.0.0 -> 1.0.1, 1.2 -> 1.3, 10 -> 11; a non-numeric version gets '.1' appended."""
    if version_key(version) is None:
        return f"{version}.1"
    parts = version.split(".")
    parts[-1] = str(int(parts[-1]) + 1)
    return ".".join(parts)


def pipeline_runs(store: Any, project: Optional[str], name: Optional[str]) -> list[dict]:
    """Rows of previous runs of pipeline ``name`` in ``project`` (newest first)."""
    return store.pipeline_runs(project, name)


def claim_run(store: Any, task_id: str, project: str, name: str, version: Optional[str],
              add_run_number: bool) -> tuple[int, str]:
    """Make ``task_id`` the next run of pipeline ``name``: run number = previous runs + 1 ("name #2"),
    version bumped from the highest one unless given. One write transaction, so runs started at
    the same time (threads or processes) never get the same number."""
    decided: dict[str, Any] = {}

    def claim(run: dict, runs: list[dict]) -> dict:
        number = 1 + max((int(r["runtime"].get("run_number") or 0) for r in runs), default=0)
        chosen = version
        if chosen is None:
            versions = [r["runtime"].get("version") for r in runs if version_key(r["runtime"].get("version") or "")]
            chosen = bump_version(max(versions, key=version_key)) if versions else DEFAULT_VERSION
        decided.update(number=number, version=chosen)
        return {"name": f"{name} #{number}" if add_run_number and number > 1 else name, "type": "controller",
                "project_id": store.project_id(project, create=True),
                "runtime": dict(run["runtime"], pipeline_name=name, version=chosen, run_number=number),
                "system_tags": list(dict.fromkeys([*run["system_tags"], PIPELINE_TAG]))}

    store.revise_pipeline_run(task_id, project, name, claim)
    return decided["number"], decided["version"]


def pick_run(rows: Sequence[dict], version: Optional[str] = None, tags: Optional[Sequence[str]] = None) -> Optional[dict]:
    """The run with the highest semantic version, else the most recently updated one."""
    if version is not None:
        rows = [r for r in rows if r["runtime"].get("version") == version]
    if tags:
        rows = [r for r in rows if set(tags) <= set(r["tags"])]
    if not rows:
        return None
    versioned = [r for r in rows if version_key(r["runtime"].get("version") or "")]
    if versioned:
        return max(versioned, key=lambda r: (version_key(r["runtime"]["version"]), r["created"]))
    return max(rows, key=lambda r: r["last_update"])


HASH_KEY = "pipeline_hash"  # runtime entry: fingerprint of the code and steps of a controller run


def pipeline_fingerprint(code: str, parameters: dict, steps: dict) -> str:
    """A hash of what a pipeline run is: the controller's code, its parameters and its steps
    (functions' code and arguments, base tasks, overrides, DAG edges). Run state is not in it."""
    import hashlib
    import json
    payload = {"v": 1, "code": code, "parameters": parameters, "steps": steps}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def settle_version(store: Any, task_id: str, project: str, name: str, fingerprint: str,
                   given: Optional[str], auto_bump: bool) -> Optional[str]:
    """Record ``fingerprint`` on run ``task_id``; with ``auto_bump`` decide its version from it:
    the version of the last run of ``name`` when nothing changed since, else a bumped one (the
    given version, bumped past every version taken by a run that differs). Returns the version
    when it changed, else None."""
    decided: dict[str, Any] = {}

    def settle(run: dict, runs: list[dict]) -> dict:
        runtime = run["runtime"]
        version = decided["current"] = runtime.get("version")
        if auto_bump:
            if given is None:
                last = runs[0] if runs else None
                if last is not None and last["runtime"].get(HASH_KEY) == fingerprint and last["runtime"].get("version"):
                    version = last["runtime"]["version"]
            else:
                taken = {r["runtime"].get("version") for r in runs}
                same = {r["runtime"].get("version") for r in runs if r["runtime"].get(HASH_KEY) == fingerprint}
                version = given
                while version in taken and version not in same:
                    version = bump_version(version)
        decided["version"] = version
        return {"runtime": dict(runtime, version=version, **{HASH_KEY: fingerprint})}

    store.revise_pipeline_run(task_id, project, name, settle)
    return decided["version"] if decided["version"] != decided["current"] else None

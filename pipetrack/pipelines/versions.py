"""Pipeline runs and versions: "name #2" run numbers, semantic version bumps, finding runs."""
from __future__ import annotations

import re
from typing import Any, Optional, Sequence

PIPELINE_TAG = "pipeline"
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
    sql = ("SELECT t.id, t.name, t.runtime, t.created, t.last_update, t.tags, t.status, p.name AS project_name "
           "FROM tasks t JOIN projects p ON p.id=t.project_id WHERE t.type='controller' AND "
           "EXISTS (SELECT 1 FROM json_each(t.system_tags) WHERE value=?)")
    params: list[Any] = [PIPELINE_TAG]
    if project is not None:
        sql += " AND p.name=?"
        params.append(project)
    if name is not None:
        sql += " AND json_extract(t.runtime, '$.pipeline_name')=?"
        params.append(name)
    import json
    rows = store.query(sql + " ORDER BY t.created DESC", params)
    for row in rows:
        row["runtime"] = json.loads(row["runtime"] or "{}")
        row["tags"] = json.loads(row["tags"] or "[]")
    return rows


def claim_run(store: Any, task_id: str, project: str, name: str, version: Optional[str],
              add_run_number: bool) -> tuple[int, str]:
    """Make ``task_id`` the next run of pipeline ``name``: run number = previous runs + 1 ("name #2"),
    version bumped from the highest one unless given. One write transaction, so runs started at
    the same time (threads or processes) never get the same number."""
    import json
    with store.write():
        runs = [r for r in pipeline_runs(store, project, name) if r["id"] != task_id]
        number = 1 + max((int(r["runtime"].get("run_number") or 0) for r in runs), default=0)
        if version is None:
            versions = [r["runtime"].get("version") for r in runs if version_key(r["runtime"].get("version") or "")]
            version = bump_version(max(versions, key=version_key)) if versions else DEFAULT_VERSION
        row = store.query_one("SELECT runtime, system_tags FROM tasks WHERE id=?", (task_id,))
        runtime = dict(json.loads(row["runtime"] or "{}"), pipeline_name=name, version=version, run_number=number)
        system_tags = list(dict.fromkeys([*json.loads(row["system_tags"] or "[]"), PIPELINE_TAG]))
        store.update_task(task_id, name=f"{name} #{number}" if add_run_number and number > 1 else name,
                          type="controller", project_id=store.project_id(project, create=True), runtime=runtime,
                          system_tags=system_tags)
    return number, version


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
    import json
    with store.write():
        row = store.query_one("SELECT runtime FROM tasks WHERE id=?", (task_id,))
        runtime = json.loads(row["runtime"] or "{}")
        current = runtime.get("version")
        version = current
        if auto_bump:
            runs = [r for r in pipeline_runs(store, project, name) if r["id"] != task_id]
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
        store.update_task(task_id, runtime=dict(runtime, version=version, **{HASH_KEY: fingerprint}))
    return version if version != current else None

"""Reading pipeline runs back from the store: the runs table and one run's DAG with statuses.

One reader serves ``pipetrack pipelines list/show`` and the web UI, so both show the same
thing. The DAG comes from the run's "Pipeline" configuration object, which the controller
rewrites at most every ``DAG_REFRESH_SECONDS`` while the run goes on (see ``run.py``), so a
reader polling it sees steps change colour live without talking to the controller process.
"""
from __future__ import annotations

import json
from typing import Any, Optional


from ..errors import NotFoundError
from ..tracking.states import duration_seconds
from .node import FINISHED_STATUSES, NODE_STATUSES
from .plot import dag_graph, layered_positions


def _decode_run(row: dict) -> dict:
    runtime = row.pop("runtime")
    row["pipeline_name"] = runtime.get("pipeline_name") or row["name"]
    row["run_number"] = runtime.get("run_number")
    row["version"] = runtime.get("version")
    row["duration"] = duration_seconds(row)
    return row


def list_runs(store: Any, project: Optional[str] = None, name: Optional[str] = None, limit: int = 100,
              offset: int = 0) -> tuple[int, list[dict]]:
    """(total, newest-first page) of pipeline runs, optionally of one project (sub-projects
    included) and one pipeline name."""
    project, name = project or None, name or None
    total = store.count_pipeline_runs(project, name, subprojects=True)
    rows = store.pipeline_runs(project, name, subprojects=True, limit=limit, offset=offset)
    return total, [_decode_run(r) for r in rows]


def load_run(store: Any, run_id: str) -> dict:
    """One pipeline run: its row plus ``nodes`` (name, status, task id, parents, layer/slot for
    drawing) and ``edges``; ``counts`` per status and ``done``/``total`` steps."""
    row = store.pipeline_run(run_id)
    if row is None:
        raise NotFoundError(f"no pipeline run with id {run_id!r}")
    if row.pop("type") != "controller":
        raise NotFoundError(f"task {run_id!r} is not a pipeline run (its type is not 'controller')")
    run = _decode_run(row)
    stored = store.task_config(run_id, "Pipeline")
    dag: dict = json.loads(stored) if stored else {}
    graph = dag_graph({name: node.get("parents") or [] for name, node in dag.items()})
    positions = layered_positions(graph)
    ended = run["status"] not in ("created", "queued", "in_progress")
    nodes = []
    for name, node in dag.items():
        x, y = positions.get(name, (0.0, 0.0))
        status = node.get("status") or "pending"
        if ended and status == "running":  # its controller died mid-run: the step can't still be running
            status = "aborted"
        nodes.append({"name": name, "status": status, "task_id": node.get("executed"),
                      "parents": [p for p in node.get("parents") or [] if p in dag], "layer": int(x), "slot": int(-y),
                      "started": node.get("job_started"), "ended": node.get("job_ended"), "error": node.get("error"),
                      "cache": bool(node.get("cache")), "queue": node.get("queue")})
    counts = {status: 0 for status in NODE_STATUSES}
    for node in nodes:
        counts[node["status"]] = counts.get(node["status"], 0) + 1
    run.update(nodes=nodes, edges=[[a, b] for a, b in graph.edges], counts=counts, total=len(nodes),
               done=sum(counts.get(s, 0) for s in FINISHED_STATUSES))
    return run

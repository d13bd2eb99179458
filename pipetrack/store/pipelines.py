"""Store operations pipelines need: runs, versions, the step cache."""
from __future__ import annotations

import json
from typing import Any, Callable, Optional

from .catalogue import ARCHIVED_TAG, project_clause

PIPELINE_TAG = "pipeline"  # the system tag of a pipeline run's controller task

# the fields of a pipeline run (a controller task) that run listings show
_RUN_COLUMNS = ("t.id, t.name, t.status, t.status_message, t.progress, t.created, t.started, t.completed, "
                "t.last_update, t.runtime, t.tags, p.name AS project_name")
_TASKS = "FROM tasks t JOIN projects p ON p.id=t.project_id"


def _decode_run_row(row: dict[str, Any]) -> dict[str, Any]:
    row["runtime"] = json.loads(row["runtime"] or "{}")
    row["tags"] = json.loads(row["tags"] or "[]")
    return row


class PipelineOperations:
    """Pipeline runs, versions and cache lookups (mixed into ``TaskStore``)."""

    def _pipeline_runs_filter(self, project: Optional[str], name: Optional[str],
                              subprojects: bool) -> tuple[str, list[Any]]:
        where = ["t.type='controller'", self.dialect.json_array_contains("t.system_tags")]
        params: list[Any] = [PIPELINE_TAG]
        if project is not None:
            if subprojects:
                clause, values = project_clause(project, self.dialect.like)
                where.append(clause)
                params += values
            else:
                where.append("p.name=?")
                params.append(project)
        if name is not None:
            where.append(f"{self.dialect.json_text('t.runtime', 'pipeline_name')}=?")
            params.append(name)
        return " AND ".join(where), params

    def pipeline_runs(self, project: Optional[str] = None, name: Optional[str] = None, subprojects: bool = False,
                      limit: Optional[int] = None, offset: int = 0) -> list[dict[str, Any]]:
        """Runs of pipelines (controller tasks with the pipeline tag), newest first, optionally of one
        project (with ``subprojects``, its sub-projects too) and one pipeline name; ``runtime`` and
        ``tags`` decoded."""
        where, params = self._pipeline_runs_filter(project, name, subprojects)
        sql = f"SELECT {_RUN_COLUMNS} {_TASKS} WHERE {where} ORDER BY t.created DESC"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [int(limit), int(offset)]
        return [_decode_run_row(row) for row in self.query(sql, params)]

    def count_pipeline_runs(self, project: Optional[str] = None, name: Optional[str] = None,
                            subprojects: bool = False) -> int:
        """How many runs :meth:`pipeline_runs` would list without a limit (for paging)."""
        where, params = self._pipeline_runs_filter(project, name, subprojects)
        return int(self.query_one(f"SELECT COUNT(*) AS n {_TASKS} WHERE {where}", params)["n"])

    def pipeline_run(self, run_id: str) -> Optional[dict[str, Any]]:
        """Task ``run_id`` as a :meth:`pipeline_runs` row plus its ``type`` (the caller checks it is a
        controller); None when there is no such task."""
        row = self.query_one(f"SELECT {_RUN_COLUMNS}, t.type {_TASKS} WHERE t.id=?", (run_id,))
        return _decode_run_row(row) if row else None

    def revise_pipeline_run(self, task_id: str, project: str, name: str,
                            revise: Callable[[dict[str, Any], list[dict[str, Any]]], dict[str, Any]]) -> None:
        """Set on run ``task_id`` the task fields ``revise(its task row, the other runs of pipeline
        ``name`` in ``project``)`` returns, in one transaction: runs started at the same time never
        decide their run numbers or versions from the same previous runs."""
        with self.write():
            run = self.task_row(task_id)
            others = [r for r in self.pipeline_runs(project, name) if r["id"] != task_id]
            self.update_task(task_id, **revise(run, others))

    def cached_step_tasks(self, cache_key: str) -> list[dict[str, Any]]:
        """Completed or published, non-archived tasks made with step cache key ``cache_key`` (id,
        completed), the most recently completed first: the candidates of a step cache hit."""
        return self.query(f"SELECT id, completed FROM tasks WHERE cache_key=? AND status IN ('completed', 'published') "
                          f"AND NOT {self.dialect.json_array_contains('system_tags')} ORDER BY completed DESC",
                          (cache_key, ARCHIVED_TAG))

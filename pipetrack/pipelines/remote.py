"""Putting a pipeline controller itself on a queue, for an agent to run.

The controller task is a script task (``Task.init`` recorded the script, its argv and working
dir). Enqueuing ends this process's session on it; an agent serving the queue re-runs the script
with ``PIPETRACK_TASK_ID`` set, so ``PipelineController``/``@pipeline`` attach to the enqueued
task (stored parameter values win) and run the steps from there, through their own queues or
executors. ``PipelineController.start(queue=...)`` then waits for that run when ``wait=True``
(ClearML leaves the process instead: here the script can go on with the finished pipeline);
calling a ``@pipeline`` function enqueues it and exits the process, as in ClearML.
"""
from __future__ import annotations

import sys
from typing import Any, Callable, Optional



def _hand_over(task: Any, queue: str, repo: Optional[tuple] = None) -> None:
    """End this process's session on ``task`` (its recorded code, parameters and DAG stay) and
    enqueue it as a Draft script task; ``repo`` = (repo, repo_branch, repo_commit) of the
    controller: the agent runs it in a checkout of that repository, from its root."""
    from ..tracking.session import back_to_draft
    from ..tracking.task import Task
    back_to_draft(task, f"enqueued on {queue!r}")
    if repo and repo[0]:
        _attach_repository(task, *repo)
    Task.enqueue(task.id, queue_name=queue)


def _attach_repository(task: Any, repo: str, branch: Optional[str], commit: Optional[str]) -> None:
    """The controller's ``repo=``: its script section names that repository (a local checkout is
    converted into its remote and commit); the entry point is relative to the repository root."""
    from pathlib import Path
    from ..tracking.environment import entry_script, repository_source
    source = repository_source(repo, branch, commit)
    root = source.pop("repository_root", None)
    script = dict(task.data.get("script") or {}, **source, working_dir=".")
    path = entry_script()
    if root and path and Path(path).is_relative_to(root):
        script["entry_point"] = str(Path(path).relative_to(root))
    if "diff" not in source and script.get("repository") != (task.data.get("script") or {}).get("repository"):
        script["diff"] = ""  # the captured diff belongs to another checkout
    task._store.update_task(task.id, script=script)


def enqueue_task(task: Any, queue: str, repo: Optional[tuple] = None, wait: bool = True) -> bool:
    """``PipelineController.start(queue=...)``: enqueue the controller's task (its definition already
    stored on it); optionally wait for the agent's run to end."""
    from ..tracking.task import Task
    _hand_over(task, queue, repo)
    print(f"pipetrack: pipeline '{task.name}' ({task.id}) enqueued on {queue!r}; an agent serving "
          f"that queue runs it (pipetrack agent --queue {queue})" + ("; waiting for it to finish" if wait else ""),
          flush=True)
    if wait:
        Task.get_task(task_id=task.id).wait_for_status(status=("completed", "failed", "stopped", "published"),
                                                       raise_on_status=(), check_interval_sec=0.5)
    return True


def enqueue_decorated_pipeline(func: Callable, options: dict, arguments: dict, queue: str) -> None:
    """A ``@pipeline`` call outside an agent with a pipeline_execution_queue: enqueue and leave (as ClearML)."""
    from .handle import PipelineHandle
    pipeline = PipelineHandle(**options)
    for arg, value in arguments.items():  # "section/arg" keys (args_map) are kept as given
        pipeline.task._write_params({arg if "/" in arg else f"Args/{arg}": value}, check=False)
    _hand_over(pipeline.task, queue, pipeline._repo)
    print(f"pipetrack: pipeline '{pipeline.task.name}' ({pipeline.id}) enqueued on {queue!r}; an agent "
          f"serving that queue runs it (pipetrack agent --queue {queue})", flush=True)
    sys.exit(0)

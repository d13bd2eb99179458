"""A pipeline step as the scheduler sees it (ClearML's ``PipelineController.Node``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

from ..errors import ValidationError

# terminal node statuses; "cached" and "skipped" count as finished for the DAG
NODE_STATUSES = ("pending", "running", "completed", "cached", "failed", "skipped", "aborted")
FINISHED_STATUSES = ("completed", "cached", "failed", "skipped", "aborted")
SUCCESS_STATUSES = ("completed", "cached")
CONTINUE_KEYS = ("continue_on_fail", "continue_on_abort", "skip_children_on_fail", "skip_children_on_abort")


def normalise_continue_behaviour(continue_on_fail: bool = False,
                                 continue_behaviour: Optional[dict] = None) -> dict[str, bool]:
    """ClearML's rules: an explicit dict defaults missing keys to True; else derive from continue_on_fail."""
    if continue_behaviour is None:
        return {"continue_on_fail": bool(continue_on_fail), "continue_on_abort": False,
                "skip_children_on_fail": True, "skip_children_on_abort": True}
    if not isinstance(continue_behaviour, dict):
        raise ValidationError(f"continue_behaviour must be a dict with keys {CONTINUE_KEYS}, got {continue_behaviour!r}")
    unknown = set(continue_behaviour) - set(CONTINUE_KEYS)
    if unknown:
        raise ValidationError(f"unknown continue_behaviour key(s) {sorted(unknown)}; accepted: {list(CONTINUE_KEYS)}")
    return {key: bool(continue_behaviour.get(key, True)) for key in CONTINUE_KEYS}


class Job:
    """The execution handle of a node (``node.job``): its task and whether it came from the cache."""

    def __init__(self, task: Any, cached: bool = False):
        self.task = task
        self.cached = cached

    def task_id(self) -> str:
        return self.task.id

    def is_cached_task(self) -> bool:
        return self.cached

    def __repr__(self) -> str:
        return f"<Job task={self.task.id} cached={self.cached}>"


@dataclass(eq=False)
class Node:
    """One step: what to run (a function or a base task), how, and its run state."""

    name: str
    function: Optional[Callable] = None
    function_kwargs: dict = field(default_factory=dict)
    return_names: list = field(default_factory=list)
    base_task_id: Optional[str] = None
    base_task_factory: Optional[Callable] = None
    parameters: dict = field(default_factory=dict)            # parameter_override (task steps)
    configurations: dict = field(default_factory=dict)        # configuration_overrides
    task_overrides: dict = field(default_factory=dict)
    clone_task: bool = True
    parents: list = field(default_factory=list)
    queue: Optional[str] = None
    timeout: Optional[float] = None                           # time_limit, seconds
    cache_executed_step: bool = False
    pre_execute_callback: Optional[Callable] = None
    post_execute_callback: Optional[Callable] = None
    status_change_callback: Optional[Callable] = None
    monitor_metrics: list = field(default_factory=list)
    monitor_artifacts: list = field(default_factory=list)
    monitor_models: list = field(default_factory=list)
    continue_behaviour: dict = field(default_factory=normalise_continue_behaviour)
    retry_on_failure: Any = None
    task_type: Optional[str] = None
    task_name: Optional[str] = None
    project_name: Optional[str] = None
    packages: Any = None
    repo: Optional[str] = None                # where an agent checks the step's code out from (repo_branch/commit)
    repo_branch: Optional[str] = None
    repo_commit: Optional[str] = None
    docker: Optional[str] = None
    docker_args: Optional[str] = None
    docker_bash_setup_script: Optional[str] = None
    helper_functions: Sequence[Callable] = ()
    tags: list = field(default_factory=list)
    output_uri: Optional[str] = None
    draft: bool = False
    working_dir: Optional[str] = None
    explicit_parents: list = field(default_factory=list)
    # ---- run state
    status: str = "pending"
    job: Optional[Job] = None
    executed: Optional[str] = None      # task id that produced the outputs (new or cached)
    skip_job: bool = False
    retries: int = 0
    job_started: Optional[float] = None
    job_ended: Optional[float] = None
    error: str = ""
    exception: Optional[BaseException] = None
    outputs: dict = field(default_factory=dict)  # return name -> ArtifactInput
    resolved_kwargs: dict = field(default_factory=dict)
    cache_key: Optional[str] = None

    @property
    def continue_on_fail(self) -> bool:
        return self.continue_behaviour["continue_on_fail"]

    @property
    def time_limit(self) -> Optional[float]:
        return self.timeout

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    def __repr__(self) -> str:
        return f"<Node {self.name!r} status={self.status} task={self.executed}>"

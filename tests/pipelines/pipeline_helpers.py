"""Helpers of the pipeline tests: pipelines run as user scripts in real subprocesses, with file markers proving what ran.

A test writes a script body; :data:`PRELUDE` is put in front of it. Inside the script:

- ``MODE`` is the run mode given on the command line: ``inline`` (debug), ``local``
  (one subprocess per step) or ``dask`` (a Dask LocalCluster through the ``default`` queue);
- ``mark(step, phase)`` appends ``step phase pid time`` to the markers file; steps call
  ``mark(name, "start")`` / ``mark(name, "end")`` so the test sees what ran, in which
  process and when (a cached step writes nothing);
- ``use_mode()`` puts PipelineDecorator in ``MODE``; ``start(pipe)`` starts a controller in it;
- ``report(**values)`` prints one ``RESULT {json}`` line the test reads back.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

PRELUDE = '''\
import os, sys, time, json
from pipetrack import PipelineController, PipelineDecorator, Task

MODE = sys.argv[1] if len(sys.argv) > 1 else "inline"


def mark(step, phase="run"):
    import os, time
    with open(os.environ["PT_MARKERS"], "a") as fh:
        fh.write(f"{step} {phase} {os.getpid()} {time.time():.6f}\\n")


def use_mode(mode=None):
    mode = mode or MODE
    if mode == "inline":
        PipelineDecorator.debug_pipeline()
    elif mode == "local":
        PipelineDecorator.run_locally()
    else:  # dask: steps go to the 'default' queue, which PIPETRACK_QUEUES maps to a LocalCluster
        PipelineDecorator.set_default_execution_queue("default")


def start(pipe, **kwargs):
    return pipe.start_locally(executor=MODE, **kwargs)


def report(**values):
    print("RESULT " + json.dumps(values, default=str), flush=True)

'''

MODES = ["inline", "local", pytest.param("dask", marks=pytest.mark.dask)]


@dataclass
class Marker:
    step: str
    phase: str
    pid: int
    time: float


@dataclass
class ScriptRun:
    """What a pipeline script did: its output, its RESULT values and its markers."""

    stdout: str
    stderr: str
    returncode: int
    results: dict = field(default_factory=dict)
    markers: list = field(default_factory=list)

    def count(self, step: str, phase: str = "start") -> int:
        return sum(1 for m in self.markers if m.step == step and m.phase == phase)

    def ran(self, phase: str = "start") -> list[str]:
        """Steps that wrote ``phase``, in marker order."""
        return [m.step for m in self.markers if m.phase == phase]

    def time_of(self, step: str, phase: str) -> float:
        return [m.time for m in self.markers if m.step == step and m.phase == phase][-1]

    def interval(self, step: str) -> tuple[float, float]:
        return self.time_of(step, "start"), self.time_of(step, "end")

    def pids(self, phase: str = "start") -> set[int]:
        return {m.pid for m in self.markers if m.phase == phase}

    def overlap(self, a: str, b: str) -> bool:
        (a0, a1), (b0, b1) = self.interval(a), self.interval(b)
        return a0 < b1 and b0 < a1


def read_markers(path: Path) -> list[Marker]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        step, phase, pid, when = line.split()
        out.append(Marker(step, phase, int(pid), float(when)))
    return out


def pipeline_runs(project: str) -> list:
    """Pipeline (controller) tasks of ``project``, oldest first."""
    from pipetrack import Task
    tasks = Task.get_tasks(project_name=project, task_filter={"type": ["controller"]})
    return sorted(tasks, key=lambda t: t.data["created"])


def steps_of(pipeline_task) -> dict:
    """Step tasks of a pipeline run by name (the latest attempt wins)."""
    from pipetrack import Task
    tasks = Task.get_tasks(task_filter={"parent": pipeline_task.id})
    return {t.name: t for t in sorted(tasks, key=lambda t: t.data["created"])}


def dag_of(pipeline_task) -> dict:
    """The stored DAG (``Pipeline`` configuration) of a run: step -> {status, executed, ...}."""
    return pipeline_task.get_configuration_object_as_dict("Pipeline") or {}

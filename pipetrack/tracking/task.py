"""The ``Task``: one tracked execution (an experiment, a pipeline step or a controller).

A ``Task`` object is a handle on one row of the store plus its records. Reads of fields that
other processes may change (status, progress) go to the store; the rest is served from a row
cached at load time and refreshed by :meth:`Task.reload`.

Who may edit what (ClearML's rule): the process running a task (its *owner*: the one that
called ``Task.init`` or was handed the task by an agent/executor) edits it freely while it
runs; any other process may only edit Draft (``created``) tasks. Published tasks are
read-only for everybody. Tags, comments, archive flag and user properties are metadata and
may be changed on any non-published task, as in ClearML.

The lookup, queue, parameter, artifact, model/reporting and metadata-editing methods live in
mixins next to this module (``task_lookup.py``, ``task_queue.py``, ``task_params.py``,
``task_artifacts.py``, ``task_outputs.py``, ``task_metadata.py``) so that each file stays one
concern.
"""
from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any, Callable, ClassVar, Iterable, Mapping, Optional, Sequence

from .. import config
from ..errors import NotFoundError, StateError, StoreError, TaskClosedError, ValidationError
from . import capture as _capture  # noqa: F401  (patches argparse now, so parse_args before Task.init is seen)
from . import heartbeat
from . import query as _query
from .records import export_config, import_config
from .reporting import buffer_for, flush_all
from .states import (FINISHED, TaskStatusEnum, TaskTypes, check_transition, normalise_status,
                     normalise_task_type)
from ..store import TASK_JSON_COLUMNS, TaskStore, default_store, new_id
from .task_artifacts import MAX_ARTIFACT_NAME_BYTES, ArtifactsMixin
from .task_extras import ExtrasMixin
from .task_lookup import TASK_ID_ENV, LookupMixin
from .task_metadata import (MetadataMixin, check_name as _check_name, check_storable_data as _check_storable_data,
                            check_tags as _check_tags, resolve_task_id as _resolve_task_id, storable as _storable)
from .task_outputs import OutputsMixin
from .task_params import ParametersMixin
from .task_queue import QueueMixin

_PRIVATE = object()


class _TaskMeta(type):
    """Makes ``Task._current_task_override`` (the step task ``Task.current_task()`` returns inside
    a pipeline step) a per-thread value: steps running at once in threads of one Dask worker
    each see their own task. A thread without its own value (a thread the step started
    itself) sees the step task when exactly one step runs in the process."""

    _overrides: dict[int, Any] = {}

    @property
    def _current_task_override(cls) -> Optional["Task"]:
        overrides = _TaskMeta._overrides
        task = overrides.get(threading.get_ident())
        if task is None and len(overrides) == 1:
            task = next(iter(overrides.values()))
        return task

    @property
    def _own_task_override(cls) -> Optional["Task"]:
        """This thread's own override (no fallback): what a step must restore when it ends."""
        return _TaskMeta._overrides.get(threading.get_ident())

    @_current_task_override.setter
    def _current_task_override(cls, task: Optional["Task"]) -> None:
        if task is None:
            _TaskMeta._overrides.pop(threading.get_ident(), None)
        else:
            _TaskMeta._overrides[threading.get_ident()] = task


class Task(LookupMixin, QueueMixin, ParametersMixin, ArtifactsMixin, OutputsMixin, MetadataMixin, ExtrasMixin,
           metaclass=_TaskMeta):
    """A tracked execution. Use :meth:`Task.init`, :meth:`Task.create` or :meth:`Task.get_task`."""

    TaskTypes = TaskTypes
    TaskStatusEnum = TaskStatusEnum

    _main_task: ClassVar[Optional["Task"]] = None
    _offline_mode: ClassVar[bool] = False
    _random_seed: ClassVar[Optional[int]] = 1337  # seeding.DEFAULT_RANDOM_SEED; set_random_seed changes it

    def __init__(self, private: Any = None, *, store: TaskStore | None = None, task_id: str | None = None,
                 row: dict | None = None, owner: bool = False):
        if private is not _PRIVATE:
            raise StateError("Task() is not for users: use Task.init(), Task.create() or Task.get_task()")
        self._store = store or default_store()
        self._id = task_id
        self._row = row if row is not None else self._load_row()
        self._owner = owner
        self._closed = False
        self._logger = None
        self._reports = buffer_for(self._store)
        self._init_outputs()

    # ---------------------------------------------------------------- loading
    def _load_row(self) -> dict:
        row = self._store.task_row(self._id)
        if row is None:
            raise NotFoundError(f"no task with id {self._id!r} in store {self._store}")
        return row

    def reload(self) -> None:
        """Re-read the task's fields from the store."""
        self._row = self._load_row()

    @classmethod
    def _from_row(cls, store: TaskStore, row: dict, owner: bool = False) -> "Task":
        return cls(_PRIVATE, store=store, task_id=row["id"], row=row, owner=owner)

    @property
    def data(self) -> dict:
        """The task's stored fields (a fresh read)."""
        self.reload()
        return dict(self._row)

    # ---------------------------------------------------------------- identity
    @property
    def id(self) -> str:
        return self._id

    @property
    def task_id(self) -> str:
        return self._id

    @property
    def name(self) -> str:
        return self._row["name"]

    @name.setter
    def name(self, value: str) -> None:
        self.set_name(value)

    @property
    def comment(self) -> str:
        return self._row.get("comment") or ""

    @comment.setter
    def comment(self, value: str) -> None:
        self.set_comment(value)

    @property
    def task_type(self) -> str:
        return self._row["type"]

    @property
    def project(self) -> str:
        """The project id."""
        return self._row["project_id"]

    @property
    def parent(self) -> Optional[str]:
        return self._row.get("parent")

    @property
    def status(self) -> str:
        return self.get_status()

    @property
    def output_uri(self) -> str:
        return self._row.get("output_uri") or config.default_output_uri()

    @output_uri.setter
    def output_uri(self, value: str) -> None:
        self._set_fields(output_uri=_normalise_output_uri(value))

    @property
    def last_worker(self) -> Optional[str]:
        return self.data.get("last_worker")

    @property
    def cache_dir(self):
        return config.cache_dir()

    def __repr__(self) -> str:
        return f"<Task id={self._id} name={self.name!r} status={self._row.get('status')}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Task) and other._id == self._id

    def __hash__(self) -> int:
        return hash(self._id)

    def get_project_name(self) -> str:
        return self._store.project_name(self._row["project_id"]) or ""

    # ---------------------------------------------------------------- edit guards
    def _check_open(self, what: str) -> None:
        """A closed Task object can't change its task anymore (use Task.get_task for a new one)."""
        if self._closed:
            raise TaskClosedError(f"cannot change {what} of task {self._id}: this Task object was closed; "
                                  "use Task.get_task(task_id=...) to get an object for it")

    def _check_editable(self, what: str, metadata: bool = False) -> None:
        if not metadata:
            self._check_open(what)
        state = self._store.task_state(self._id)
        if state is None:
            raise NotFoundError(f"task {self._id} was deleted")
        status = state["status"]
        if status == "published":
            raise StateError(f"cannot change {what} of task {self._id}: it is published (read-only)")
        if not metadata and not self._owner and status != "created":
            raise StateError(f"cannot change {what} of task {self._id}: it is {status!r}; only Draft "
                             "('created') tasks can be edited by a process that is not running them "
                             "(clone or reset it first)")

    def _set_fields(self, what: str | None = None, metadata: bool = False, **fields: Any) -> None:
        for column, value in fields.items():  # JSON columns (user properties, script, ...): see check_storable_data
            if column in TASK_JSON_COLUMNS and value is not None and not isinstance(value, str):
                _check_storable_data(f"task {column}", value)
        self._check_editable(what or ", ".join(fields), metadata=metadata)
        # the guard's verdict holds at write time too: a non-owner writes only while still a Draft
        allowed = None if metadata or self._owner else ("created",)
        if not self._store.update_task(self._id, where_status=allowed, **fields):
            raise StateError(f"cannot change {what or ', '.join(fields)} of task {self._id}: it stopped being a "
                             "Draft meanwhile")
        self._row.update(fields)

    # ---------------------------------------------------------------- creation
    @classmethod
    def init(cls, project_name: Optional[str] = None, task_name: Optional[str] = None,
             task_type: Any = TaskTypes.training, tags: Optional[Sequence[str]] = None,
             reuse_last_task_id: bool | str = True, continue_last_task: bool | str | int = False,
             output_uri: Optional[str | bool] = None, auto_connect_arg_parser: bool | Mapping = True,
             auto_connect_frameworks: bool | Mapping = True, auto_resource_monitoring: bool | type = True,
             auto_connect_streams: bool | Mapping = True, deferred_init: bool = False) -> "Task":
        """Create (or reuse) the main task of this process and start tracking it."""
        from . import session
        if cls._main_task is not None and not cls._main_task._closed:
            return cls._main_task
        task_type = normalise_task_type(task_type)
        project_name = _check_name("project_name", project_name)
        task_name = _check_name("task_name", task_name)
        _check_tags(tags)
        if output_uri is not None and not isinstance(output_uri, (str, bool)):
            raise ValidationError(f"output_uri must be a URL string or a bool, got {output_uri!r}")
        store = session.store_for_init(cls._offline_mode)
        task = None
        attach_id = os.environ.get(TASK_ID_ENV)
        master_id = None if cls._offline_mode else session.master_task_id()
        if master_id and (not attach_id or attach_id == master_id):  # a child of a tracked process
            task = cls._attach_child(store, master_id, project_name, task_name, reuse_last_task_id,
                                     continue_last_task, remote=bool(attach_id))
            if task is not None:
                cls._main_task = task
                session.start_session(task, auto_connect_streams=auto_connect_streams,
                                      auto_connect_frameworks=auto_connect_frameworks, child=True)
                if cls._random_seed is not None:
                    from .seeding import seed_everything
                    seed_everything(cls._random_seed)
                return task
            attach_id = None  # it asked for a task of its own: the parent's is not handed to it
        if attach_id and not cls._offline_mode:
            task = cls._attach_remote(store, attach_id)
        if task is None:
            if cls._offline_mode and output_uri is None:
                from .offline import offline_output_uri
                output_uri = offline_output_uri(store)
            defaults = session.default_names()
            project_name = project_name or defaults[0]
            task_name = task_name or defaults[1]
            task = cls._create_or_reuse(store, project_name, task_name, task_type, tags, reuse_last_task_id,
                                        continue_last_task, output_uri)
            task._announce()
        cls._main_task = task
        session.start_session(task, auto_connect_arg_parser=auto_connect_arg_parser,
                              auto_connect_streams=auto_connect_streams,
                              auto_resource_monitoring=auto_resource_monitoring,
                              auto_connect_frameworks=auto_connect_frameworks)
        if cls._random_seed is not None:
            from .seeding import seed_everything
            seed_everything(cls._random_seed)
        return task

    def _announce(self) -> None:
        """ClearML's "created new task id=... / results page" line, as one line on the terminal."""
        from .. import config
        from ..terminal import notice
        where = ("offline session " + str(self._store.home) if self._offline_mode
                 else f"{config.ui_url()}/#/task/{self._id}")
        notice(f"task '{self.name}' in project '{self.get_project_name()}', id {self._id}: {where}")

    @classmethod
    def set_random_seed(cls, random_seed: Optional[int | bool]) -> None:
        """The seed ``Task.init`` gives ``random`` (and numpy/torch/tensorflow when imported):
        None/False disables seeding, True restores the default (1337), an int sets it."""
        from .seeding import normalise_seed
        cls._random_seed = normalise_seed(random_seed)

    @classmethod
    def _attach_child(cls, store: TaskStore, task_id: str, project_name: Optional[str], task_name: Optional[str],
                      reuse_last_task_id: Any, continue_last_task: Any, remote: bool) -> Optional["Task"]:
        """In a child process of a tracked script: the parent's task (its reports land there), or
        None when this ``Task.init`` asks for another task or the parent's task is gone."""
        from .session import wants_own_task
        row = store.task_row(task_id)
        if row is None:
            return None
        master = dict(row, project_name=store.project_name(row["project_id"]))
        if wants_own_task(master, project_name, task_name, reuse_last_task_id, continue_last_task):
            return None
        task = cls._from_row(store, row, owner=True)
        task._remote = remote  # an agent's run: connect() reads the stored values, as in the parent
        return task

    @classmethod
    def _attach_remote(cls, store: TaskStore, task_id: str) -> "Task":
        """Inside an agent/executor subprocess: run the task we were handed instead of a new one."""
        row = store.task_row(task_id)
        if row is None:
            raise NotFoundError(f"{TASK_ID_ENV}={task_id!r} names no task in store {store}")
        task = cls._from_row(store, row, owner=True)
        task._remote = True
        if row["status"] != "in_progress":
            task.mark_started(force=True)
        return task

    @classmethod
    def _create_or_reuse(cls, store: TaskStore, project_name: str, task_name: str, task_type: str,
                         tags: Optional[Sequence[str]], reuse_last_task_id: bool | str,
                         continue_last_task: bool | str | int, output_uri: Any) -> "Task":
        reuse_id: Optional[str] = None
        if isinstance(continue_last_task, str):
            reuse_id, continue_last_task = continue_last_task, True
        elif isinstance(reuse_last_task_id, str):
            reuse_id = reuse_last_task_id
        initial_iteration = None
        if isinstance(continue_last_task, int) and not isinstance(continue_last_task, bool):
            initial_iteration, continue_last_task = continue_last_task, True
        candidate = None
        if reuse_id:
            candidate = store.task_row(reuse_id)
            if candidate is None:
                raise NotFoundError(f"reuse_last_task_id/continue_last_task names unknown task {reuse_id!r}")
        elif reuse_last_task_id or continue_last_task:
            candidate = _reusable_task(store, project_name, task_name, task_type, continue_last_task)
        now = time.time()
        running = dict(status="in_progress", started=now, completed=None, host=socket.gethostname(),
                       pid=os.getpid(), heartbeat=now, status_message="", status_reason="")
        if output_uri is not None:
            running["output_uri"] = _normalise_output_uri(output_uri)
        claimed = False
        if candidate is not None:
            if candidate["status"] == "published":
                raise StateError(f"cannot continue task {candidate['id']}: it is published (read-only)")
            reuse = dict(running)
            if continue_last_task:
                if initial_iteration is None:
                    last = store.max_scalar_iteration(candidate["id"])
                    initial_iteration = 0 if last is None else int(last) + 1
                reuse["initial_iteration"] = initial_iteration
            else:
                reuse.update(last_iteration=0, initial_iteration=0, progress=0,
                             tags=list(tags or candidate["tags"]), type=task_type)
            # claim it with a compare-and-swap: two copies of a script started together must not
            # both reuse the same task (the loser starts a new one)
            claimed = store.claim_task_for_run(candidate["id"], None if reuse_id else [candidate["status"]],
                                               fresh=not continue_last_task, **reuse)
        if claimed:
            return cls._from_row(store, store.task_row(candidate["id"]), owner=True)
        task_id = _insert_task(store, project_name, task_name, task_type, tags=tags, created_by="init",
                               **running)
        return cls._from_row(store, store.task_row(task_id), owner=True)

    @classmethod
    def create(cls, project_name: Optional[str] = None, task_name: Optional[str] = None,
               task_type: Any = None, repo: Optional[str] = None, branch: Optional[str] = None,
               commit: Optional[str] = None, script: Optional[str] = None,
               working_directory: Optional[str] = None, packages: bool | Sequence[str] | None = None,
               requirements_file: Optional[str] = None, docker: Optional[str] = None,
               docker_args: Optional[str] = None, docker_bash_setup_script: Optional[str] = None,
               argparse_args: Optional[Sequence[tuple[str, str]]] = None, base_task_id: Optional[str] = None,
               add_task_init_call: bool = True, force_single_script_file: bool = False,
               binary: Optional[str] = None, module: Optional[str] = None, detect_repository: bool = True,
               output_uri: Optional[str] = None, parent: Optional[str] = None, tags=None,
               comment: Optional[str] = None) -> "Task":
        """Create a new Draft task (no auto-logging), e.g. a script task for an agent to run."""
        task_type = normalise_task_type(task_type or TaskTypes.training)
        project_name = _check_name("project_name", project_name)
        task_name = _check_name("task_name", task_name)
        _check_tags(tags)
        if comment is not None:
            comment = _storable("comment", str(comment))
        if cls._offline_mode:
            raise StateError("Task.set_offline(True) is supported only for Task.init, not Task.create; "
                             "call Task.set_offline(False) first")
        store = default_store()
        if base_task_id:
            base = cls.get_task(task_id=base_task_id)
            task = cls.clone(base, name=task_name, project=store.project_id(project_name, create=True)
                             if project_name else None)
        else:
            from .environment import script_info_for_create
            script_info = script_info_for_create(repo=repo, branch=branch, commit=commit, script=script,
                                                 working_directory=working_directory, packages=packages,
                                                 requirements_file=requirements_file, binary=binary,
                                                 module=module, detect_repository=detect_repository)
            task_id = _insert_task(store, project_name or "default", task_name or
                                   os.path.splitext(os.path.basename(script or module or "task"))[0],
                                   task_type, status="created", tags=tags, created_by="create",
                                   script=script_info, parent=parent, comment=comment or "",
                                   output_uri=_normalise_output_uri(output_uri) if output_uri else None)
            task = cls._from_row(store, store.task_row(task_id))
        if docker or docker_args or docker_bash_setup_script:
            task.set_base_docker(docker_image=docker, docker_arguments=docker_args,
                                 docker_setup_bash_script=docker_bash_setup_script)
        if argparse_args:
            try:
                task.set_parameters({f"Args/{k.lstrip('-')}": v for k, v in argparse_args})
            except (TypeError, ValueError):
                raise ValidationError(f"argparse_args must be a list of (name, value) pairs, got "
                                      f"{argparse_args!r}") from None
        return task

    @classmethod
    def _main_store(cls) -> TaskStore:
        return cls._main_task._store if cls._main_task is not None else default_store()

    # ---------------------------------------------------------------- status
    def get_status(self) -> str:
        state = self._store.task_state(self._id)
        if state is None:
            raise NotFoundError(f"task {self._id} was deleted")
        self._row["status"] = state["status"]
        return state["status"]

    def get_status_message(self) -> tuple[Optional[str], Optional[str]]:
        """``(status, message)``: the task's status and the message of its last status change,
        read without refreshing the whole Task (the seed's signature)."""
        state = self._store.task_state(self._id)
        if state is None:
            return None, None
        return state["status"], state["status_message"] or ""

    def _transition(self, target: str, force: bool = False, ignore_errors: bool = False, **fields: Any) -> bool:
        """Move to ``target`` atomically (checked against the current status inside one transaction).

        Finishing a task this process runs also ends its heartbeat first, so this process's own
        status change is never mistaken for an abort by another process.
        """
        flush_all()
        beat = heartbeat.unregister(self._id) if target in FINISHED else None

        def allowed(current: str) -> bool:
            try:
                check_transition(self._id, current, target, force=force)
            except StateError:
                if ignore_errors and target != "published":
                    return False
                raise
            return True

        fields["last_update"] = time.time()
        done = False
        try:
            moved = self._store.transition_task(self._id, target, allowed, **fields)
            if moved is None:
                raise NotFoundError(f"task {self._id} was deleted")
            done = moved
        finally:
            if not done:
                heartbeat.restore(self._id, beat)
        if not done:
            return False
        self._row.update(fields, status=target)
        return True

    def mark_started(self, force: bool = False) -> None:
        """Running, by this process: its host/pid and a heartbeat let the watchdog judge it."""
        now = time.time()
        self._transition("in_progress", force=force, started=now, heartbeat=now, host=socket.gethostname(),
                         pid=os.getpid(), completed=None)
        heartbeat.register(self._store, self._id)

    def started(self, ignore_errors: bool = True, force: bool = False) -> None:
        now = time.time()
        if self._transition("in_progress", force=force, ignore_errors=ignore_errors, started=now, heartbeat=now,
                            host=socket.gethostname(), pid=os.getpid()):
            heartbeat.register(self._store, self._id)

    def mark_completed(self, ignore_errors: bool = True, status_message: Optional[str] = None,
                       force: bool = False) -> None:
        row = self._store.task_state(self._id)
        if row is None:
            raise NotFoundError(f"task {self._id} was deleted")
        done = self._transition("completed", force=force, ignore_errors=ignore_errors, completed=time.time(),
                                status_message=status_message or "", progress=100.0)
        if done and row["publish_on_completion"]:
            self.publish()

    def completed(self, ignore_errors: bool = True) -> None:
        self.mark_completed(ignore_errors=ignore_errors)

    def mark_failed(self, ignore_errors: bool = True, status_reason: Optional[str] = None,
                    status_message: Optional[str] = None, force: bool = False) -> None:
        self._transition("failed", force=force, ignore_errors=ignore_errors, completed=time.time(),
                         status_reason=status_reason or "", status_message=status_message or "")

    def mark_stopped(self, force: bool = False, status_message: Optional[str] = None) -> None:
        self._transition("stopped", force=force, completed=time.time(), status_message=status_message or "")

    def stopped(self, ignore_errors: bool = True, force: bool = False, status_reason: Optional[str] = None,
                status_message: Optional[str] = None) -> None:
        self._transition("stopped", force=force, ignore_errors=ignore_errors, completed=time.time(),
                         status_reason=status_reason or "", status_message=status_message or "")

    def publish(self, ignore_errors: bool = True) -> None:
        """Make the task read-only (from completed/stopped); an illegal publish always raises."""
        self._transition("published", ignore_errors=ignore_errors)

    def publish_on_completion(self, enable: bool = True) -> None:
        self._store.update_task(self._id, publish_on_completion=int(bool(enable)))

    def reset(self, set_started_on_success: bool = False, force: bool = False) -> None:
        """Back to Draft: delete outputs (console, scalars, plots, artifacts, output models)."""
        status = self.get_status()
        if status == "published":
            raise StateError(f"cannot reset task {self._id}: it is published (read-only); clone it instead")
        if status in ("in_progress",) and not force:
            raise StateError(f"cannot reset task {self._id} while it is running; stop it first or pass force=True")
        files = self._artifact_files()
        # only from the status we checked: an agent claiming the task meanwhile keeps it; files go
        # after the reset, so no row ever points at a deleted file
        if not self._store.reset_task(self._id, from_status=status):
            raise StateError(f"cannot reset task {self._id}: its status changed from {status!r} meanwhile")
        self._delete_artifact_files(targets=files)
        self.reload()
        if set_started_on_success:
            self.mark_started()

    def close(self) -> None:
        """Flush everything and stop tracking; the main task is marked completed if still running.

        If the store can't take the task's reports (disk full, damaged file), tracking still stops,
        a task this process runs is marked failed with the store's error as the reason (if the
        store takes that small write) and the :class:`StoreError` is raised: its reports were
        not all stored."""
        if self._closed:
            return
        from . import session
        failure: Optional[StoreError] = None
        try:
            self.flush(wait_for_uploads=True)
        except StoreError as exc:
            failure = exc
            if self._owner:
                try:
                    self.mark_failed(status_reason=str(exc), status_message=f"closing the task failed: {exc}")
                except StoreError:
                    pass
        try:
            if self.is_main_task():
                session.end_session(self)
        finally:
            if self.is_main_task():
                Task._main_task = None
            self._closed = True
        if failure is not None:
            raise failure

    def wait_for_status(self, status: Iterable = ("completed", "stopped", "closed"),
                        raise_on_status: Optional[Iterable] = ("failed",), check_interval_sec: float = 60.0) -> None:
        """Block until the task reaches one of ``status``; RuntimeError on ``raise_on_status``."""
        wanted = {normalise_status(s) for s in status}
        failing = {normalise_status(s) for s in (raise_on_status or ())}
        while True:
            current = self.get_status()
            if current in failing:
                raise RuntimeError(f"task {self._id} reached status {current!r}: {self.get_status_message()[1]}")
            if current in wanted:
                self.reload()
                return
            time.sleep(min(check_interval_sec, 0.2) if check_interval_sec > 0 else 0.05)

    def set_progress(self, progress: int | float) -> None:
        if not isinstance(progress, (int, float)) or isinstance(progress, bool) or not 0 <= progress <= 100:
            raise ValidationError(f"progress must be a number from 0 to 100, got {progress!r}")
        self._store.update_task(self._id, progress=float(progress))

    def get_progress(self) -> Optional[int]:
        state = self._store.task_state(self._id)
        return None if state is None or state["progress"] is None else int(state["progress"])

    # ---------------------------------------------------------------- copy / export
    @classmethod
    def clone(cls, source_task: Any = None, name: Optional[str] = None, comment: Optional[str] = None,
              parent: Optional[str] = None, project: Optional[str] = None) -> "Task":
        """A Draft copy with parameters, configuration, script and tags; no outputs."""
        name = _check_name("name", name)  # checked before anything is written (the UI passes user text)
        if comment is not None:
            comment = _storable("comment", str(comment))
        source = source_task if isinstance(source_task, Task) else cls.get_task(task_id=_resolve_task_id(
            source_task if source_task is not None else getattr(cls.current_task(), "id", None)))
        store = source._store
        if project is not None and store.project_name(project) is None:
            raise NotFoundError(f"no project with id {project!r}")
        src = source.data
        new = new_id()
        row = {k: src[k] for k in ("type", "tags", "script", "runtime", "labels", "container", "output_uri")}
        row.update(id=new, project_id=project or src["project_id"], name=name or f"{src['name']} (Clone)",
                   comment=comment if comment is not None else f"Auto-generated, cloned from {src['id']}",
                   parent=parent or src.get("parent") or src["id"], status="created", created=time.time(),
                   last_update=time.time(), system_tags=[t for t in src["system_tags"] if t != "archived"])
        store.clone_task(src["id"], row)
        return cls._from_row(store, store.task_row(new))

    def export_task(self) -> dict:
        """The task's configuration (no outputs) as a JSON-able dict; see :meth:`import_task`."""
        return export_config(self._store, self._id)

    @classmethod
    def import_task(cls, task_data: Mapping, target_task: Any = None, update: bool = False) -> Optional["Task"]:
        """Create a Draft task from :meth:`export_task` data, or update ``target_task`` with it."""
        store = cls._main_store()
        if target_task is not None:
            target = target_task if isinstance(target_task, Task) else cls.get_task(task_id=_resolve_task_id(target_task))
            target._check_editable("configuration (import_task)")
            import_config(store, task_data, target._id, update=update)
            target.reload()
            return target
        return cls._from_row(store, store.task_row(import_config(store, task_data, None)))

    def update_task(self, task_data: Mapping) -> bool:
        self._check_editable("configuration (update_task)")
        import_config(self._store, task_data, self._id, update=True)
        self.reload()
        return True

    def delete(self, delete_artifacts_and_models: bool = True, skip_models_used_by_other_tasks: bool = True,
               raise_on_error: bool = False, callback: Optional[Callable[[str, str], bool]] = None) -> bool:
        """Delete the task, its records and (by default) its artifact and model files."""
        if self.get_status() == "in_progress" and not self._owner:
            raise StateError(f"cannot delete task {self._id} while it is running; stop it first")
        if delete_artifacts_and_models or callback:
            self._delete_artifact_files(callback=callback, raise_on_error=raise_on_error,
                                        skip_shared_models=skip_models_used_by_other_tasks)
        self._store.delete_task(self._id)
        if self.is_main_task():
            Task._main_task = None
        self._closed = True
        return True

    # ---------------------------------------------------------------- misc
    @classmethod
    def debug_simulate_remote_task(cls, task_id: str, reset_task: bool = False) -> None:
        """Make the next ``Task.init`` in this process run ``task_id`` as an agent would: its
        stored parameters and configuration flow into ``connect()`` and argparse (call it
        before ``Task.init``). ``reset_task`` clears the task's outputs first."""
        task = cls.get_task(task_id=task_id)
        if reset_task:
            task.reset(force=True)
        os.environ[TASK_ID_ENV] = task.id

    @classmethod
    def get_task_output_log_web_page(cls, task_id: str, project_id: Optional[str] = None,
                                     app_server_host: Optional[str] = None) -> str:
        """The task's console page in ``pipetrack ui`` (``app_server_host``, else
        ``PIPETRACK_UI_URL``, else http://127.0.0.1:8080). ``project_id`` is accepted for
        ClearML compatibility; pipetrack's task pages do not need it."""
        from .. import config
        task_id = _resolve_task_id(task_id)
        host = (app_server_host.rstrip("/") if app_server_host else config.ui_url())
        if not host.startswith(("http://", "https://")):
            raise ValidationError(f"app_server_host must be an http(s) URL, got {app_server_host!r}")
        return f"{host}/#/task/{task_id}/console"

    def get_output_log_web_page(self) -> str:
        """This task's console page in ``pipetrack ui`` (see :meth:`get_task_output_log_web_page`)."""
        return Task.get_task_output_log_web_page(self._id)

    def get_output_destination(self, extra_path: Optional[str] = None, **kwargs: Any) -> str:
        """Folder URL where this task's artifacts and models are stored."""
        from ..storage import join_url
        base = join_url(self.output_uri, _safe(self.get_project_name()), f"{_safe(self.name)}.{self._id}")
        return join_url(base, extra_path) if extra_path else base

    def setup_aws_upload(self, bucket: str, subdir: Optional[str] = None, host: Optional[str] = None,
                         key: Optional[str] = None, secret: Optional[str] = None, token: Optional[str] = None,
                         region: Optional[str] = None, multipart: bool = True, secure: bool = True,
                         verify: bool = True, profile: Optional[str] = None) -> None:
        """Register S3 credentials/endpoint for ``bucket`` (used for every s3:// URL of that bucket)."""
        from ..storage import configure_s3
        configure_s3(bucket, host=host, key=key, secret=secret, token=token, region=region, secure=secure,
                     verify=verify, profile=profile, subdir=subdir)





def _safe(text: str) -> str:
    """A path component that can't escape its folder, nor be too long for the filesystem: a
    long name (a 300-character task name made every artifact upload fail with ENAMETOOLONG) is
    cut to ``MAX_ARTIFACT_NAME_BYTES`` bytes of UTF-8 plus a hash of the whole name, so two long names
    sharing a prefix still get different folders."""
    cleaned = "".join(c if c.isalnum() or c in "-_. " else "_" for c in text).strip(". ") or "_"
    encoded = cleaned.encode("utf-8")
    if len(encoded) <= MAX_ARTIFACT_NAME_BYTES:
        return cleaned
    import hashlib
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return encoded[:MAX_ARTIFACT_NAME_BYTES - len(digest) - 1].decode("utf-8", "ignore") + "-" + digest


def _normalise_output_uri(output_uri: Any) -> Optional[str]:
    if output_uri is True or output_uri is None:
        return None
    if output_uri is False:
        return None
    from ..storage import normalize_url
    return normalize_url(output_uri)


def _insert_task(store: TaskStore, project_name: str, task_name: str, task_type: str, tags=None,
                 created_by: str = "", **fields: Any) -> str:
    now = time.time()
    task_id = new_id()
    row = dict(id=task_id, project_id=store.project_id(project_name, create=True), name=task_name,
               type=task_type, status="created", created=now, last_update=now, tags=list(tags or []),
               runtime={"created_by": created_by})
    row.update(fields)
    store.insert_task(row)
    return task_id


def _reusable_task(store: TaskStore, project_name: str, task_name: str, task_type: str,
                   continuing: bool) -> Optional[dict]:
    """The last Task.init-created task of project+name that may be reused (the seeds' rules)."""
    project_id = store.project_id(project_name)
    if project_id is None:
        return None
    task_id = store.latest_task_id(project_id, task_name, created_by="init")
    if task_id is None:
        return None
    row = store.task_row(task_id)
    if continuing:
        return row if row["status"] != "published" else None
    if row["status"] == "published" or _query.ARCHIVED_TAG in row["system_tags"]:
        return None
    if row["status"] in ("in_progress", "queued"):
        return None  # another process is (or should be) running it
    if row["type"] != task_type:
        return None
    return None if store.task_has_outputs(row["id"]) else row

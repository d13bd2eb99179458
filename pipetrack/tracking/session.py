"""The life of the main task in this process: what ``Task.init`` starts and what exit ends.

- exit hooks: a normal exit (or ``sys.exit(0)``) marks the task completed; an uncaught
  exception marks it failed with the exception text as status message and the traceback in
  the console; ``sys.exit`` with another code marks it failed ("exit code N");
  KeyboardInterrupt (and SIGTERM, turned into KeyboardInterrupt) marks it stopped;
- console and argparse capture (``capture.py``), code/environment capture (``environment.py``)
  in a background thread;
- a heartbeat registration (``heartbeat.py``) for the dead-task watchdog; when another process
  aborts the task (status set to ``stopped``) the registered abort callbacks run and the main
  thread is interrupted.

Child processes (ClearML's ``CLEARML_PROC_MASTER_ID``): the main session puts
``PIPETRACK_PROC_MASTER_ID=<pid>:<task id>`` in the environment. A child process (subprocess,
multiprocessing spawn) whose ``Task.init`` does not ask for a task of its own attaches to that
task (:func:`master_task_id`); a forked child keeps the parent's task (:func:`_after_fork_in_child`).
Either way the child runs a *child session*: its console and reports go to the parent's task,
but its exit never sets the task's status, and it records no argument parsers, environment,
resources or heartbeat: the parent's session stays in charge of those.
"""
from __future__ import annotations

import _thread
import atexit
import os
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import Any, Optional

from .. import config
from . import heartbeat
from .reporting import flush_all
from ..store import TaskStore, default_store, is_url, open_store, new_id

OFFLINE_DB = "session.db"
MASTER_ENV = "PIPETRACK_PROC_MASTER_ID"  # "<pid>:<task id>" of the process whose main task children join


def store_for_init(offline: bool) -> TaskStore:
    """The default store, or a new offline session store (a folder with its own database)."""
    if not offline:
        return default_store()
    folder = config.home() / "offline" / new_id()
    folder.mkdir(parents=True, exist_ok=True)
    return open_store(folder / OFFLINE_DB)


def is_offline_store(store: TaskStore) -> bool:
    """True for the private store of an offline session (see offline.py)."""
    return not is_url(store.location) and Path(store.location).name == OFFLINE_DB


def default_names() -> tuple[str, str]:
    """(project, task name) when Task.init is called without them: repo/folder and script name."""
    from .environment import entry_script
    script = entry_script()
    if script is None:
        return "default", "interactive session"
    folder = os.path.basename(os.path.dirname(script)) or "default"
    return folder, os.path.splitext(os.path.basename(script))[0]


class Session:
    """Everything Task.init installed for the main task, undone by :func:`end_session`."""

    def __init__(self, task: Any):
        self.task = task
        self.console = None
        self.env_thread: Optional[threading.Thread] = None
        self.monitor = None
        self.outcome: Optional[tuple[str, str]] = None  # (status, message) decided by the hooks
        self.abort_callbacks: list[tuple[Any, float]] = []
        self.prev_excepthook = None
        self.prev_sigterm = None
        self.prev_exit = None
        self.exit_code: Any = None  # argument of the last sys.exit() call
        self.child = False  # a child process's session on its parent's task: never sets its status


_session: Optional[Session] = None


def current_session() -> Optional[Session]:
    return _session


def master_task_id() -> Optional[str]:
    """The task of the tracked process that started this one (directly or not), from
    ``PIPETRACK_PROC_MASTER_ID``; None in the tracked process itself or when there is none."""
    pid, _, task_id = os.environ.get(MASTER_ENV, "").partition(":")
    if not task_id or pid == str(os.getpid()):
        return None
    return task_id


def wants_own_task(master: dict, project_name: Optional[str], task_name: Optional[str],
                   reuse_last_task_id: Any, continue_last_task: Any) -> bool:
    """Whether a child process's ``Task.init`` asks for another task than its parent's
    (``master``, a task row with ``project_name``): another project or name, a task id other than
    the parent's, or ``reuse_last_task_id=False``."""
    if project_name and project_name != master.get("project_name"):
        return True
    if task_name and task_name != master["name"]:
        return True
    if reuse_last_task_id is False:
        return True
    return any(isinstance(v, str) and v != master["id"] for v in (reuse_last_task_id, continue_last_task))


def start_session(task: Any, auto_connect_arg_parser: Any = True, auto_connect_streams: Any = True,
                  auto_resource_monitoring: Any = True, auto_connect_frameworks: Any = True,
                  child: bool = False) -> Session:
    """Install the capture for ``task``. ``child``: this process joins its parent's task (console
    and framework reports only; see the module docstring)."""
    global _session
    from .capture import ConsoleCapture, install_argparse_hook
    session = _session = Session(task)
    session.child = child
    if auto_connect_streams:
        session.console = ConsoleCapture(task, auto_connect_streams)
        session.console.start()
    if child:
        install_argparse_hook(task, False)  # the parent recorded the arguments; a child must not overwrite them
        if auto_connect_frameworks:
            from .bindings import connect_frameworks
            connect_frameworks(task, auto_connect_frameworks)
        if threading.current_thread() is threading.main_thread():
            try:  # terminated (Pool.terminate): write the reports first
                if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
                    session.prev_sigterm = signal.signal(signal.SIGTERM, _child_sigterm)
            except (ValueError, OSError):
                pass
        return session
    os.environ[MASTER_ENV] = f"{os.getpid()}:{task.id}"
    install_argparse_hook(task, auto_connect_arg_parser)
    if not task._remote or not task.data.get("script"):
        session.env_thread = threading.Thread(target=_capture_environment, args=(task,),
                                              name="pipetrack-env", daemon=True)
        session.env_thread.start()
    heartbeat.register(task._store, task.id, on_abort=lambda: _on_abort(session))
    if auto_resource_monitoring:
        from .monitor import start_resource_monitor
        session.monitor = start_resource_monitor(task, auto_resource_monitoring)
    if auto_connect_frameworks or auto_connect_arg_parser:
        from .bindings import connect_arg_parsers, connect_frameworks
        if auto_connect_frameworks:
            connect_frameworks(task, auto_connect_frameworks)
        connect_arg_parsers(task, auto_connect_arg_parser)
    session.prev_excepthook = sys.excepthook
    sys.excepthook = _excepthook
    session.prev_exit = sys.exit
    sys.exit = _exit
    if threading.current_thread() is threading.main_thread():
        try:
            if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
                session.prev_sigterm = signal.signal(signal.SIGTERM, _sigterm)
        except (ValueError, OSError):
            pass
    return session


def _capture_environment(task: Any) -> None:
    from . import environment
    try:
        script = environment.capture_script_info()
        script["requirements"] = environment.recorded_requirements()
        script["python"] = sys.version.split()[0]
        existing = task._store.task_row(task.id)["script"] or {}
        existing.update({k: v for k, v in script.items() if not (k == "requirements" and existing.get("packages_set"))})
        task._store.update_task(task.id, script=existing)
    except Exception as exc:  # capture is best-effort; never break the user's run
        task._reports.add_console(task.id, f"pipetrack: environment capture failed: {exc}", "warning")


def _on_abort(session: Session) -> None:
    """Another process set our task to stopped: run the abort callbacks, then interrupt main."""
    if session.outcome is None and _session is session:
        session.outcome = ("stopped", "aborted by another process")
        _run_abort_callbacks(session)
        _interrupt_main()


def _interrupt_main() -> None:
    """Raise KeyboardInterrupt in the main thread, waking it from sleep or blocking I/O.

    ``_thread.interrupt_main`` only sets a flag that is checked between bytecodes, so a main
    thread inside ``time.sleep`` would not notice; a real SIGINT aimed at the main thread does.
    """
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
    else:
        _thread.interrupt_main()


def _after_fork_in_child() -> None:
    """A forked child keeps the parent's main task: its session becomes a child session (the
    parent's threads did not survive the fork, and the parent decides the task's status)."""
    session = _session
    if session is None or session.child:
        return
    session.child = True
    session.monitor = None
    session.env_thread = None
    from . import capture
    capture._state["filter"] = False
    try:
        if signal.getsignal(signal.SIGTERM) is _sigterm:
            signal.signal(signal.SIGTERM, _child_sigterm)
    except (ValueError, OSError):
        pass
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None:
        # a multiprocessing child leaves with os._exit (no atexit): flush when its process ends;
        # registered through after-fork hooks since the process clears its finalizers first
        mp_util.register_after_fork(session, _register_child_finalizer)


def _child_sigterm(signum, frame) -> None:
    """SIGTERM in a forked child (``Pool.terminate`` sends it): write what it reported, then leave
    quietly. The flush runs in a thread so a flush the signal interrupted can't deadlock it."""
    if _child_exiting:
        return  # the child is already writing its last reports (_end_child_session): let it finish
    writer = threading.Thread(target=flush_all, daemon=True)
    writer.start()
    writer.join(5.0)
    raise SystemExit(128 + signum)


def _register_child_finalizer(session: Session) -> None:
    import multiprocessing.util as mp_util
    mp_util.Finalize(None, _end_child_session, args=(session,), exitpriority=10)


_child_exiting = False


def _end_child_session(session: Session) -> None:
    global _child_exiting
    _child_exiting = True
    if _session is session:
        try:
            end_session(session.task)
        except Exception as exc:
            print(f"pipetrack: could not flush child process reports: {exc}", file=sys.__stderr__)


os.register_at_fork(after_in_child=_after_fork_in_child)


def _run_abort_callbacks(session: Session) -> None:
    for callback, timeout in session.abort_callbacks:
        worker = threading.Thread(target=callback, daemon=True)
        worker.start()
        worker.join(timeout)


def register_abort_callback(task: Any, callback: Any, timeout: float) -> None:
    if _session is None or _session.task.id != task.id:
        from ..errors import StateError
        raise StateError("register_abort_callback needs the running main task (call it on Task.init's task)")
    if callback is None:
        _session.abort_callbacks.clear()
    else:
        _session.abort_callbacks.append((callback, timeout))


def _excepthook(exc_type, exc, tb) -> None:
    session = _session
    if session is not None and session.outcome is None:
        if issubclass(exc_type, KeyboardInterrupt):
            session.outcome = ("stopped", "KeyboardInterrupt")
        else:
            session.outcome = ("failed", f"{exc_type.__name__}: {exc}")
    hook = session.prev_excepthook if session and session.prev_excepthook else sys.__excepthook__
    hook(exc_type, exc, tb)  # prints the traceback to stderr: the console tee records it
    if session is not None:
        if session.console is None or not session.console.want["stderr"]:
            text = "".join(traceback.format_exception(exc_type, exc, tb))
            session.task._reports.add_console(session.task.id, text.rstrip("\n"), "error")
        end_session(session.task)


def _exit(status: Any = None) -> None:
    """``sys.exit`` wrapper: remembers the exit status so the task can be marked failed."""
    session = _session
    if session is not None:
        session.exit_code = status
    (session.prev_exit if session is not None and session.prev_exit else _original_exit)(status)


_original_exit = sys.exit


def _exit_outcome(code: Any) -> tuple[str, str]:
    if code is None or code == 0:
        return "completed", ""
    if isinstance(code, int):
        return "failed", f"exit code {code}"
    return "failed", f"exit: {code}"


def _sigterm(signum, frame) -> None:
    if _session is not None and _session.outcome is None:
        _session.outcome = ("stopped", "terminated by SIGTERM")
    raise KeyboardInterrupt("SIGTERM")


def end_session(task: Any) -> None:
    """Flush, undo the capture and set the final status (completed unless the hooks said otherwise)."""
    global _session
    session = _session
    if session is None or session.task.id != task.id:
        flush_all()
        return
    _session = None
    if session.child:
        _end_child(session)
        return
    if os.environ.get(MASTER_ENV) == f"{os.getpid()}:{task.id}":
        del os.environ[MASTER_ENV]  # processes started after the close are nobody's children
    heartbeat.unregister(task.id)
    from .bindings import disconnect
    disconnect()  # the framework bindings' patches and pending import hooks
    if session.monitor is not None:
        session.monitor.stop()
    if session.env_thread is not None:
        session.env_thread.join(timeout=30)
    if session.console is not None:
        session.console.stop()
    if sys.excepthook is _excepthook:
        sys.excepthook = session.prev_excepthook or sys.__excepthook__
    if sys.exit is _exit:
        sys.exit = session.prev_exit or _original_exit
    if session.prev_sigterm is not None:
        try:
            signal.signal(signal.SIGTERM, session.prev_sigterm)
        except (ValueError, OSError):
            pass
    status, message = session.outcome or _exit_outcome(session.exit_code)
    try:
        task._finalise_outputs()
        flush_all()
    except Exception as exc:  # the status must still be set: a closing failure fails the task
        status, message = "failed", f"closing the task failed: {type(exc).__name__}: {exc}"
    current = task.get_status()
    if current == "in_progress":
        if status == "created":  # handed to a queue: straight back to Draft, never through "completed"
            task._store.update_task(task.id, where_status=("in_progress",), status="created", started=None,
                                    completed=None, progress=0, status_message=message)
        elif status == "completed":
            task.mark_completed(status_message=message)
        elif status == "failed":
            task.mark_failed(status_message=message, status_reason=message)
        else:
            task.mark_stopped(status_message=message, force=True)
    task._store.compact_scalars(task.id)
    task._closed = True
    if is_offline_store(task._store):
        from .offline import finish_session
        finish_session(task._store)


def _end_child(session: Session) -> None:
    """End a child session: flush its reports and undo its capture; the status is the parent's."""
    global _child_exiting
    _child_exiting = True
    from .bindings import disconnect
    disconnect()
    if session.console is not None:
        session.console.stop()
    if sys.excepthook is _excepthook:  # a forked child inherited the parent's hooks
        sys.excepthook = session.prev_excepthook or sys.__excepthook__
    if sys.exit is _exit:
        sys.exit = session.prev_exit or _original_exit
    try:
        session.task.flush(wait_for_uploads=True)
    finally:
        flush_all()
        session.task._closed = True
        if session.prev_sigterm is not None and signal.getsignal(signal.SIGTERM) is _child_sigterm:
            try:
                signal.signal(signal.SIGTERM, session.prev_sigterm)
            except (ValueError, OSError):
                pass


def _atexit() -> None:
    if _session is not None:
        try:
            end_session(_session.task)
        except Exception as exc:
            print(f"pipetrack: could not close task {_session.task.id if _session else ''}: {exc}",
                  file=sys.__stderr__)


atexit.register(_atexit)


def back_to_draft(task: Any, message: str = "") -> None:
    """End this process's run of ``task`` and leave it a Draft with its inputs (to be enqueued).

    Used when the run moves to an agent (``execute_remotely``, a pipeline controller put on a
    queue, ``create_draft``). The code capture is awaited: the agent needs the entry point.
    """
    from .task import Task
    task.get_script()
    task.flush(wait_for_uploads=True)
    session = current_session()
    if session is not None and session.task.id == task.id:
        session.outcome = ("created", message)
        end_session(task)
    else:
        task._store.update_task(task.id, where_status=("in_progress",), status="created", started=None,
                                completed=None, progress=0, status_message=message)
    if Task._main_task is task:
        Task._main_task = None

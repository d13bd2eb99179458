"""The life of the main task in this process: what ``Task.init`` starts and what exit ends.

- exit hooks: a normal exit marks the task completed; an uncaught exception marks it failed
  with the exception text as status message and the traceback in the console;
  KeyboardInterrupt (and SIGTERM, turned into KeyboardInterrupt) marks it stopped;
- console and argparse capture (``capture.py``), code/environment capture (``environment.py``)
  in a background thread;
- the heartbeat thread: refreshes ``heartbeat`` for the dead-task watchdog and notices when
  another process aborted the task (status set to ``stopped``), then runs the registered
  abort callbacks and interrupts the main thread.
"""
from __future__ import annotations

import _thread
import atexit
import os
import signal
import sys
import threading
import time
import traceback
from typing import Any, Mapping, Optional

from .. import config
from .reporting import flush_all
from .store import Store, default_store, open_store, new_id


def store_for_init(offline: bool) -> Store:
    """The default store, or a new offline session store (a folder with its own database)."""
    if not offline:
        return default_store()
    folder = config.home() / "offline" / new_id()
    folder.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PIPETRACK_OFFLINE_FOLDER", str(folder))
    return open_store(folder / "session.db")


def default_names() -> tuple[str, str]:
    """(project, task name) when Task.init is called without them: repo/folder and script name."""
    from .environment import entry_script
    script = entry_script()
    if script is None:
        return "default", "interactive session"
    folder = os.path.basename(os.path.dirname(script)) or "default"
    return folder, os.path.splitext(os.path.basename(script))[0]


class Session:
    """Everything Task.init installed for the main task, undone by :meth:`end`."""

    def __init__(self, task: Any):
        self.task = task
        self.console = None
        self.env_thread: Optional[threading.Thread] = None
        self.heartbeat_stop = threading.Event()
        self.heartbeat_thread: Optional[threading.Thread] = None
        self.monitor = None
        self.outcome: Optional[tuple[str, str]] = None  # (status, message) decided by the hooks
        self.abort_callbacks: list[tuple[Any, float]] = []
        self.prev_excepthook = None
        self.prev_sigterm = None


_session: Optional[Session] = None


def current_session() -> Optional[Session]:
    return _session


def start_session(task: Any, auto_connect_arg_parser: Any = True, auto_connect_streams: Any = True,
                  auto_resource_monitoring: Any = True, auto_connect_frameworks: Any = True) -> Session:
    global _session
    from .capture import ConsoleCapture, install_argparse_hook
    session = _session = Session(task)
    if auto_connect_streams:
        session.console = ConsoleCapture(task, auto_connect_streams)
        session.console.start()
    install_argparse_hook(task, auto_connect_arg_parser)
    if not task._remote or not task.data.get("script"):
        session.env_thread = threading.Thread(target=_capture_environment, args=(task,),
                                              name="pipetrack-env", daemon=True)
        session.env_thread.start()
    session.heartbeat_thread = threading.Thread(target=_heartbeat_loop, args=(session,),
                                                name="pipetrack-heartbeat", daemon=True)
    session.heartbeat_thread.start()
    if auto_resource_monitoring:
        from .monitor import start_resource_monitor
        session.monitor = start_resource_monitor(task, auto_resource_monitoring)
    if auto_connect_frameworks:
        from .frameworks import connect_frameworks
        connect_frameworks(task, auto_connect_frameworks)
    session.prev_excepthook = sys.excepthook
    sys.excepthook = _excepthook
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
        reqs = environment.imported_requirements()
        script["requirements"] = environment.requirements_text(reqs)
        script["python"] = sys.version.split()[0]
        existing = task._store.task_row(task.id)["script"] or {}
        existing.update({k: v for k, v in script.items() if not (k == "requirements" and existing.get("packages_set"))})
        task._store.update_task(task.id, script=existing)
    except Exception as exc:  # capture is best-effort; never break the user's run
        task._reports.add_console(task.id, f"pipetrack: environment capture failed: {exc}", "warning")


def _heartbeat_loop(session: Session) -> None:
    interval = max(0.5, min(30.0, config.watchdog_seconds() / 4))
    task = session.task
    while not session.heartbeat_stop.wait(interval):
        try:
            with task._store.write() as conn:
                conn.execute("UPDATE tasks SET heartbeat=? WHERE id=? AND status='in_progress'", (time.time(), task.id))
                row = conn.execute("SELECT status FROM tasks WHERE id=?", (task.id,)).fetchone()
        except Exception:
            continue
        if row is not None and row["status"] == "stopped" and session.outcome is None:
            session.outcome = ("stopped", "aborted by another process")
            _run_abort_callbacks(session)
            _thread.interrupt_main()
            return


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
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        task = session.task
        task._reports.add_console(task.id, text.rstrip("\n"), "error")
        if issubclass(exc_type, KeyboardInterrupt):
            session.outcome = ("stopped", "KeyboardInterrupt")
        else:
            session.outcome = ("failed", f"{exc_type.__name__}: {exc}")
    hook = session.prev_excepthook if session and session.prev_excepthook else sys.__excepthook__
    hook(exc_type, exc, tb)
    if session is not None:
        end_session(session.task)


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
    session.heartbeat_stop.set()
    if session.monitor is not None:
        session.monitor.stop()
    if session.env_thread is not None:
        session.env_thread.join(timeout=30)
    if session.console is not None:
        session.console.stop()
    if sys.excepthook is _excepthook:
        sys.excepthook = session.prev_excepthook or sys.__excepthook__
    if session.prev_sigterm is not None:
        try:
            signal.signal(signal.SIGTERM, session.prev_sigterm)
        except (ValueError, OSError):
            pass
    task._finalise_outputs()
    flush_all()
    status, message = session.outcome or ("completed", "")
    current = task.get_status()
    if current == "in_progress":
        if status == "completed":
            task.mark_completed(status_message=message)
        elif status == "failed":
            task.mark_failed(status_message=message, status_reason=message)
        else:
            task.mark_stopped(status_message=message, force=True)
    task._closed = True


def _atexit() -> None:
    if _session is not None:
        try:
            end_session(_session.task)
        except Exception as exc:
            print(f"pipetrack: could not close task {_session.task.id if _session else ''}: {exc}",
                  file=sys.__stderr__)


atexit.register(_atexit)

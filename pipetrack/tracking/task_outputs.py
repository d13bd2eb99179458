"""Task outputs and their read-back: logger, reported scalars/plots/console/samples, code and
environment sections, models and offline sessions (a mixin of ``Task``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from ..errors import ValidationError

MAX_SCALAR_SAMPLES = 5000


class _task_or_class:
    """A method callable on an instance (``task.m()``) and on the class (``Task.m()``)."""

    def __init__(self, func: Callable) -> None:
        self.func = func
        self.__doc__ = func.__doc__

    def __get__(self, obj: Any, owner: type) -> Callable:
        target = owner if obj is None else obj
        return lambda *args, **kwargs: self.func(target, *args, **kwargs)


class OutputsMixin:
    """Reporting, read-back and models of a Task."""

    def _init_outputs(self) -> None:
        self._registered: dict[str, Any] = {}
        self._pending_hashes: list[Any] = []  # artifacts being hashed in the background (task_artifacts)

    # ------------------------------------------------------------------ logger
    def get_logger(self):
        from .logger import Logger
        if self._logger is None:
            self._logger = Logger(self)
        return self._logger

    @property
    def logger(self):
        return self.get_logger()

    def flush(self, wait_for_uploads: bool = False) -> bool:
        """Write all buffered reports (and registered artifacts, with their hashes) to the store now."""
        self._settle_artifacts()
        self._reports.flush()
        return True

    def _finalise_outputs(self) -> None:
        self._settle_artifacts()

    # ------------------------------------------------------------------ iterations
    def get_last_iteration(self) -> int:
        self._reports.flush()
        state = self._store.task_state(self._id)
        return int(state["last_iteration"] or 0) if state else 0

    def set_last_iteration(self, last_iteration: int) -> None:
        self._store.update_task(self._id, last_iteration=int(last_iteration))

    def set_initial_iteration(self, offset: int = 0) -> int:
        """Shift every later reported iteration by ``offset`` (continuing from a checkpoint)."""
        if not isinstance(offset, int) or isinstance(offset, bool):
            raise ValidationError(f"initial iteration offset must be an int, got {offset!r}")
        self._store.update_task(self._id, initial_iteration=offset)
        self._row["initial_iteration"] = offset
        if self._logger is not None:
            self._logger._offset = offset
        return offset

    def get_initial_iteration(self) -> int:
        return int(self._store.task_state(self._id)["initial_iteration"] or 0)

    # ------------------------------------------------------------------ read-back
    def get_all_reported_scalars(self, x_axis: str = "iter") -> dict:
        """Every scalar point: ``{title: {series: {'x': [...], 'y': [...]}}}``, sorted by x."""
        from .scalars import X_AXES, all_scalars
        if x_axis not in X_AXES:
            raise ValidationError.choice("x_axis", x_axis, X_AXES)
        self._reports.flush()
        return all_scalars(self._store, self._id, x_axis)

    def get_reported_scalars(self, max_samples: int = 0, x_axis: str = "iter") -> dict:
        """Scalars downsampled to at most ``max_samples`` (≤ 5000) per series by window averages."""
        from .scalars import downsample
        if not isinstance(max_samples, int) or isinstance(max_samples, bool) or max_samples < 0:
            raise ValidationError(f"max_samples must be a non-negative int, got {max_samples!r}")
        limit = min(max_samples or MAX_SCALAR_SAMPLES, MAX_SCALAR_SAMPLES)
        graphs = self.get_all_reported_scalars(x_axis=x_axis)
        for series in graphs.values():
            for name, graph in series.items():
                if len(graph["y"]) > limit:
                    series[name] = downsample(graph, limit, averaged_x=x_axis != "iso_time")
        return graphs

    def get_last_scalar_metrics(self) -> dict:
        """``{title: {series: {'last', 'min', 'max'}}}``; 'last' is the value at the highest iteration."""
        self._reports.flush()
        return self._store.last_scalar_metrics(self._id)

    def get_reported_single_values(self) -> dict[str, float]:
        """``{name: value}``; a reported NaN reads back as NaN (SQLite stores a NaN REAL as NULL)."""
        self._reports.flush()
        return {name: float("nan") if value is None else value
                for name, value in self._store.single_values(self._id).items()}

    def get_reported_single_value(self, name: str) -> Optional[float]:
        return self.get_reported_single_values().get(name)

    def get_reported_console_output(self, number_of_reports: int = 1) -> list[str]:
        """The last ``number_of_reports`` console reports, oldest first (one string per line/report)."""
        if not isinstance(number_of_reports, int) or number_of_reports < 1:
            raise ValidationError(f"number_of_reports must be a positive int, got {number_of_reports!r}")
        self._reports.flush()
        return [row["text"] for row in reversed(self._store.console_tail(self._id, number_of_reports))]

    def get_reported_plots(self, max_iterations: Optional[int] = None) -> list[dict]:
        import json
        self._reports.flush()
        rows = self._store.task_plots(self._id)
        if max_iterations:
            keep = sorted({r["iteration"] for r in rows if r["iteration"] is not None})[-max_iterations:]
            rows = [r for r in rows if r["iteration"] is None or r["iteration"] in keep]
        return [{"timestamp": int(r["ts"] * 1000), "type": "plot", "task": self._id, "iter": r["iteration"],
                 "metric": r["metric"], "variant": r["variant"], "plot_str": r["figure"],
                 "plot": json.loads(r["figure"])} for r in rows]

    def get_debug_samples(self, title: str, series: str, n_last_iterations: Optional[int] = None) -> list[dict]:
        if n_last_iterations is not None and (not isinstance(n_last_iterations, int) or n_last_iterations <= 0):
            raise TypeError(f"n_last_iterations must be a positive int, got {n_last_iterations!r}")
        self._reports.flush()
        rows = self._store.debug_sample_series(self._id, title, series)
        if n_last_iterations:
            keep = sorted({r["iteration"] for r in rows})[-n_last_iterations:]
            rows = [r for r in rows if r["iteration"] in keep]
        return [{"metric": r["metric"], "variant": r["variant"], "iter": r["iteration"], "url": r["url"],
                 "timestamp": int(r["ts"] * 1000)} for r in rows]

    # ------------------------------------------------------------------ script / environment
    def get_script(self) -> dict:
        """The code section: repository, branch, version_num, entry_point, working_dir, diff, ..."""
        from .session import current_session
        session = current_session()
        if session is not None and session.task.id == self._id and session.env_thread is not None:
            session.env_thread.join(timeout=30)
        return dict(self.data.get("script") or {})

    def set_script(self, repository: Optional[str] = None, branch: Optional[str] = None, commit: Optional[str] = None,
                   diff: Optional[str] = None, working_dir: Optional[str] = None,
                   entry_point: Optional[str] = None) -> None:
        script = self.get_script()
        for key, value in (("repository", repository), ("branch", branch), ("version_num", commit), ("diff", diff),
                           ("working_dir", working_dir), ("entry_point", entry_point)):
            if value is not None:
                script[key] = value
        self._set_fields("script", script=script)

    def set_repo(self, repo: Optional[str] = None, branch: Optional[str] = None, commit: Optional[str] = None) -> None:
        self.set_script(repository=repo, branch=branch, commit=commit)

    def get_requirements(self) -> dict[str, str]:
        """``{'pip': 'name==version\\n...'}`` as recorded (or set by set_packages)."""
        return {"pip": self.get_script().get("requirements", "")}

    def set_packages(self, packages: str | Sequence[str] | Path) -> None:
        """Replace the recorded requirements by a list of specs or a requirements file path."""
        if isinstance(packages, (str, Path)) and Path(packages).is_file():
            text = Path(packages).read_text()
        elif isinstance(packages, (list, tuple)):
            text = "\n".join(str(p) for p in packages)
        elif isinstance(packages, str):
            text = packages
        else:
            raise ValidationError(f"set_packages expects a list of requirement strings or a requirements file path, "
                                  f"got {packages!r}")
        script = self.get_script()
        script.update(requirements=text, packages_set=True)
        self._set_fields("script", script=script)

    @classmethod
    def add_requirements(cls, package_name: str, package_version: Optional[str] = None) -> None:
        from .environment import force_requirement
        force_requirement(package_name, package_version)

    @classmethod
    def ignore_requirements(cls, package_name: str) -> None:
        from .environment import ignore_requirement
        ignore_requirement(package_name)

    @classmethod
    def force_requirements_env_freeze(cls, force: bool = True, requirements_file: Optional[str] = None) -> None:
        from .environment import configure
        configure(freeze=force, requirements_file=requirements_file)

    @classmethod
    def force_store_standalone_script(cls, force: bool = True) -> None:
        from .environment import configure
        configure(standalone=force)

    def register_abort_callback(self, callback_function: Optional[Callable[[], None]],
                                callback_execution_timeout: float = 30.0) -> None:
        """Call ``callback_function`` when another process aborts this task (then it is stopped)."""
        from .session import register_abort_callback
        if callback_function is not None and not callable(callback_function):
            raise ValidationError(f"abort callback must be callable or None, got {callback_function!r}")
        register_abort_callback(self, callback_function, callback_execution_timeout)

    # ------------------------------------------------------------------ models
    @property
    def models(self):
        return self.get_models()

    def get_models(self):
        from .models import task_models
        return task_models(self)

    @property
    def input_models_id(self) -> dict[str, str]:
        return {m.name: m.id for m in self.get_models()["input"]}

    @property
    def output_models_id(self) -> dict[str, str]:
        return {m.name: m.id for m in self.get_models()["output"]}

    def update_output_model(self, model_path: str, name: Optional[str] = None, comment: Optional[str] = None,
                            tags: Optional[Sequence[str]] = None, model_name: Optional[str] = None,
                            iteration: Optional[int] = None, auto_delete_file: bool = True) -> str:
        """Upload a model file or folder and register it as an output model; returns its URL."""
        from .models import OutputModel
        model = OutputModel(task=self, name=model_name or name, comment=comment, tags=tags)
        model.update_weights(weights_filename=model_path if Path(model_path).is_file() else None,
                             weights_path=model_path if Path(model_path).is_dir() else None,
                             iteration=iteration, auto_delete_file=False)
        return model.url

    def set_input_model(self, model_id: Optional[str] = None, model_name: Optional[str] = None,
                        update_task_design: bool = True, update_task_labels: bool = True,
                        name: Optional[str] = None) -> None:
        from .models import InputModel
        model = InputModel(model_id=model_id, name=model_name)
        model.connect(self, name=name)

    def remove_input_models(self, models_to_remove: Sequence[Any]) -> None:
        ids = [getattr(m, "id", m) for m in models_to_remove]
        self._check_editable("input models")
        self._store.remove_input_models(self._id, ids)

    # ------------------------------------------------------------------ offline
    @classmethod
    def set_offline(cls, offline_mode: bool = False) -> None:
        """Offline mode: the next Task.init records into a session folder instead of the store."""
        from ..errors import StateError
        from .task import Task
        main = Task._main_task
        if not offline_mode and Task._offline_mode and main is not None and not main._closed:
            raise StateError("cannot leave offline mode while the offline task is running; close it first")
        Task._offline_mode = bool(offline_mode)

    @classmethod
    def is_offline(cls) -> bool:
        from .task import Task
        return Task._offline_mode

    @_task_or_class
    def get_offline_mode_folder(self_or_cls) -> Optional[Path]:
        """The session folder of an offline task (on the class: of the running main task), else None.

        Works after ``close()`` too, so ``Task.import_offline_session(task.get_offline_mode_folder())``
        can follow the offline run.
        """
        from .session import is_offline_store
        from .task import Task
        task = self_or_cls if isinstance(self_or_cls, Task) else Task._main_task
        if task is None or not is_offline_store(task._store):
            return None
        return Path(task._store.home)

    @classmethod
    def import_offline_session(cls, session_folder_zip: str, previous_task_id: Optional[str] = None,
                               iteration_offset: int = 0) -> Optional[str]:
        """Replay an offline session (folder or zip) into the store; returns the task id."""
        from .offline import import_session
        return import_session(session_folder_zip, previous_task_id, iteration_offset)

"""Model files that frameworks save and load, registered on the current task as ClearML does.

A file a framework saves becomes an output model of the current task named
``"<task name> - <file stem>"`` (ClearML's ``WeightsFileHandler`` naming), with the file uploaded
to the task's output destination under its own file name. One model per distinct file path:
saving the same path again updates that model (a new upload, same model id) instead of adding a
model. A file a framework loads becomes an input model: the model this process registered for
that path when it saved it, else one imported from the file (``InputModel.import_model``, when
the models API has it). The framework's wildcards (``auto_connect_frameworks={'pytorch':
'*.pt'}``) decide which files count.

Bindings use :func:`saving` / :func:`loading` to build their wrappers, or call
:func:`register_output` / :func:`register_input` from the framework's own hooks. A failure to
register never breaks the user's save or load: it is reported as a warning.
"""
from __future__ import annotations

import functools
import os
import threading
import warnings
from pathlib import Path
from typing import Any, Callable, Optional

from .options import FrameworkOption

# ClearML's framework names (clearml.model.Framework)
PYTORCH = "PyTorch"
SCIKIT_LEARN = "ScikitLearn"
XGBOOST = "XGBoost"
LIGHTGBM = "LightGBM"
CATBOOST = "CatBoost"
KERAS = "Keras"

Locate = Callable[[tuple, dict, Any], Any]  # (args, kwargs, result) -> the file (path or file object) or None

_lock = threading.RLock()
_outputs: dict[tuple[str, str], Any] = {}   # (task id, absolute path) -> OutputModel
_saved_ids: dict[str, str] = {}             # absolute path -> id of the model last saved there
_busy = threading.local()                   # a framework save/load running inside another one is not registered twice


def file_path(target: Any) -> Optional[str]:
    """The local path a framework writes to or reads from: a path string / ``os.PathLike``, or a
    file object's ``name`` (flushed, so its upload has the content); None for buffers and the like."""
    if isinstance(target, (str, os.PathLike)):
        path = os.fspath(target)
        return path if isinstance(path, str) and path else None
    name = getattr(target, "name", None)
    if isinstance(name, str) and name and (hasattr(target, "write") or hasattr(target, "read")):
        try:
            target.flush()
        except Exception:  # noqa: BLE001 - a read-only or closed file has nothing to flush
            pass
        return name
    return None


def _accepted(option: FrameworkOption, path: str) -> Optional[str]:
    """The absolute path of ``path`` when the option's wildcards accept it (given or absolute), else None."""
    absolute = os.path.abspath(path)
    if option.accepts(path) or option.accepts(absolute):
        return absolute
    return None


def _task_and_file(option: FrameworkOption, target: Any) -> tuple[Any, Optional[str]]:
    """(current task, absolute path of ``target``) when there is a task and the file exists and is
    accepted by the option's wildcards; else (task, None)."""
    task = _current_task()
    path = file_path(target) if task is not None else None
    local = _accepted(option, path) if path is not None else None
    return task, (local if local is not None and os.path.exists(local) else None)


def _current_task() -> Any:
    from ..task import Task
    return Task.current_task()


def register_output(option: FrameworkOption, framework: str, target: Any, config: Any = None) -> Any:
    """Register the file ``target`` just saved as an output model of the current task (the same
    model again for a path saved before); returns the OutputModel, or None when nothing was registered."""
    task, local = _task_and_file(option, target)
    if local is None:
        return None
    try:
        from ..models import OutputModel
        with _lock:
            model = _outputs.get((task.id, local))
            if model is None:
                model = OutputModel(task=task, name=f"{task.name} - {Path(local).stem}", framework=framework,
                                    config_dict=config if isinstance(config, dict) else None,
                                    config_text=config if isinstance(config, str) else None)
                _outputs[(task.id, local)] = model
            # a folder (a SavedModel) is uploaded zipped, under the archive's own name
            model.update_weights(weights_filename=local,
                                 target_filename=None if os.path.isdir(local) else Path(local).name)
            _saved_ids[local] = model.id
        return model
    except Exception as exc:  # noqa: BLE001 - the user's file is saved; only its registration failed
        _warn("register", local, exc)
        return None


def register_input(option: FrameworkOption, framework: str, target: Any) -> Any:
    """Register the file ``target`` just loaded as an input model of the current task; returns
    the InputModel, or None when nothing was registered."""
    task, local = _task_and_file(option, target)
    if local is None:
        return None
    try:
        from ..models import InputModel
        with _lock:
            model_id = _saved_ids.get(local)
            if model_id is not None:
                model = InputModel(model_id=model_id)
            elif hasattr(InputModel, "import_model"):
                model = InputModel.import_model(weights_url=local, name=f"{task.name} - {Path(local).stem}",
                                                framework=framework,
                                                label_enumeration=task.get_labels_enumeration() or None)
                _saved_ids[local] = model.id
            else:
                return None  # the models API cannot register a file it has never seen
            model.connect(task)
        return model
    except Exception as exc:  # noqa: BLE001 - the model is loaded; only its registration failed
        _warn("register loaded", local, exc)
        return None


def _warn(what: str, path: str, exc: Exception) -> None:
    warnings.warn(f"pipetrack: could not {what} model file {path}: {type(exc).__name__}: {exc}",
                  RuntimeWarning, stacklevel=3)


def _wrapper(original: Callable, register: Callable[..., Any], option: FrameworkOption, framework: Any,
             locate: Locate, config: Optional[Callable[[tuple, dict], Any]]) -> Callable:
    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if getattr(_busy, "active", False):
            return original(*args, **kwargs)
        _busy.active = True
        try:
            result = original(*args, **kwargs)
        finally:
            _busy.active = False
        if _current_task() is not None:
            try:
                target = locate(args, kwargs, result)
                kind = framework(args, kwargs) if callable(framework) else framework
                extra = {"config": config(args, kwargs)} if config is not None else {}
            except Exception:  # noqa: BLE001 - an unexpected call shape: nothing to register
                return result
            register(option, kind, target, **extra)
        return result

    return wrapper


def saving(option: FrameworkOption, framework: Any, locate: Locate,
           config: Optional[Callable[[tuple, dict], Any]] = None) -> Callable[[Callable], Callable]:
    """A ``make`` for :func:`hooks.patch`: the save function, then :func:`register_output` of the
    file ``locate`` finds. ``framework`` is a name or ``(args, kwargs) -> name``."""
    return lambda original: _wrapper(original, register_output, option, framework, locate, config)


def loading(option: FrameworkOption, framework: Any, locate: Locate) -> Callable[[Callable], Callable]:
    """A ``make`` for :func:`hooks.patch`: the load function (first, so a failed load registers
    nothing), then :func:`register_input` of the file ``locate`` finds."""
    return lambda original: _wrapper(original, register_input, option, framework, locate, None)


def argument(position: int, name: str) -> Locate:
    """A :data:`Locate` taking the call's argument at ``position`` or keyword ``name``."""
    def locate(args: tuple, kwargs: dict, result: Any) -> Any:
        if name in kwargs:
            return kwargs[name]
        return args[position] if len(args) > position else None
    return locate

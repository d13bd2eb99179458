"""Hydra: the composed config of a ``@hydra.main`` app is stored as the configuration object
``OmegaConf`` (OmegaConf YAML) and its command-line overrides as parameters ``Hydra/<key>``,
with ``Hydra/_allow_omegaconf_edit_`` (False), as ClearML does.

When the task is run by an agent, the stored ``Hydra/`` overrides replace the command line's
(an edited value is applied, a new one added with ``++``, a deleted one dropped); with
``Hydra/_allow_omegaconf_edit_`` True the stored ``OmegaConf`` object is the config the app
gets instead. Hydra composes the config inside ``Hydra.run`` with no hook before that, so it
is wrapped; the app's task function is wrapped to see the composed config. When ``Task.init``
runs inside the app, the running job's overrides and config (recomposed with
``hydra.compose``) are recorded.
"""
from __future__ import annotations

import functools
import io
import os
import sys
from typing import Any, Optional

from .arguments import ArgsRecorder, stored_rows, truthy
from .hooks import patch, when_imported
from .options import FrameworkOption

SECTION = "Hydra"
CONFIG_NAME = "OmegaConf"
ALLOW_EDIT = "_allow_omegaconf_edit_"
CONFIG_TYPE = "OmegaConf YAML"
_recorder = ArgsRecorder()
_pending_config: dict[str, Optional[str]] = {"yaml": None, "description": None}


def connect(task: Any, option: FrameworkOption) -> None:
    """Record Hydra apps run from now on (and the running job, if ``Task.init`` is inside it)."""
    arm()
    if _pending_config["yaml"] is None and "hydra" in sys.modules:
        _record_running_job()
    _flush()


def arm() -> None:
    """Wrap Hydra's run once hydra is imported (needs no task: the record waits for ``Task.init``)."""
    when_imported("hydra", _bind)


def _bind(hydra: Any) -> None:
    from hydra._internal import hydra as internal  # the module where Hydra.run composes the config
    patch(internal.Hydra, "run", _running)


def _running(original: Any) -> Any:
    def run(self: Any, config_name: Any, task_function: Any, overrides: list, *args: Any, **kwargs: Any) -> Any:
        stored = stored_rows(SECTION)
        allow_edit = False
        if stored:
            allow_edit = truthy(stored.pop(ALLOW_EDIT, {"value": "False"})["value"])
            overrides = _stored_overrides(self, list(overrides), stored)
        return original(self, config_name, _tracking(task_function, allow_edit), overrides, *args, **kwargs)

    return run


def _key_of(override: str) -> tuple[str, str, Optional[str]]:
    """'++db.port=5' -> ('++', 'db.port', '5'); '~db' -> ('~', '~db', None): the prefix, the
    parameter name (a deletion keeps its '~') and the value."""
    text, value = override.split("=", 1) if "=" in override else (override, None)
    key = text.lstrip("+~")
    prefix = text[: len(text) - len(key)]
    return prefix, ("~" + key if prefix == "~" else key), value


def _stored_overrides(hydra_app: Any, overrides: list, stored: dict) -> list:
    """The command line's overrides with the stored ``Hydra/`` ones applied."""
    result, seen = [], set()
    for override in overrides:
        prefix, key, _ = _key_of(override)
        if key.split(".")[0] == "hydra":
            result.append(override)  # Hydra's own settings (run dir, ...) are not recorded
            continue
        row = stored.get(key)
        if row is None:
            continue  # removed from the clone
        seen.add(key)
        result.append(_override(prefix, key, row["value"]))
    for key, row in stored.items():
        if key not in seen:
            prefix = "~" if key.startswith("~") else ("" if _is_group(hydra_app, key) else "++")
            result.append(_override(prefix, key, row["value"]))
    return result


def _override(prefix: str, key: str, value: Optional[str]) -> str:
    if prefix == "~":
        return key if value in (None, "") else f"{key}={value}"
    return f"{prefix}{key}={value or ''}"


def _is_group(hydra_app: Any, key: str) -> bool:
    try:
        return bool(hydra_app.config_loader.repository.group_exists(key.lstrip("~")))
    except Exception:  # noqa: BLE001 - unknown: treat it as a value
        return False


def _tracking(task_function: Any, allow_edit: bool) -> Any:
    @functools.wraps(task_function)
    def task_with_tracking(cfg: Any) -> Any:
        from omegaconf import OmegaConf
        description = (f"Full OmegaConf YAML configuration. Read-only, unless '{SECTION}/{ALLOW_EDIT}' is True")
        if allow_edit:
            from ..task import Task
            from ..task_lookup import TASK_ID_ENV
            task = Task.current_task() or Task.get_task(task_id=os.environ[TASK_ID_ENV])
            text = task.get_configuration_object(CONFIG_NAME)
            if text:
                cfg = OmegaConf.load(io.StringIO(text))
                description = f"Full OmegaConf YAML configuration, edited ('{SECTION}/{ALLOW_EDIT}' is True)"
        _record(OmegaConf.to_yaml(cfg, resolve=False), _job_overrides(), allow_edit, description)
        _flush()
        return task_function(cfg)

    return task_with_tracking


def _job_overrides() -> list:
    from hydra.core.hydra_config import HydraConfig
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def _record(yaml_text: str, overrides: list, allow_edit: bool, description: str) -> None:
    _pending_config.update(yaml=yaml_text, description=description)
    for override in overrides:
        prefix, key, value = _key_of(override)
        _recorder.add(f"{SECTION}/{key}", key, value)
    _recorder.add(f"{SECTION}/{ALLOW_EDIT}", ALLOW_EDIT, allow_edit)


def _record_running_job() -> None:
    """``Task.init`` inside the app: the job's overrides, and its config composed again."""
    from hydra.core.hydra_config import HydraConfig
    if not HydraConfig.initialized():
        return
    import hydra
    from omegaconf import OmegaConf
    job = HydraConfig.get().job
    overrides = _job_overrides()
    try:
        cfg = hydra.compose(config_name=job.config_name, overrides=overrides)
    except Exception:  # noqa: BLE001 - the overrides are still worth recording
        cfg = None
    description = f"Full OmegaConf YAML configuration. Read-only, unless '{SECTION}/{ALLOW_EDIT}' is True"
    _record(OmegaConf.to_yaml(cfg, resolve=False) if cfg is not None else "", overrides, False, description)


def _flush() -> None:
    from ..task import Task
    task = Task.current_task()
    if task is None or task._closed:
        return
    _recorder.flush()
    if _pending_config["yaml"] is not None:
        task.set_configuration_object(CONFIG_NAME, config_text=_pending_config["yaml"], config_type=CONFIG_TYPE,
                                      description=_pending_config["description"])
        _pending_config.update(yaml=None, description=None)

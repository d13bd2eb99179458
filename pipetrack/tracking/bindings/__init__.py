"""What ``Task.init`` records without being asked: ``auto_connect_frameworks`` and the argument
parsers beyond argparse (argparse itself: ``tracking/capture.py``).

One module per framework in this package, each with ``connect(task, option)``: it registers,
through :func:`hooks.when_imported`, the callbacks that bind to the framework once the user
imports it (importing a binding module imports no framework), and binds through the framework's
own extension points (callbacks, writer hooks) where it has them, wrapping functions with
:func:`hooks.patch` only where it does not. Bound code finds its task with
``Task.current_task()`` at event time. :func:`disconnect` (the main task's close) undoes every
patch and pending hook.
"""
from __future__ import annotations

import importlib
from typing import Any

from . import hooks
from .options import framework_option

# auto_connect_frameworks key -> (binding module in this package, other keys ClearML accepts for it)
FRAMEWORKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "matplotlib": ("matplotlib", ()),
    "tensorboard": ("tensorboard", ()),       # tensorboardX, torch.utils.tensorboard, tf.summary writers
    "pytorch": ("pytorch", ()),               # torch.save / torch.load model files
    "joblib": ("joblib", ("scikit",)),        # joblib.dump / load (scikit-learn models)
    "xgboost": ("xgboost", ()),               # save_model / load_model, per-round metrics
    "lightgbm": ("lightgbm", ()),
    "catboost": ("catboost", ()),
    "tensorflow": ("keras", ("keras",)),      # Keras model.save / load, fit() metrics
    "hydra": ("hydra", ()),                   # the composed config (OmegaConf) and its overrides
}
# bindings of argument parsers (besides argparse), under auto_connect_arg_parser
ARG_PARSERS: tuple[str, ...] = ("click", "fire", "jsonargparse")


def connect_frameworks(task: Any, option: Any) -> None:
    """Bind every framework ``auto_connect_frameworks`` (``option``) leaves enabled."""
    for key, (module, aliases) in FRAMEWORKS.items():
        framework = framework_option(option, key, aliases)
        if framework.enabled:
            importlib.import_module(f"{__name__}.{module}").connect(task, framework)


def connect_arg_parsers(task: Any, option: Any) -> None:
    """Bind the argument parsers of ``ARG_PARSERS`` unless ``auto_connect_arg_parser`` is off."""
    if option is False or option == {}:
        return
    for module in ARG_PARSERS:
        importlib.import_module(f"{__name__}.{module}").connect(task, option)


def arm_arg_parsers() -> None:
    """At ``import pipetrack``, as argparse's hook is: wrap each parser once the user imports it,
    so values parsed before ``Task.init`` are kept for it, and an agent run (which names its task
    in the environment) applies the stored values even to a config built before ``Task.init``
    (``@hydra.main`` around a function that calls it)."""
    for module in (*ARG_PARSERS, "hydra"):
        importlib.import_module(f"{__name__}.{module}").arm()


def preload() -> None:
    """Import every binding module now (none imports its framework): for a process that forks
    step processes, so each step does not import them again."""
    for module, _ in FRAMEWORKS.values():
        importlib.import_module(f"{__name__}.{module}")
    for module in ARG_PARSERS:
        importlib.import_module(f"{__name__}.{module}")


def disconnect() -> None:
    """Leave the process as it was before ``Task.init``: undo patches, drop pending import hooks."""
    hooks.restore_all()

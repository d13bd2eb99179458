"""PyTorch: a file written by ``torch.save`` is registered as an output model of the current task
(framework ``PyTorch``), a file read by ``torch.load`` as an input model (see ``model_files``).
torch has no hook for "a file was saved", so ``torch.save`` / ``torch.load`` are wrapped."""
from __future__ import annotations

from typing import Any

from . import model_files
from .hooks import patch, when_imported
from .options import FrameworkOption


def connect(task: Any, option: FrameworkOption) -> None:
    when_imported("torch", lambda torch: _bind(torch, option))


def _bind(torch: Any, option: FrameworkOption) -> None:
    patch(torch, "save", model_files.saving(option, model_files.PYTORCH, model_files.argument(1, "f")))
    patch(torch, "load", model_files.loading(option, model_files.PYTORCH, model_files.argument(0, "f")))

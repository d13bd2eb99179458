"""matplotlib: each figure shown with ``pyplot.show()`` is reported to the current task
(``Logger.report_matplotlib_figure``, title from the figure's suptitle) before it is displayed.
matplotlib has no hook for "a figure is shown", so ``pyplot.show`` is wrapped."""
from __future__ import annotations

from typing import Any

from .hooks import patch, when_imported
from .options import FrameworkOption


def connect(task: Any, option: FrameworkOption) -> None:
    when_imported("matplotlib.pyplot", _bind)


def _bind(pyplot: Any) -> None:
    patch(pyplot, "show", lambda original: _reporting_show(pyplot, original))


def _reporting_show(pyplot: Any, original: Any) -> Any:
    shown = {"count": 0}

    def show(*args: Any, **kwargs: Any) -> Any:
        from ..task import Task
        task = Task.current_task()
        if task is not None:
            for number in pyplot.get_fignums():
                figure = pyplot.figure(number)
                suptitle = getattr(figure, "_suptitle", None)
                title = suptitle.get_text() if suptitle is not None else f"Figure {number}"
                task.get_logger().report_matplotlib_figure(title, "plot", figure, iteration=shown["count"])
            shown["count"] += 1
        return original(*args, **kwargs)

    return show

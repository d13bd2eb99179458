"""Framework hooks of ``auto_connect_frameworks``: currently matplotlib's ``plt.show()``.

When matplotlib is (or later gets) imported, ``pyplot.show`` is wrapped so each shown figure is
reported to the current task with ``Logger.report_matplotlib_figure`` before it is displayed.
"""
from __future__ import annotations

import sys
from typing import Any, Mapping


def _wanted(option: Any, name: str) -> bool:
    if isinstance(option, Mapping):
        return bool(option.get(name, True)) if option else False
    return bool(option)


def _patch_pyplot(pyplot: Any) -> None:
    if getattr(pyplot.show, "_pipetrack", False):
        return
    original = pyplot.show

    def show(*args: Any, **kwargs: Any) -> Any:
        from .task import Task
        task = Task.current_task()
        if task is not None:
            counter = getattr(show, "_count", 0)
            for number in pyplot.get_fignums():
                figure = pyplot.figure(number)
                title = figure._suptitle.get_text() if getattr(figure, "_suptitle", None) else f"Figure {number}"
                task.get_logger().report_matplotlib_figure(title, "plot", figure, iteration=counter)
            show._count = counter + 1  # type: ignore[attr-defined]
        return original(*args, **kwargs)

    show._pipetrack = True  # type: ignore[attr-defined]
    pyplot.show = show


class _PyplotFinder:
    """Import hook: patch pyplot right after it is first imported."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None):
        if fullname != "matplotlib.pyplot":
            return None
        import importlib.util
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original_exec = loader.exec_module

        def exec_module(module: Any) -> None:
            original_exec(module)
            _patch_pyplot(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def connect_frameworks(task: Any, option: Any) -> None:
    if not _wanted(option, "matplotlib"):
        return
    if "matplotlib.pyplot" in sys.modules:
        _patch_pyplot(sys.modules["matplotlib.pyplot"])
    elif not any(isinstance(f, _PyplotFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _PyplotFinder())

"""The bindings' machinery: hooks that run after a module's first import, patches that
``Task.close`` undoes, and the seed's ``auto_connect_frameworks`` dict/wildcard rules."""
from __future__ import annotations

import sys
import textwrap

import pytest

from pipetrack.errors import ValidationError
from pipetrack.tracking.bindings import hooks
from pipetrack.tracking.bindings.options import argument_allowed, framework_option


@pytest.fixture
def fresh_module(tmp_path, monkeypatch):
    """A module file nobody has imported yet."""
    (tmp_path / "pt_fresh_framework.py").write_text(textwrap.dedent("""
        class Writer:
            def write(self, value):
                return value
        def save(obj, path):
            return "saved " + path
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "pt_fresh_framework"
    hooks.restore_all()
    sys.modules.pop("pt_fresh_framework", None)


def test_when_imported_waits_for_the_import_then_patches_are_undone(fresh_module):
    seen = []
    hooks.when_imported(fresh_module, seen.append)
    assert seen == [] and fresh_module not in sys.modules  # nothing imported on the user's behalf
    import pt_fresh_framework as framework
    assert seen == [framework]
    original_save, original_write = framework.save, framework.Writer.write
    assert hooks.patch(framework, "save", lambda orig: lambda obj, path: orig(obj, path).upper())
    assert not hooks.patch(framework, "save", lambda orig: orig)  # once only
    assert hooks.patch(framework.Writer, "write", lambda orig: lambda self, v: orig(self, v) * 2)
    assert framework.save(1, "m.pt") == "SAVED M.PT" and framework.Writer().write(2) == 4
    assert hooks.original_of(framework.save) is original_save
    hooks.when_imported("pt_never_imported_module", seen.append)
    hooks.restore_all()
    assert framework.save is original_save and framework.Writer.write is original_write
    assert hooks._watcher not in sys.meta_path  # no import hook is left behind


def test_a_failing_hook_warns_and_never_breaks_the_users_import(fresh_module):
    hooks.when_imported(fresh_module, lambda module: 1 / 0)
    with pytest.warns(RuntimeWarning, match="could not bind to pt_fresh_framework: ZeroDivisionError"):
        import pt_fresh_framework  # noqa: F401


def test_framework_options_follow_the_seed():
    assert framework_option(True, "pytorch").enabled and not framework_option(False, "pytorch").enabled
    assert not framework_option({}, "pytorch").enabled  # an empty dict turns everything off
    assert framework_option({"joblib": False}, "pytorch").enabled  # missing keys default to True
    assert not framework_option({"scikit": False}, "joblib", aliases=("scikit",)).enabled
    pt = framework_option({"pytorch": "*.pt"}, "pytorch")
    assert pt.accepts("/runs/model.pt") and not pt.accepts("/runs/model.bin")
    listed = framework_option({"tensorflow": ["*.h5", "best*"]}, "tensorflow")
    assert listed.accepts("out/best_model.keras") and listed.accepts("w.h5") and not listed.accepts("w.pb")
    tb = framework_option({"tensorboard": {"report_hparams": False}}, "tensorboard")
    assert tb.enabled and tb.setting("report_hparams", True) is False and tb.accepts("anything")
    with pytest.raises(ValidationError, match=r"auto_connect_frameworks\['pytorch'\].*got 3"):
        framework_option({"pytorch": 3}, "pytorch")
    with pytest.raises(ValidationError, match="auto_connect_frameworks must be a bool or a dict"):
        framework_option("yes", "pytorch")
    assert argument_allowed({"lr": True, "*": False}, "lr") and not argument_allowed({"lr": True, "*": False}, "x")
    assert not argument_allowed({}, "lr") and argument_allowed(True, "lr")


def test_closing_the_task_unwraps_pyplot_show(run_script):
    pytest.importorskip("matplotlib")
    proc = run_script("""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        before = plt.show
        from pipetrack import Task
        task = Task.init("bindings", "unwrap")
        during = plt.show
        task.close()
        print(during is not before, plt.show is before)
    """)
    assert proc.stdout.split() == ["True", "True"], proc.stderr

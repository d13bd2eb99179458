"""Property-based (Hypothesis) fuzzing of the public entry points that take user text or structures.

The invariant, for every entry point: EITHER a ``pipetrack.errors`` exception is raised whose
message names the bad value, OR the value round-trips when read back through the public API
(a fresh ``Task.get_task(task_id=...)``). Never an unrelated exception (TypeError, KeyError,
UnicodeEncodeError, sqlite3 errors, OSError ...), never a file written outside the task's own
artifact folder, never a lost neighbouring row (a known-good report made beside the hostile one
must survive the flush).

"Round-trips" follows what each API documents: names are stripped (``check_name``), a bare
parameter name goes to the ``General`` section, parameters read back typed with ``cast=True``,
report_scalar takes ``float(value)`` at ``int(iteration)``, console text keeps lone surrogates as
backslash escapes (``reporting.storable_text``).

Real stores under the test's PIPETRACK_HOME (the autouse ``pipetrack_home`` fixture); examples of
one test share its store, which is why the function-scoped fixture health check is suppressed.
"""
from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from pipetrack import Task
from pipetrack.errors import PipetrackError
from pipetrack.storage import local_path
from pipetrack.storage.artifact_types import norm_ext
from pipetrack.tracking.models import OutputModel
from pipetrack.tracking.parameters import flatten
from pipetrack.tracking.reporting import storable_text

# Hypothesis keeps caches (charmap, constants) in ./.hypothesis even with database=None: keep them
# out of the checkout (this sets the folder for the whole session, a temp folder shared by runs).
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "pipetrack-tests-hypothesis"))

FUZZ = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

HUGE_INT = 10 ** 5000  # has no repr/str at all (sys.get_int_max_str_digits): messages must still name it
HUGE = st.builds(lambda: HUGE_INT)  # (st.just would put it in the strategy's repr, which then fails)
# text of any code point, lone surrogates included (Hypothesis leaves category Cs out by default)
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=24)
NASTY_TEXT = st.sampled_from([
    "", " ", "\x00", "a\x00b", "\ud800", "x\udfffy", "\udcff", "a/b", "/abs/path", "../../etc", "..", ".", "a//b",
    "/", "\\", "C:\\x", "a" * 3000, "名前" * 200, "😀", "\n", "tab\t", "'; DROP TABLE tasks;--", "${x}", "%s",
    " padded ", "a\u202eb", "\ufeff"])
TEXT = st.one_of(NASTY_TEXT, ANY_TEXT)
NON_STR = st.one_of(st.integers(), st.floats(), st.booleans(), st.binary(max_size=4), HUGE,
                    st.lists(st.text(max_size=3), max_size=2), st.builds(object), st.just(b"bytes"))
NAME = st.one_of(TEXT, NON_STR)
FLOATS = st.floats(allow_nan=True, allow_infinity=True)
NUMBER_LIKE = st.one_of(FLOATS, st.integers(), HUGE, st.just(2 ** 70), st.booleans(), st.none(),
                        TEXT, st.sampled_from(["1.5", " 2 ", "nan", "inf", "1e999", "0x10"]),
                        st.lists(st.integers(), max_size=2), st.just(complex(1, 2)))
ITERATION = st.one_of(st.integers(min_value=-(2 ** 63), max_value=2 ** 63 - 1), st.integers(),
                      st.just(2 ** 63), HUGE, FLOATS, TEXT, st.none(), st.booleans())


def shown(value: Any) -> str:
    try:
        return repr(value)
    except ValueError:  # an int with no decimal text form
        return "<int of about"


def names_value(message: str, value: Any) -> bool:
    """The message names ``value``: its repr, or (for longer text) its repr without the quotes
    (as inside a composed key such as ``'Args/<value>'``), or pipetrack's name for a huge int."""
    if shown(value) in message:
        return True
    if isinstance(value, str) and len(shown(value)) >= 5 and shown(value)[1:-1] in message:
        return True
    return isinstance(value, int) and shown(value) == "<int of about" and "digits" in message


def names_any(message: str, *values: Any) -> bool:
    return any(names_value(message, v) for v in values)


def same(a: Any, b: Any) -> bool:
    """Equality where NaN equals NaN (also inside lists and dicts)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def expect_error_or(action, *bad_values: Any) -> bool:
    """Run ``action``; True if it succeeded, False if it raised a pipetrack error naming one of
    ``bad_values``. Anything else fails the test (an unrelated exception propagates as is)."""
    try:
        action()
    except PipetrackError as exc:
        assert names_any(str(exc), *bad_values), f"the error does not name the value: {exc}"
        return False
    return True


def files_under(root: Path) -> set[str]:
    return {str(p) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def new_files_stay_in(task: Task, before: set[str], home: Path) -> set[str]:
    """Files that appeared under the artifacts tree since ``before``: all inside the task's folder."""
    folder = os.path.realpath(local_path(task.get_output_destination()))
    new = files_under(home / "artifacts") - before
    outside = [f for f in new if not os.path.realpath(f).startswith(folder + os.sep)]
    assert not outside, f"files written outside the task folder {folder}: {outside}"
    return new


def main_task(name: str = "fuzz") -> Task:
    return Task.init("fuzz", name, reuse_last_task_id=False, auto_connect_arg_parser=False,
                     auto_connect_frameworks=False, auto_resource_monitoring=False, auto_connect_streams=False)


# ------------------------------------------------------------------------------ names and tags
@FUZZ
@given(project=NAME, name=NAME, tags=st.one_of(st.lists(TEXT, max_size=3), st.lists(NAME, min_size=1, max_size=2),
                                               TEXT, st.integers(), st.none()))
def test_task_create_names_and_tags(project, name, tags):
    holder: dict = {}
    if not expect_error_or(lambda: holder.update(task=Task.create(project_name=project, task_name=name, tags=tags)),
                           project, name, tags, *(tags if isinstance(tags, list) else [])):
        return
    stored = Task.get_task(task_id=holder["task"].id)
    assert stored.name == name.strip()
    assert stored.get_project_name() == project.strip()
    assert stored.get_tags() == list(tags or [])


@FUZZ
@given(project=NAME, name=NAME, tags=st.one_of(st.lists(TEXT, max_size=3), st.lists(NAME, min_size=1, max_size=2)))
def test_task_init_names_and_tags(project, name, tags):
    holder: dict = {}

    def init():
        holder["task"] = Task.init(project, name, tags=tags, reuse_last_task_id=False, auto_connect_arg_parser=False,
                                   auto_connect_frameworks=False, auto_resource_monitoring=False,
                                   auto_connect_streams=False)
    if not expect_error_or(init, project, name, tags, *tags):
        assert Task.current_task() is None  # a refused init leaves no half-started main task
        return
    task = holder["task"]
    task.close()
    stored = Task.get_task(task_id=task.id)
    assert (stored.name, stored.get_project_name(), stored.get_tags()) == (name.strip(), project.strip(), tags)
    assert stored.get_status() == "completed"


@FUZZ
@given(tags=st.one_of(st.lists(NAME, max_size=3), NAME))
def test_add_and_set_tags(tags):
    task = Task.create(project_name="fuzz", task_name="tags")
    task.set_tags(["known"])
    if not expect_error_or(lambda: task.add_tags(tags), tags, *(tags if isinstance(tags, list) else [])):
        assert Task.get_task(task_id=task.id).get_tags() == ["known"]  # a refused edit changes nothing
        return
    added = [tags] if isinstance(tags, str) else list(tags)
    assert Task.get_task(task_id=task.id).get_tags() == list(dict.fromkeys(["known", *added]))


# ------------------------------------------------------------------------------ parameters
PARAM_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), FLOATS, TEXT, HUGE),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)), max_leaves=6)
PARAM_KEY = st.one_of(TEXT, st.builds(lambda s, n: f"{s}/{n}", TEXT, TEXT))


@FUZZ
@given(params=st.dictionaries(PARAM_KEY, PARAM_VALUE, max_size=4))
def test_set_parameters_round_trip(params):
    task = Task.create(project_name="fuzz", task_name="params")
    task.set_parameters({"Known/good": 1})
    hostile = {**params, "Known/good": 1}
    if not expect_error_or(lambda: task.set_parameters(hostile), *params, *params.values()):
        assert Task.get_task(task_id=task.id).get_parameters(cast=True) == {"Known/good": 1}  # all or nothing
        return
    expected = {(k if "/" in k else f"General/{k}"): v for k, v in hostile.items()}
    got = Task.get_task(task_id=task.id).get_parameters(cast=True)
    assert same(got, expected), (got, expected)


@FUZZ
@given(config=st.dictionaries(TEXT, st.one_of(PARAM_VALUE, st.dictionaries(TEXT, PARAM_VALUE, max_size=3)),
                              max_size=4),
       section=st.one_of(st.none(), st.sampled_from(["Cfg", "a/b", "名前", " s "])))
def test_connect_nested_dict_round_trip(config, section):
    task = main_task("connect")
    before = task.get_parameters(cast=True)
    if not expect_error_or(lambda: task.connect(config, name=section), *[k for k, _ in flatten(config)],
                           *[v for _, v in flatten(config)]):
        after = Task.get_task(task_id=task.id).get_parameters(cast=True)
        assert same(after, before), (after, before)  # NaN stored by an earlier example is not == itself
        return
    prefix = section or "General"
    expected = {f"{prefix}/{k}": v for k, v in flatten(config)}
    got = Task.get_task(task_id=task.id).get_parameters(cast=True)
    assert same({k: v for k, v in got.items() if k in expected}, expected)
    assert set(before) <= set(got)  # earlier connects are kept


# ------------------------------------------------------------------------------ reports
@FUZZ
@given(title=NAME, series=NAME, value=NUMBER_LIKE, iteration=ITERATION)
def test_report_scalar_round_trip(title, series, value, iteration):
    task = main_task("scalars")
    logger = task.get_logger()
    known = len(task.get_all_reported_scalars().get("known", {}).get("good", {}).get("x", []))
    logger.report_scalar("known", "good", 1.0, known)
    accepted = expect_error_or(lambda: logger.report_scalar(title, series, value, iteration),
                               title, series, value, iteration)
    logger.report_scalar("known", "good", 2.0, known + 1)
    task.flush()
    scalars = Task.get_task(task_id=task.id).get_all_reported_scalars()
    assert scalars["known"]["good"]["x"] == list(range(known + 2))  # the neighbours survived
    if accepted:
        graph = scalars[title][series]
        points = list(zip(graph["x"], graph["y"]))
        assert any(x == int(iteration) and same(y, float(value)) for x, y in points), (points, value, iteration)
        assert series in Task.get_task(task_id=task.id).get_last_scalar_metrics()[title]


@FUZZ
@given(name=NAME, value=NUMBER_LIKE)
def test_report_single_value_round_trip(name, value):
    task = main_task("single")
    logger = task.get_logger()
    logger.report_single_value("known", 1.0)
    if expect_error_or(lambda: logger.report_single_value(name, value), name, value):
        assert same(Task.get_task(task_id=task.id).get_reported_single_values()[name], float(value))
    assert Task.get_task(task_id=task.id).get_reported_single_values()["known"] == 1.0


@FUZZ
@given(message=st.one_of(TEXT, NON_STR), print_console=st.booleans())
def test_report_text_keeps_every_line(message, print_console, capsys):
    task = main_task("console")
    logger = task.get_logger()
    logger.report_text(message, print_console=print_console)  # console text is never refused
    logger.report_text("known line", print_console=False)
    task.flush()
    lines = Task.get_task(task_id=task.id).get_reported_console_output(2)
    if message is HUGE_INT:  # str() can't make it text: a line naming it is recorded
        assert "digits" in lines[0] and lines[1] == "known line"
    else:
        assert lines == [storable_text(str(message)), "known line"]


@FUZZ
@given(title=NAME, series=NAME, iteration=st.one_of(st.none(), ITERATION),
       kind=st.sampled_from(["plotly", "histogram", "scatter2d", "table", "confusion"]))
def test_plot_titles_round_trip(title, series, iteration, kind):
    task = main_task("plots")
    logger = task.get_logger()
    report = {
        "plotly": lambda: logger.report_plotly(title, series, {"data": [{"y": [1]}]}, iteration=iteration),
        "histogram": lambda: logger.report_histogram(title, series, [1, 2], iteration=iteration),
        "scatter2d": lambda: logger.report_scatter2d(title, series, [[0, 1], [1, 2]], iteration=iteration),
        "table": lambda: logger.report_table(title, series, iteration=iteration, table_plot=[["a"], [1]]),
        "confusion": lambda: logger.report_confusion_matrix(title, series, [[1, 0], [0, 1]], iteration=iteration),
    }[kind]
    before = len(task.get_reported_plots())
    logger.report_plotly("known", "plot", {"data": []})
    accepted = expect_error_or(report, title, series, iteration)
    plots = Task.get_task(task_id=task.id).get_reported_plots()
    assert len(plots) == before + 1 + accepted
    assert plots[before]["metric"] == "known"
    if accepted:
        assert (plots[-1]["metric"], plots[-1]["variant"]) == (title, series)
        assert plots[-1]["iter"] == (None if iteration is None else int(iteration))


# ------------------------------------------------------------------------------ artifacts and models
EXTENSIONS = st.one_of(st.none(), st.sampled_from([".json", "json", ".yaml", ".pkl", ".txt", "", ".", "..", "/abs",
                                                   "../x", "\x00", ".\ud800", "a/b", ".JSON", " .json"]), TEXT)


JSON_DATA = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), FLOATS, TEXT),
                         lambda inner: st.one_of(st.lists(inner, max_size=2), st.dictionaries(TEXT, inner, max_size=2)),
                         max_leaves=5)


@FUZZ
@given(name=NAME, extension=EXTENSIONS, metadata=st.one_of(st.none(), st.dictionaries(TEXT, JSON_DATA, max_size=2)))
def test_upload_artifact_names_and_extensions(name, extension, metadata, pipetrack_home):
    task = main_task("artifacts")
    task.upload_artifact("known", {"k": 1})
    before = files_under(pipetrack_home / "artifacts")
    # the error names the extension as normalised ('.CSV ' -> '.csv', see storage.artifact_types.norm_ext)
    accepted = expect_error_or(lambda: task.upload_artifact(name, {"v": [1, "x"]}, extension_name=extension,
                                                            metadata=metadata),
                               name, extension, norm_ext(extension), metadata)
    new = new_files_stay_in(task, before, pipetrack_home)
    stored = Task.get_task(task_id=task.id).artifacts
    assert stored["known"].get() == {"k": 1}
    if accepted:
        assert stored[name].get() == {"v": [1, "x"]}
        assert same(stored[name].metadata, metadata or {})
        assert os.path.realpath(local_path(stored[name].url)) in {os.path.realpath(f) for f in new} | \
            {os.path.realpath(f) for f in before}
    else:
        assert not new, f"a refused upload left files: {new}"


@FUZZ
@given(name=TEXT, suffix=st.text(st.characters(exclude_characters="/\x00", exclude_categories=("Cs",)), max_size=12))
def test_upload_file_artifact_with_odd_file_names(name, suffix, tmp_path, pipetrack_home):
    task = main_task("files")
    source = tmp_path / f"data{suffix}"
    if len(source.name.encode()) > 200:
        return  # the user's own file could not exist
    source.write_bytes(b"payload " + suffix.encode())
    before = files_under(pipetrack_home / "artifacts")
    # a Path is always a file artifact (a str with a newline is text, as serializers.py documents)
    if not expect_error_or(lambda: task.upload_artifact(name, source), name):
        return
    new_files_stay_in(task, before, pipetrack_home)
    artifact = Task.get_task(task_id=task.id).artifacts[name]
    assert Path(artifact.get_local_copy(raise_on_error=True)).read_bytes() == b"payload " + suffix.encode()


@FUZZ
@given(name=st.one_of(st.none(), NAME), tags=st.one_of(st.none(), st.lists(NAME, max_size=2)))
def test_output_model_names(name, tags, tmp_path, pipetrack_home):
    task = main_task("models")
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"weights")
    before = files_under(pipetrack_home / "artifacts")
    holder: dict = {}

    def register():
        model = OutputModel(task=task, name=name, tags=tags)
        holder["url"] = model.update_weights(str(weights))
    accepted = expect_error_or(register, name, tags, *(tags or ()))  # an error may name the one bad tag
    new_files_stay_in(task, before, pipetrack_home)
    if accepted:
        model = Task.get_task(task_id=task.id).models["output"][-1]
        assert model.name == (task.name if name is None else name)
        assert model.tags == list(tags or [])
        assert Path(model.get_local_copy(raise_on_error=True)).read_bytes() == b"weights"


def test_the_strategies_reach_both_outcomes(pipetrack_home):
    """Guard against a fuzz that can't fail: fixed inputs known to be refused and accepted."""
    task = main_task("guard")
    for bad in ("\ud800", "a/b", "x" * 300, 5, b"n"):
        assert not expect_error_or(lambda: task.upload_artifact(bad, 1), bad)
    assert expect_error_or(lambda: task.upload_artifact("ok name 名前", 1))
    for bad in ("\ud800", 0):
        assert not expect_error_or(lambda: task.get_logger().report_scalar(bad, "s", 1, 0), bad)
    assert not expect_error_or(lambda: task.get_logger().report_single_value("x", HUGE_INT), HUGE_INT)
    assert not expect_error_or(lambda: Task.create(project_name="p", task_name="\udcff"), "\udcff")
    with pytest.raises(AssertionError):  # the checker itself rejects an error that does not name the value
        expect_error_or(lambda: task.upload_artifact("a/b", 1), "something else")

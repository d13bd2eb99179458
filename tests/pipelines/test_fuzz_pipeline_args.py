"""Property-based (Hypothesis) fuzzing of PipelineController's building API and ``${...}`` references.

Invariant: EITHER a ``pipetrack.errors`` exception names the bad value, OR the value is accepted
and behaves as documented (references.py, ``add_function_step``/``add_step``/``add_parameter``).
Never an unrelated exception, and never a value accepted while building that only fails once the
pipeline runs. Building (``_build_graph``, what ``start*`` runs before any step) is enough for
most properties; a few valid generated pipelines are run to completion with the inline executor
(in this process, ~20 ms a run) to check that references are substituted as documented.

Real stores under the test's PIPETRACK_HOME (autouse ``pipetrack_home``); examples of one test
share it, hence the suppressed function-scoped fixture health check.
"""
from __future__ import annotations

import math
import os
import re
import tempfile
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from pipetrack import PipelineController, Task
from pipetrack.errors import PipetrackError

# Hypothesis keeps caches (charmap, constants) in ./.hypothesis even with database=None: keep them
# out of the checkout (this sets the folder for the whole session, a temp folder shared by runs).
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "pipetrack-tests-hypothesis"))

FUZZ = settings(max_examples=80, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=16)  # lone surrogates included
NASTY = st.sampled_from(["", " ", "\x00", "\ud800", "a/b", "a.b", "pipeline", "..", "${a.id}", "}", "${", "名前",
                         "x" * 300, "a\nb", " a "])
TEXT = st.one_of(NASTY, ANY_TEXT)
NON_STR = st.one_of(st.integers(), st.floats(), st.booleans(), st.none(), st.binary(max_size=3),
                    st.lists(st.integers(), max_size=2), st.builds(object))
ANYTHING = st.one_of(TEXT, NON_STR)


def names_value(message: str, value: Any) -> bool:
    """The message names ``value``: its repr, or (longer text) its repr without the quotes."""
    text = repr(value)
    return text in message or (isinstance(value, str) and len(text) >= 5 and (text[1:-1] in message
                                                                          or value in message))


def outcome(action, *bad_values: Any) -> bool:
    """True if ``action`` succeeded; False if it raised a pipetrack error naming one of
    ``bad_values``; anything else fails the test (an unrelated exception propagates)."""
    try:
        action()
    except PipetrackError as exc:
        assert any(names_value(str(exc), v) for v in bad_values), f"the error does not name the value: {exc}"
        return False
    return True


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def make(n=1):
    return n


def echo(x=None):
    return {"x": x}  # a dict (JSON artifact): a bare str naming a file would be stored as that file


def anything(**kwargs):
    return kwargs


def pipeline() -> PipelineController:
    """A pipeline with parameter ``p`` and step ``a`` (kwarg ``n``, returns ``r``)."""
    pipe = PipelineController(name="fuzz", project="fuzz")
    pipe.add_parameter("p", 3)
    pipe.add_function_step("a", make, function_kwargs={"n": "${pipeline.p}"}, function_return=["r"])
    return pipe


# ------------------------------------------------------------------------------ ${...} references
VALID = ["pipeline.p", "a.id", "a.r", "a.artifacts.r.url", "a.parameters.kwargs/n", "a.parameters.return/r",
         "a.models.output.0.url", "a.models.input.-1.url", " a.id ", "pipeline.p "]
INVALID = ["a", "a.", ".id", "a.b.c.d.e", "pipeline.nope", "nostep.id", "a.nope", "a.artifacts..url",
           "a.artifacts.r", "a.artifacts.r.path", "a.models.output.x.url", "a.models.sideways.0.url",
           "a.models.output.0", "a.parameters.", "a.parameters.kwargs/zzz", "\ud800.id", "pipeline.", "b.id",
           " ", "a..id", "a.id.x", "${a.id"]
LITERAL = ["${", "${}", "$x", "{a.id}", "$ {a.id}", "$", "}", "${ ", "plain text"]  # no ${...} in them


@FUZZ
@given(kind=st.sampled_from(["valid", "invalid", "literal", "random"]), data=st.data(),
       prefix=st.sampled_from(["", "x=", "$ {}", "名 "]), suffix=st.sampled_from(["", " y", "/", "{}"]),
       nested=st.sampled_from(["str", "list", "dict"]))
def test_references_are_refused_naming_them_or_accepted(kind, data, prefix, suffix, nested):
    inner = data.draw({"valid": st.sampled_from(VALID), "invalid": st.sampled_from(INVALID),
                       "literal": st.just(None), "random": ANY_TEXT}[kind], label="inner")
    text = data.draw(st.sampled_from(LITERAL)) if inner is None else f"{prefix}${{{inner}}}{suffix}"
    value = {"str": text, "list": [text, 1], "dict": {"k": text}}[nested]
    pipe = pipeline()
    accepted = outcome(lambda: (pipe.add_function_step("b", anything, function_kwargs={"x": value}),
                                pipe._build_graph()),  # what start() validates before any step runs
                       f"${{{inner}}}", f"${{{(inner or '').strip()}}}", text,
                       *re.findall(r"\$\{[^}]+\}", text))  # each ${...} as written ('${0}}' holds '${0}')
    whole = text == f"${{{inner}}}"
    if kind == "valid":
        embedded_return = inner.strip() == "a.r" and not whole
        assert accepted != embedded_return, (text, accepted)  # a return value is an object, not text
    elif kind == "invalid":
        assert not accepted, f"{text!r} was accepted"
    elif kind == "literal":
        assert accepted, f"{text!r} (no reference in it) was refused"
    if accepted:
        node = pipe.get_pipeline_dag()["b"]
        assert node.function_kwargs == {"x": value}
        refers_to_a = inner is not None and inner.strip().startswith("a.") and "${" in text
        assert ("a" in node.parents) == refers_to_a, (text, node.parents)


# ------------------------------------------------------------------------------ add_function_step
# Each example makes ONE argument hostile and keeps the others valid, so the accepted paths are
# explored too and a refusal must name that argument's value.
VALID_STEP = {
    "name": st.sampled_from(["b", "step 2", "名前", "x" * 80]),
    "parents": st.sampled_from([None, ["a"], [], ("a",)]),
    "function_kwargs": st.one_of(st.none(), st.dictionaries(
        st.sampled_from(["x", "y", "名"]), st.one_of(st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2),
                                                   st.sampled_from(["${a.r}", "${pipeline.p}", "t ${a.id}", "${}"])),
        max_size=2)),
    "function_return": st.sampled_from([None, ["out"], "out", ["o1", "o2"], ()]),
    "execution_queue": st.sampled_from([None, "default", "gpu queue"]),
    "cache_executed_step": st.booleans(),
    "task_name": st.sampled_from([None, "named", " padded "]),
    "tags": st.sampled_from([None, ["t"], "t", ("t", "u")]),
    "time_limit": st.sampled_from([None, 60, 30.5]),
    "monitor_metrics": st.sampled_from([None, [("loss", "train")], [(("a", "b"), ("c", "d"))]]),
}
HOSTILE_STEP = {
    "name": ANYTHING,
    "parents": st.one_of(st.lists(st.sampled_from(["a", "nope", "\ud800", "", "b"]), min_size=1, max_size=2), ANYTHING),
    "function_kwargs": st.one_of(st.dictionaries(st.one_of(TEXT, st.integers()), ANYTHING, min_size=1, max_size=3),
                                 ANYTHING),
    "function_return": st.one_of(st.lists(TEXT, min_size=1, max_size=2), TEXT, NON_STR),
    "execution_queue": st.one_of(TEXT, NON_STR),
    "cache_executed_step": ANYTHING,
    "task_name": st.one_of(TEXT, NON_STR),
    "tags": st.one_of(st.lists(ANYTHING, min_size=1, max_size=2), TEXT, NON_STR),
    "time_limit": st.one_of(st.floats(), st.integers(), TEXT, st.booleans()),
    "monitor_metrics": st.one_of(st.lists(st.one_of(st.tuples(TEXT, TEXT), ANYTHING), min_size=1, max_size=2),
                                 ANYTHING),
}


def parts(value: Any) -> list:
    """A value and the values inside it (list items, dict keys and values, tuple items)."""
    if isinstance(value, dict):
        return [value, *value, *[p for v in value.values() for p in parts(v)]]
    if isinstance(value, (list, tuple)):
        return [value, *[p for v in value for p in parts(v)]]
    return [value]


def step_function(count: int):
    """A step function returning ``count`` values (one: its kwargs)."""
    def step(**kwargs):
        return kwargs if count <= 1 else tuple(range(count))
    return step


@FUZZ
@given(hostile=st.sampled_from(sorted(HOSTILE_STEP)), data=st.data())
def test_add_function_step_arguments(hostile, data, monkeypatch):
    monkeypatch.setenv("PIPETRACK_PROGRESS", "0")
    args = {key: data.draw(VALID_STEP[key], label=key) for key in VALID_STEP if key != hostile}
    args[hostile] = data.draw(HOSTILE_STEP[hostile], label=f"hostile {hostile}")
    name = args.pop("name")
    returns = args["function_return"]
    count = len(returns) if isinstance(returns, (list, tuple)) else 1
    pipe = pipeline()
    if not outcome(lambda: pipe.add_function_step(name, step_function(count), **args), *parts(args.get(hostile, name))):
        assert list(pipe.get_pipeline_dag()) == ["a"]  # a refused step leaves nothing behind
        return
    node = pipe.get_pipeline_dag()[name]
    assert node.return_names == ([returns] if isinstance(returns, str) else list(returns or []))
    assert node.queue == args["execution_queue"] and node.cache_executed_step is bool(args["cache_executed_step"])
    task_name = args["task_name"]
    assert node.task_name == (task_name.strip() if task_name else None)
    tags = args["tags"]
    assert node.tags == ([tags] if isinstance(tags, str) else list(tags or []))
    time_limit = args["time_limit"]
    assert node.timeout == (float(time_limit) if time_limit is not None else None)
    assert set(args["parents"] or []) <= set(node.parents)
    references = [v for v in node.function_kwargs.values() if "${" in str(v)]
    if not outcome(pipe._build_graph, *node.parents, *references):
        # only an unknown parent (or a reference to an unknown step/parameter) stops the build
        assert not set(node.parents) <= {"a"} or references, node.parents
        return
    assert set(node.parents) <= {"a"}, node.parents
    if time_limit is not None and time_limit < 5:
        return  # a step with a tiny time limit may be stopped: not what this property checks
    # accepted and built: it runs (inline, in this process) as documented, never failing at launch
    pipe.start_locally(executor="inline")
    ran = pipe.get_pipeline_dag()[name]
    assert ran.status in ("completed", "cached"), ran.error  # cached: an earlier example's run is reused
    step_task = Task.get_task(task_id=ran.executed)
    assert set(step_task.artifacts) >= set(node.return_names)
    if ran.status == "completed":
        assert step_task.name == (task_name.strip() if task_name else name)
        assert step_task.get_tags() == node.tags


@FUZZ
@given(name=ANYTHING, default=st.one_of(ANYTHING, st.dictionaries(TEXT, ANYTHING, max_size=2)),
       description=st.one_of(st.none(), TEXT))
def test_add_parameter(name, default, description):
    pipe = pipeline()
    if not outcome(lambda: pipe.add_parameter(name, default, description=description), name, default, description):
        assert set(pipe.get_parameters()) == {"p"}  # a refused parameter is not half added
        return
    assert same(pipe.get_parameters()[name], default)
    stored = Task.get_task(task_id=pipe.id).get_parameters()
    assert f"Pipeline/{name}" in stored


@FUZZ
@given(name=TEXT, base=st.one_of(st.just("draft"), TEXT, NON_STR.filter(lambda v: v is not None)),
       overrides=st.one_of(st.none(), st.dictionaries(st.one_of(TEXT, st.integers()), ANYTHING, max_size=3), ANYTHING),
       recursive=st.booleans())
def test_add_step_arguments(name, base, overrides, recursive):
    draft = Task.create(project_name="fuzz", task_name="base")
    pipe = pipeline()
    base_id = draft.id if base == "draft" else base
    values = [name, base, overrides, *(overrides if isinstance(overrides, dict) else {}),
              *(overrides.values() if isinstance(overrides, dict) else [])]
    if not outcome(lambda: pipe.add_step(name, base_task_id=base_id, parameter_override=overrides,
                                         recursively_parse_parameters=recursive), *values):
        return
    assert base == "draft", base  # only the real task's id names a base task
    node = pipe.get_pipeline_dag()[name]
    assert node.base_task_id == draft.id and node.parameters == dict(overrides or {})


# ------------------------------------------------------------------------------ a few real runs
@settings(max_examples=8, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(p=st.one_of(st.text(st.characters(exclude_categories=("Cs",)), max_size=12), st.integers(-10, 10 ** 6)),
       form=st.sampled_from(["whole param", "param in text", "id in text", "whole return", "artifact url in text",
                             "literal"]),
       around=st.sampled_from([("", ""), ("pre ", " post"), ("${}", "{x}")]))
def test_valid_generated_pipelines_run_as_documented(p, form, around, monkeypatch):
    monkeypatch.setenv("PIPETRACK_PROGRESS", "0")
    pipe = PipelineController(name="fuzz run", project="fuzz")
    pipe.add_parameter("p", p)
    pipe.add_function_step("a", make, function_kwargs={"n": "${pipeline.p}"}, function_return=["r"])
    left, right = around
    value = {"whole param": "${pipeline.p}", "param in text": f"{left}${{pipeline.p}}{right}",
             "id in text": f"{left}${{a.id}}{right}", "whole return": "${a.r}",
             "artifact url in text": f"{left}${{a.artifacts.r.url}}{right}", "literal": f"{left}$x{right}"}[form]
    pipe.add_function_step("b", echo, function_kwargs={"x": value}, function_return=["out"])
    pipe.start_locally(executor="inline")
    dag = pipe.get_pipeline_dag()
    assert [dag["a"].status, dag["b"].status] == ["completed", "completed"], (dag["a"].error, dag["b"].error)
    a_task = Task.get_task(task_id=dag["a"].executed)
    out = Task.get_task(task_id=dag["b"].executed).artifacts["out"].get()["x"]
    # with nothing around it, "${pipeline.p}" is a whole reference: the value itself, not its text
    expected = {"whole param": p, "param in text": f"{left}{p}{right}" if left or right else p,
                "id in text": f"{left}{a_task.id}{right}",
                "whole return": p, "artifact url in text": f"{left}{a_task.artifacts['r'].url}{right}",
                "literal": value}[form]
    assert same(out, expected), (form, out, expected)
    assert Task.get_task(task_id=pipe.id).get_status() == "completed"


def test_fuzz_oracles_can_fail():
    """The checks above are real: known bad values are refused naming them, good ones pass."""
    pipe = pipeline()
    assert not outcome(lambda: (pipe.add_function_step("b", anything, function_kwargs={"x": "${a.b.c.d.e}"}),
                                pipe._build_graph()), "${a.b.c.d.e}")
    for bad in ("\ud800", "a.b", "pipeline", 5):
        assert not outcome(lambda: pipe.add_function_step(bad, anything), bad)
    assert not outcome(lambda: pipe.add_function_step("c", anything, function_return=["x/y"]), "x/y")
    assert outcome(lambda: pipe.add_function_step("d", anything, function_kwargs={"x": "${}"}))
    with pytest.raises(AssertionError):
        outcome(lambda: pipe.add_function_step("a", anything), "not the value")

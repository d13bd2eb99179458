"""``LazyResult``: what a component call returns inside a running decorated pipeline.

Passing a LazyResult to another component only adds an edge (it becomes a
``${step.return_name}`` reference). *Using* it — arithmetic, comparison, ``print``, ``if``,
indexing, attribute access, iteration, ``isinstance`` — waits for that one step and then
forwards to the real value, loaded from the step's artifact. If the step failed, using the
value raises the step's original exception (its type preserved), or ``StepFailed`` when it
can't be rebuilt.
"""
from __future__ import annotations

import operator
from typing import Any, Optional

from ..errors import StepFailed
from .node import SUCCESS_STATUSES

_NOT_LOADED = object()


def first_failure(nodes: dict, node: Any) -> Any:
    """The ancestor of ``node`` that failed (or was aborted) first, by end time; None if none did."""
    seen, stack, failed = set(), list(node.parents), []
    while stack:
        name = stack.pop()
        if name in seen or name not in nodes:
            continue
        seen.add(name)
        parent = nodes[name]
        if parent.status in ("failed", "aborted"):
            failed.append(parent)
        stack.extend(parent.parents)
    return min(failed, key=lambda n: n.job_ended or float("inf")) if failed else None


class LazyResult:
    """A proxy for one return value of one pipeline step."""

    __slots__ = ("_pt_run", "_pt_node", "_pt_name", "_pt_value")

    def __init__(self, run: Any, node_name: str, return_name: str):
        object.__setattr__(self, "_pt_run", run)  # the PipelineRun the step belongs to
        object.__setattr__(self, "_pt_node", node_name)
        object.__setattr__(self, "_pt_name", return_name)
        object.__setattr__(self, "_pt_value", _NOT_LOADED)

    @property
    def reference(self) -> str:
        """The ``${step.return}`` reference this result stands for."""
        return "${%s.%s}" % (self._pt_node, self._pt_name)

    def _pt_resolve(self) -> Any:
        value = object.__getattribute__(self, "_pt_value")
        if value is not _NOT_LOADED:
            return value
        run = object.__getattribute__(self, "_pt_run")
        node = run.nodes[self._pt_node]
        run.wait_for([node.name])
        if node.status not in SUCCESS_STATUSES:
            if node.exception is not None:
                raise node.exception
            cause = first_failure(run.nodes, node)
            if cause is not None:  # skipped: the step that failed first is the story, this one a consequence
                raise StepFailed(f"step '{node.name}' {node.status} because step '{cause.name}' {cause.status}: "
                                 f"{cause.error or 'no result'}", step=cause.name,
                                 original=cause.exception) from cause.exception
            raise StepFailed(f"step '{node.name}' {node.status}: {node.error or 'no result'}", step=node.name)
        value = load_output(node.outputs.get(self._pt_name), run.settings.deserialization_function)
        object.__setattr__(self, "_pt_value", value)
        return value

    @property
    def __class__(self):  # isinstance(result, dict) sees the value's type (waiting for it)
        return type(self._pt_resolve())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pt_resolve(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._pt_resolve(), name, value)

    def __repr__(self) -> str:
        return repr(self._pt_resolve())

    def __reduce__(self):
        return (_identity, (self._pt_resolve(),))


def _identity(value: Any) -> Any:
    return value


def load_output(artifact_input: Any, deserialization_function: Optional[bytes] = None) -> Any:
    """The Python value of a step output (in-process value, or loaded from storage with the
    pipeline's pickled ``artifact_deserialization_function``, if it has one)."""
    if artifact_input is None:
        return None
    if artifact_input.has_value:
        return artifact_input.value
    from ..steps import load_input
    import cloudpickle
    raw = deserialization_function
    return load_input(artifact_input, cloudpickle.loads(raw) if raw else None)


def resolve_all(value: Any) -> Any:
    """Replace LazyResults (also inside lists/tuples/dicts) by their values."""
    from ..steps import map_nested
    # type(), not isinstance(): a LazyResult reports its value's class
    return map_nested(value, lambda v: v._pt_resolve() if type(v) is LazyResult else v,
                      stop=lambda v: type(v) is LazyResult)


def _forward(name: str):
    def method(self, *args: Any) -> Any:
        return getattr(self._pt_resolve(), name)(*resolve_all(args))
    method.__name__ = name
    return method


def _forward_op(op):
    def method(self, *args: Any) -> Any:
        return op(self._pt_resolve(), *resolve_all(args))
    return method


for _name in ("__str__", "__bytes__", "__format__", "__len__", "__iter__", "__reversed__", "__contains__",
              "__getitem__", "__setitem__", "__delitem__", "__call__", "__enter__", "__exit__", "__round__",
              "__trunc__", "__floor__", "__ceil__", "__fspath__"):
    setattr(LazyResult, _name, _forward(_name))

for _name, _op in (("__add__", operator.add), ("__sub__", operator.sub), ("__mul__", operator.mul),
                   ("__truediv__", operator.truediv), ("__floordiv__", operator.floordiv), ("__mod__", operator.mod),
                   ("__pow__", operator.pow), ("__matmul__", operator.matmul), ("__and__", operator.and_),
                   ("__or__", operator.or_), ("__xor__", operator.xor), ("__lshift__", operator.lshift),
                   ("__rshift__", operator.rshift), ("__lt__", operator.lt), ("__le__", operator.le),
                   ("__eq__", operator.eq), ("__ne__", operator.ne), ("__gt__", operator.gt), ("__ge__", operator.ge),
                   ("__neg__", operator.neg), ("__pos__", operator.pos), ("__abs__", operator.abs),
                   ("__invert__", operator.invert), ("__bool__", bool), ("__int__", int), ("__float__", float),
                   ("__complex__", complex), ("__index__", operator.index), ("__hash__", hash)):
    setattr(LazyResult, _name, _forward_op(_op))

for _name, _op in (("__radd__", operator.add), ("__rsub__", operator.sub), ("__rmul__", operator.mul),
                   ("__rtruediv__", operator.truediv), ("__rfloordiv__", operator.floordiv),
                   ("__rmod__", operator.mod), ("__rpow__", operator.pow), ("__rmatmul__", operator.matmul),
                   ("__rand__", operator.and_), ("__ror__", operator.or_), ("__rxor__", operator.xor)):
    setattr(LazyResult, _name, (lambda op: lambda self, other: op(resolve_all(other), self._pt_resolve()))(_op))

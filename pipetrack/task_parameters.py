"""ClearML's ``clearml.task_parameters``: typed, validated parameter classes to connect to a task.

    class MyParams(TaskParameters):
        iterations = param(type=int, desc="Number of iterations to run", range=(0, 100000))
        target_accuracy = percent_param(desc="The target accuracy of the model")

    params = task.connect(MyParams(iterations=1000, target_accuracy=0.95), name="my params")

As in ClearML (which builds these on ``attrs``), each ``param`` is an ``__init__`` argument in
definition order (required unless it has ``default=``/``factory=``); validators run on every
assignment, so values an agent loads from the store are checked too. Validators are
callables ``(instance, attribute, value)`` (``attribute.name`` is the parameter name), so
``attrs`` validators work as well.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from .errors import ValidationError

__all__ = ["range_validator", "param", "percent_param", "TaskParameters"]

_MISSING = object()
builtins_type = type  # ``param`` has a ``type`` argument (ClearML's name), shadowing the builtin
Validator = Callable[[Any, Any, Any], None]


def range_validator(min_value: Optional[float], max_value: Optional[float]) -> Validator:
    """A validator: the value lies in ``[min_value, max_value]`` (None: no limit that side)."""

    def _range_validator(instance: Any, attribute: Any, value: Any) -> None:
        if value is None:
            return
        if (min_value is not None and value < min_value) or (max_value is not None and value > max_value):
            raise ValidationError(f"{attribute.name} must be in range [{min_value}, {max_value}], got {value!r}")

    return _range_validator


def _type_validator(expected: type) -> Validator:
    def _check(instance: Any, attribute: Any, value: Any) -> None:
        if value is not None and not isinstance(value, expected):
            raise ValidationError(f"{attribute.name} must be of type {expected.__name__} (or None), "
                                  f"got {value!r} ({type(value).__name__})")
    return _check


class Param:
    """One parameter of a :class:`TaskParameters` class (what :func:`param` returns)."""

    _counter = 0

    def __init__(self, validators: list[Validator], type: Optional[type], metadata: dict,
                 default: Any = _MISSING, factory: Optional[Callable[[], Any]] = None):
        self.name = ""
        self.validators = validators
        self.type = type
        self.metadata = metadata
        self.default = default
        self.factory = factory
        Param._counter += 1
        self._order = Param._counter

    @property
    def required(self) -> bool:
        return self.default is _MISSING and self.factory is None

    def initial(self) -> Any:
        return self.factory() if self.factory is not None else self.default

    def validate(self, instance: Any, value: Any) -> None:
        for validator in self.validators:
            validator(instance, self, value)


def _as_validators(validator: Any) -> list[Validator]:
    if not validator:
        return []
    return list(validator) if isinstance(validator, (list, tuple)) else [validator]


def param(validator: Any = None, range: Optional[tuple] = None, type: Optional[type] = None,
          desc: Optional[str] = None, metadata: Optional[dict] = None, default: Any = _MISSING,
          factory: Optional[Callable[[], Any]] = None) -> Any:
    """A parameter inside a :class:`TaskParameters` class: ``validator`` (one or a list),
    ``range=(min, max)``, ``type`` (int, str, float, ...; None values always pass), ``desc``,
    ``metadata``, and an optional ``default`` or ``factory``."""
    if type is not None and not isinstance(type, builtins_type):
        raise ValidationError(f"param type must be a class such as int, float or str, got {type!r}")
    if range is not None and (not isinstance(range, (tuple, list)) or len(range) != 2):
        raise ValidationError(f"param range must be a (min, max) pair, got {range!r}")
    metadata = dict(metadata or {})
    metadata["desc"] = desc
    validators = _as_validators(validator)
    if type is not None:
        validators.append(_type_validator(type))
    if range is not None:
        validators.append(range_validator(*range))
    return Param(validators, type, metadata, default=default, factory=factory)


def percent_param(*args: Any, **kwargs: Any) -> Any:
    """A float parameter in the range [0, 1]."""
    return param(*args, range=(0, 1), type=float, **kwargs)


class _ParamsMeta(type):
    """Collects the class's :class:`Param` attributes (bases first, then definition order)."""

    def __new__(mcs, name: str, bases: tuple, namespace: dict) -> type:
        params: dict[str, Param] = {}
        for base in reversed(bases):
            params.update(getattr(base, "__params__", {}))
        own = sorted(((k, v) for k, v in namespace.items() if isinstance(v, Param)), key=lambda kv: kv[1]._order)
        for key, value in own:
            value.name = key
            params[key] = value
            del namespace[key]
        namespace["__params__"] = params
        return super().__new__(mcs, name, bases, namespace)


class TaskParameters(metaclass=_ParamsMeta):
    """Base class of a parameter set: subclass it with :func:`param` attributes."""

    __params__: dict[str, Param] = {}

    def __init__(self, *args: Any, **kwargs: Any):
        params = type(self).__params__
        if len(args) > len(params):
            raise ValidationError(f"{type(self).__name__} takes {len(params)} parameters, got {len(args)} positional")
        values = dict(zip(params, args))
        for key in kwargs:
            if key in values:
                raise ValidationError(f"{type(self).__name__} got parameter {key!r} twice")
            if key not in params:
                raise ValidationError(f"unknown parameter {key!r} of {type(self).__name__}; "
                                      f"parameters: {list(params)}")
        values.update(kwargs)
        missing = [k for k, p in params.items() if k not in values and p.required]
        if missing:
            raise ValidationError(f"{type(self).__name__} needs parameter(s) {missing}")
        for key, spec in params.items():
            setattr(self, key, values[key] if key in values else spec.initial())

    def __setattr__(self, key: str, value: Any) -> None:
        spec = type(self).__params__.get(key)
        if spec is not None:
            spec.validate(self, value)
        object.__setattr__(self, key, value)

    def to_dict(self) -> dict[str, Any]:
        """``{name: value}`` of every parameter (nested TaskParameters become dicts too)."""
        return {k: v.to_dict() if isinstance(v, TaskParameters) else v
                for k, v in ((k, getattr(self, k)) for k in type(self).__params__)}

    def update_from_dict(self, source_dict: dict) -> None:
        """Set parameters from a dict; an unknown key is refused (ValidationError)."""
        for key, value in source_dict.items():
            if key not in type(self).__params__:
                raise ValidationError(f"Unknown key {key!r} in {type(self).__name__} object; "
                                      f"parameters: {list(type(self).__params__)}")
            setattr(self, key, value)

    def connect(self, task: Any) -> "TaskParameters":
        """``task.connect(self)``: stores the values, or (run by an agent) loads the stored ones."""
        return task.connect(self)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.to_dict() == other.to_dict()  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.to_dict().items())})"


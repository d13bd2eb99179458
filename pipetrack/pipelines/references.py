"""``${...}`` references between pipeline steps (ClearML's syntax).

Accepted forms::

    ${pipeline.<param>}                       a pipeline parameter
    ${<step>.id}                              the step's task id
    ${<step>.<return_name>}                   a function step's return value (passed as the object)
    ${<step>.artifacts.<name>.url}            the URL of one of the step's artifacts
    ${<step>.parameters.<Section/name>}       one of the step's parameters
    ${<step>.models.output.<index>.url}       an output (or input) model's URL, index may be -1

A kwarg whose whole value is one return/artifact reference becomes an artifact input (the
worker loads the object); references inside a longer string are substituted as text. A return
value has no text form there (it is an object the worker loads; the text used to be the repr
of pipetrack's internal ``ArtifactInput``), so a return reference inside a longer string is
refused when the step is added (:func:`embedded_returns`); ``${<step>.artifacts.<name>.url}``
is its text form.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from ..errors import ValidationError

REFERENCE = re.compile(r"\$\{([^}]+)\}")


@dataclass(frozen=True)
class Reference:
    text: str            # the inside of ${...}
    step: str            # "pipeline" for pipeline parameters
    kind: str            # param | id | return | artifact_url | parameter | model_url
    key: str = ""        # param name, return name, artifact name, parameter key
    index: int = -1      # model index
    role: str = "output"


def parse_reference(text: str) -> Reference:
    """Parse the inside of one ``${...}``; ValidationError on a malformed reference (naming it as
    written: ``${ }`` is not shown as ``${}``)."""
    inner = text.strip()
    step, dot, rest = inner.partition(".")
    if not dot or not step or not rest:
        raise ValidationError(f"bad reference ${{{text}}}: expected ${{pipeline.<param>}} or ${{<step>.<field>}}")
    if step == "pipeline":
        return Reference(inner, "pipeline", "param", rest)
    if rest == "id":
        return Reference(inner, step, "id")
    if rest.startswith("artifacts."):
        name, dot, field = rest[len("artifacts."):].rpartition(".")
        if not dot or not name or field != "url":
            raise ValidationError(f"bad reference ${{{text}}}: expected ${{{step}.artifacts.<name>.url}}")
        return Reference(inner, step, "artifact_url", name)
    if rest.startswith("parameters."):
        key = rest[len("parameters."):]
        if not key:
            raise ValidationError(f"bad reference ${{{text}}}: expected ${{{step}.parameters.<Section/name>}}")
        return Reference(inner, step, "parameter", key)
    if rest.startswith("models."):
        parts = rest.split(".")
        if len(parts) != 4 or parts[1] not in ("output", "input") or parts[3] != "url":
            raise ValidationError(f"bad reference ${{{text}}}: expected ${{{step}.models.output.<index>.url}}")
        try:
            index = int(parts[2])
        except ValueError:
            raise ValidationError(f"bad reference ${{{text}}}: model index {parts[2]!r} is not an integer") from None
        return Reference(inner, step, "model_url", index=index, role=parts[1])
    if "." in rest:
        raise ValidationError(f"bad reference ${{{text}}}: unknown field {rest!r} of step {step!r}")
    return Reference(inner, step, "return", rest)


def find_references(value: Any) -> list[Reference]:
    """All references inside a kwarg value (strings, and strings nested in lists/tuples/dicts)."""
    found: list[Reference] = []
    if isinstance(value, str):
        found += [parse_reference(m.group(1)) for m in REFERENCE.finditer(value)]
    elif isinstance(value, (list, tuple, set)):
        for item in value:
            found += find_references(item)
    elif isinstance(value, dict):
        for item in value.values():
            found += find_references(item)
    return found


def embedded_returns(value: Any) -> list[tuple[Reference, str]]:
    """(reference, text) of each return-value reference inside a longer string of ``value``
    (strings nested in lists/tuples/sets/dicts included): those have no text to substitute."""
    found: list[tuple[Reference, str]] = []
    if isinstance(value, str):
        if whole_reference(value) is None:
            found += [(ref, value) for ref in find_references(value) if ref.kind == "return"]
    elif isinstance(value, (list, tuple, set)):
        for item in value:
            found += embedded_returns(item)
    elif isinstance(value, dict):
        for item in value.values():
            found += embedded_returns(item)
    return found


def whole_reference(value: Any) -> Optional[Reference]:
    """The reference if ``value`` is exactly one ``${...}`` and nothing else."""
    if isinstance(value, str):
        match = REFERENCE.fullmatch(value.strip())
        if match:
            return parse_reference(match.group(1))
    return None


def referenced_steps(values: Iterable[Any]) -> list[str]:
    steps: list[str] = []
    for value in values:
        for ref in find_references(value):
            if ref.step != "pipeline" and ref.step not in steps:
                steps.append(ref.step)
    return steps


def substitute(value: Any, lookup) -> Any:
    """Replace references inside strings (also nested in lists/tuples/dicts): a whole-string
    reference by ``lookup(ref)`` itself, references inside longer text by ``str(lookup(ref))``."""
    from ..steps import map_nested

    def leaf(item: Any) -> Any:
        if not isinstance(item, str):
            return item
        whole = whole_reference(item)
        if whole is not None:
            return lookup(whole)
        return REFERENCE.sub(lambda m: str(lookup(parse_reference(m.group(1)))), item)

    return map_nested(value, leaf)

"""Values for Sigma placeholders (``field|expand: '%name%'``), and which rules lack them.

A placeholder stands for a list of values that only the analyst knows (their domain
controllers, admin workstations...). Values come from a YAML file ``name: [values]``;
names the user file does not mention fall back to the documented default shipped in
``data/placeholders.yaml``. A name with no values (``null`` or absent from both files)
leaves every rule that uses it *unresolved*: the loader lists the rule with the
placeholder's name and how to provide it, it never drops it silently and never lets the
placeholder match everything.

Resolution is a pySigma placeholder transformation run in the conversion pipeline, so a
value list expands exactly as the Sigma specification says: the field's modifiers apply
to each value and the values are alternatives (or all required, under ``|all``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._support.yaml_files import read_yaml_file
from ..errors import UsageError

if TYPE_CHECKING:
    from sigma.processing.pipeline import ProcessingPipeline
    from sigma.rule import SigmaRule

#: How a user provides values; quoted in every "unresolved" reason.
HOW_TO_PROVIDE = (
    "list its values in a placeholder file ({name}: [value, ...]) and pass it with "
    "--placeholders FILE (see docs/placeholders.md)"
)
DEFAULT_ORIGIN = "default"


def default_placeholder_file() -> Path:
    """The documented default values that ship with lotlhunt."""
    return Path(str(resources.files("lotlhunt").joinpath("data/placeholders.yaml")))


@dataclass(frozen=True)
class Placeholders:
    """Placeholder values in effect for one load, and where each came from.

    ``values[name]`` is a tuple of Sigma strings, or ``None`` for a name that is
    deliberately left unresolved. Lookups try the exact name first and then the name
    case-insensitively, because SigmaHQ spells the same placeholder in several cases
    (``%Known_Location%``, ``%KNOWN_LOCATION%``) and Windows variable names are
    case-insensitive anyway.
    """

    values: Mapping[str, tuple[str, ...] | None] = field(default_factory=dict)
    origins: Mapping[str, str] = field(default_factory=dict)
    #: The user file, if one was given (for messages).
    user_file: str | None = None

    def lookup(self, name: str) -> tuple[str | None, tuple[str, ...] | None]:
        """(the key that matched, its values); (None, None) when the name is unknown."""
        if name in self.values:
            return name, self.values[name]
        folded = name.casefold()
        for key, values in self.values.items():
            if key.casefold() == folded:
                return key, values
        return None, None

    def resolved(self, name: str) -> tuple[str, ...] | None:
        return self.lookup(name)[1]

    def unresolved_reason(self, name: str) -> str:
        """Why ``name`` has no value, and how to give it one."""
        key, _ = self.lookup(name)
        how = HOW_TO_PROVIDE.format(name=name)
        if key is None:
            return f"placeholder %{name}% unresolved: no value is known for it; {how}"
        origin = self.origins.get(key, DEFAULT_ORIGIN)
        where = "the default leaves it unresolved because it is specific to your network"
        if origin != DEFAULT_ORIGIN:
            where = f"{origin} sets it to null"
        return f"placeholder %{name}% unresolved: {where}; {how}"

    def digest(self) -> str:
        """Identity of the values in effect, for the compile cache."""
        h = hashlib.sha256()
        for key in sorted(self.values):
            h.update(repr((key, self.values[key])).encode("utf-8"))
        return h.hexdigest()


def parse_placeholder_mapping(data: Any, origin: str) -> dict[str, tuple[str, ...] | None]:
    """Validate the ``name: [values]`` document of a placeholder file.

    An empty list is refused: a placeholder with no alternatives would make a selection
    match nothing or a filter exclude nothing, silently. ``null`` says "unresolved" out
    loud instead.
    """
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{origin}: a placeholder file is a mapping name: [values]")
    out: dict[str, tuple[str, ...] | None] = {}
    for name, raw in data.items():
        if not isinstance(name, str) or not name or "%" in name or "\\" in name:
            raise UsageError(f"{origin}: invalid placeholder name {name!r}")
        if raw is None:
            out[name] = None
            continue
        items = raw if isinstance(raw, list) else [raw]
        if not items:
            raise UsageError(
                f"{origin}: placeholder {name!r} has an empty list; give at least one value, "
                "or null to leave rules that use it unresolved"
            )
        values: list[str] = []
        for item in items:
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                raise UsageError(
                    f"{origin}: placeholder {name!r}: values must be strings or numbers, "
                    f"not {item!r}"
                )
            values.append(str(item))
        out[name] = tuple(values)
    return out


def read_placeholder_file(path: Path) -> dict[str, tuple[str, ...] | None]:
    data, _ = read_yaml_file(path, "placeholder file")
    return parse_placeholder_mapping(data, str(path))


def load_placeholders(user_file: str | Path | None = None) -> Placeholders:
    """The defaults, overlaid by ``user_file`` (its values win, name by name)."""
    values: dict[str, tuple[str, ...] | None] = dict(
        read_placeholder_file(default_placeholder_file())
    )
    origins = dict.fromkeys(values, DEFAULT_ORIGIN)
    if user_file is not None:
        path = Path(user_file)
        user = read_placeholder_file(path)
        for name, vals in user.items():
            # A user name replaces any default spelled differently in case, too.
            for key in [k for k in values if k.casefold() == name.casefold()]:
                del values[key]
                origins.pop(key, None)
            values[name] = vals
            origins[name] = str(path)
    return Placeholders(values=values, origins=origins, user_file=str(user_file or "") or None)


# -- rules ------------------------------------------------------------------------------


def _placeholders_in_value(value: Any) -> Iterator[str]:
    from sigma.types import Placeholder, SigmaRegularExpression, SigmaString

    if isinstance(value, SigmaRegularExpression):
        value = value.regexp
    if isinstance(value, SigmaString):
        for part in value.s:
            if isinstance(part, Placeholder):
                yield part.name


def _walk(items: Iterable[Any]) -> Iterator[str]:
    from sigma.rule import SigmaDetection

    for item in items:
        if isinstance(item, SigmaDetection):
            yield from _walk(item.detection_items)
        else:
            for value in item.value:
                yield from _placeholders_in_value(value)


def rule_placeholders(rule: SigmaRule) -> list[str]:
    """Names of the placeholders a rule's detection uses, in order, without repeats."""
    seen: dict[str, None] = {}
    for detection in rule.detection.detections.values():
        for name in _walk(detection.detection_items):
            seen.setdefault(name, None)
    return list(seen)


def _transformation_class() -> type:
    """The pySigma transformation, defined on first use so importing us stays cheap."""
    global _TRANSFORMATION
    if _TRANSFORMATION is not None:
        return _TRANSFORMATION
    from sigma.exceptions import SigmaValueError
    from sigma.processing.transformations.placeholder import BasePlaceholderTransformation
    from sigma.types import Placeholder, SigmaString

    @dataclass
    class PlaceholderValuesTransformation(BasePlaceholderTransformation):
        """pySigma's value-list placeholder expansion, values from a :class:`Placeholders`.

        Same result as ``ValueListPlaceholderTransformation`` with pipeline variables; it
        differs only in the lookup (case-insensitive fallback) and in refusing an
        unresolved name with the reason the loader reports.
        """

        placeholders: Placeholders = field(default_factory=Placeholders)

        def placeholder_replacements(self, p: Placeholder) -> list[SigmaString]:
            values = self.placeholders.resolved(p.name)
            if values is None:
                raise SigmaValueError(self.placeholders.unresolved_reason(p.name))
            return [SigmaString(v) for v in values]

    _TRANSFORMATION = PlaceholderValuesTransformation
    return _TRANSFORMATION


_TRANSFORMATION: type | None = None


def placeholder_pipeline(placeholders: Placeholders) -> ProcessingPipeline:
    """A processing pipeline that replaces every resolved placeholder by its values."""
    from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline

    transformation = _transformation_class()(placeholders=placeholders)
    return ProcessingPipeline(
        name="lotlhunt placeholders",
        priority=10,
        items=[ProcessingItem(transformation, identifier="lotlhunt_placeholders")],
    )

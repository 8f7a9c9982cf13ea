"""Sigma logsources as conditions on the events table.

A rule never runs against events of the wrong source: its logsource resolves to one or
more :class:`Variant` slices (channels, event ids, field renames), read from
``data/logsources.yaml``. ``process_creation`` resolves to Sysmon event 1 *and* Security
4688 with the renames 4688 needs, so one rule covers both without being copied.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

import yaml

from .._support.yaml_files import YAML_LOADER

if TYPE_CHECKING:
    from sigma.rule import SigmaLogSource

WINDOWS = "windows"


@dataclass(frozen=True, slots=True)
class Rename:
    """How a slice gives a Sigma field: a named transform of some of its own fields
    (``same`` of one field: that field under the Sigma name). Each engine's dialect
    implements every transform (:class:`~lotlhunt.rules.compile.dialect.Dialect`)."""

    transform: str
    fields: tuple[str, ...]


#: The transform that is the field itself.
SAME = "same"
#: Transforms of no field: the event's own System values (its channel, its event id),
#: whatever the event's data holds under the same name. Event 104 (a log cleared) carries
#: a ``Channel`` item naming the cleared log; Hayabusa reads ``Channel`` and ``EventID``
#: as the System values only.
SYSTEM_CHANNEL = "system_channel"
SYSTEM_EVENT_ID = "system_event_id"
#: Sigma field -> how a rule that selects its events by its own ``Channel`` condition
#: reads it (see :data:`lotlhunt.rules.compiling.BY_CHANNEL`).
SYSTEM_RENAMES: tuple[tuple[str, Rename], ...] = (
    ("Channel", Rename(SYSTEM_CHANNEL, ())),
    ("EventID", Rename(SYSTEM_EVENT_ID, ())),
)


@dataclass(frozen=True, slots=True)
class Variant:
    """One slice of the events table a logsource covers."""

    name: str
    channels: tuple[str, ...]
    event_ids: tuple[int, ...] = ()
    #: Sigma field name -> how the slice's own fields give it.
    renames: tuple[tuple[str, Rename], ...] = ()

    @property
    def key(self) -> tuple[object, ...]:
        """Identity of the slice: variants with equal keys scan the same rows."""
        return (tuple(sorted(c.lower() for c in self.channels)), self.event_ids, self.renames)


def narrowed(variant: Variant, event_ids: Iterable[int] | None) -> Variant | None:
    """The part of ``variant`` a rule needing one of ``event_ids`` can match: the variant
    with only those event ids, itself when they do not narrow it (or a rename gives
    ``EventID`` another meaning there), None when it holds none of them."""
    if event_ids is None or any(
        t.lower() == "eventid" and r.transform != SYSTEM_EVENT_ID for t, r in variant.renames
    ):
        return variant
    ids = set(event_ids)
    if variant.event_ids:
        ids &= set(variant.event_ids)
        if ids == set(variant.event_ids):
            return variant
    if not ids:
        return None
    return replace(variant, event_ids=tuple(sorted(ids)))


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a logsource means here: variants to scan, or why the rule cannot run."""

    variants: tuple[Variant, ...] = ()
    #: Not for Windows event logs at all (linux, cloud, proxy...): skipped, not failed.
    not_applicable: str | None = None
    #: A Windows logsource with no mapping: the rule is reported as failed with this reason.
    unsupported: str | None = None


@cache
def _mapping() -> dict[str, dict[str, object]]:
    text = resources.files("lotlhunt").joinpath("data/logsources.yaml").read_text("utf-8")
    return yaml.load(text, Loader=YAML_LOADER)


def _rename(spec: object) -> Rename:
    """A rename as the mapping writes it: a field name, or ``{transform, fields}``."""
    if isinstance(spec, str):
        return Rename(SAME, (spec,))
    assert isinstance(spec, dict), f"rename must be a field or a transform: {spec!r}"
    fields = spec["fields"]
    assert isinstance(fields, list)
    return Rename(str(spec["transform"]), tuple(str(f) for f in fields))


def _variant(entry: dict[str, object]) -> Variant:
    renames = entry.get("renames") or {}
    assert isinstance(renames, dict)
    return Variant(
        name=str(entry["name"]),
        channels=tuple(entry["channels"]),  # type: ignore[arg-type]
        event_ids=tuple(int(i) for i in entry.get("event_ids") or ()),  # type: ignore[attr-defined]
        renames=tuple((str(k), _rename(v)) for k, v in renames.items()),
    )


def transforms_used() -> frozenset[str]:
    """Every transform the mapping and :data:`SYSTEM_RENAMES` name (each dialect must
    implement them all)."""
    categories: dict[str, list[dict[str, object]]] = _mapping()["categories"]  # type: ignore[assignment]
    return frozenset(
        rename.transform
        for entries in categories.values()
        for entry in entries
        for _, rename in _variant(entry).renames
    ) | {rename.transform for _, rename in SYSTEM_RENAMES}


def resolve(logsource: SigmaLogSource) -> Resolution:
    """Map a rule's logsource to slices of Windows event logs."""
    return resolve_names(logsource.product, logsource.category, logsource.service)


def resolve_names(product: str | None, category: str | None, service: str | None) -> Resolution:
    """:func:`resolve` of a logsource given by its names (a cached rule keeps only those)."""
    product = (product or "").lower() or None
    category = (category or "").lower() or None
    service = (service or "").lower() or None
    mapping = _mapping()
    categories: dict[str, list[dict[str, object]]] = mapping["categories"]  # type: ignore[assignment]
    services: dict[str, list[str]] = mapping["services"]  # type: ignore[assignment]
    if product not in (None, WINDOWS):
        return Resolution(not_applicable=f"product {product!r} is not Windows")
    if product is None and category not in categories and service not in services:
        return Resolution(not_applicable=f"logsource {category or service!r} is not Windows")
    if category is not None and service is None:
        if category not in categories:
            return Resolution(unsupported=f"no mapping for category {category!r}")
        return Resolution(variants=tuple(_variant(e) for e in categories[category]))
    if service is not None:
        if service not in services:
            return Resolution(unsupported=f"no mapping for service {service!r}")
        channels = tuple(services[service])
        if category is not None and category in categories:
            # Both given: the category's event ids, restricted to the service's channels.
            wanted = {c.lower() for c in channels}
            variants = tuple(
                v
                for v in (_variant(e) for e in categories[category])
                if wanted & {c.lower() for c in v.channels}
            )
            if variants:
                return Resolution(variants=variants)
        return Resolution(variants=(Variant(name=service, channels=channels),))
    # product: windows alone: every Windows event.
    return Resolution(variants=(Variant(name="windows", channels=()),))


def known_logsources() -> list[tuple[str, str, tuple[Variant, ...]]]:
    """Every Windows logsource the mapping knows, as (``category`` or ``service``, name,
    variants): what metrics check the logs against."""
    mapping = _mapping()
    out: list[tuple[str, str, tuple[Variant, ...]]] = []
    for name, entries in mapping["categories"].items():
        out.append(("category", str(name), tuple(_variant(e) for e in entries)))  # type: ignore[attr-defined]
    for name, channels in mapping["services"].items():
        out.append(("service", str(name), (Variant(name=str(name), channels=tuple(channels)),)))  # type: ignore[arg-type]
    return out

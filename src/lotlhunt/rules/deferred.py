"""Fields of a cached object decoded on first use, not when the cache is read.

A warm load rebuilds every compiled rule from the rule cache, but a hunt reads most of a
rule's bulk only for some rules: the condition tree, SQL and literals of the rules whose
slices the logs hold, the selections of the rules that fired. The cache stores such
fields as an encoded blob of their own (:data:`lotlhunt.rules.cache.DEFERRED`); a rule
rebuilt from it holds the blobs, and the first read of one of those fields decodes it
and keeps the value, so every later read is an ordinary attribute's.

The class opts in by deriving from :class:`Deferred`. Nothing else changes for its
users: equality, hashing, ``dataclasses.replace`` and pickling read the fields, which
decodes them; an object made by its constructor has no blobs at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: (class, field) -> the function decoding that field's blob, set by the cache.
DECODERS: dict[tuple[type, str], Callable[[bytes], Any]] = {}
#: The key under which an instance keeps its blobs (field -> blob) until they are read.
PENDING = "_deferred_blobs"
#: marshal's type codes (the first byte of its data) of None, a tuple of fewer than 256
#: items (its length in the next byte) and another tuple (its length in the next four,
#: little-endian); a code may carry the flag of an object referred to again.
_NONE = ord("N")
_SMALL_TUPLE = ord(")")
_TUPLE = ord("(")
_FLAG_REF = 0x80


class Deferred:
    """A mixin for dataclasses whose instances may hold fields not decoded yet.

    The class must not define the deferred fields as class attributes (a default's
    class attribute would be found before :meth:`__getattr__` is asked): see
    :func:`without_class_defaults`."""

    def __getattr__(self, name: str) -> Any:
        # Asked only when the instance and its class lack ``name``: a pending field.
        # Threads may ask at once (the engine plans slices on a pool): the value is set
        # before the blob is dropped, so a thread finding no blob finds the value, and
        # the first value set is the one every thread gets.
        state = object.__getattribute__(self, "__dict__")
        pending = state.get(PENDING)
        blob = None if pending is None else pending.get(name)
        if blob is None:
            try:
                return state[name]  # decoded by another thread meanwhile
            except KeyError:
                raise AttributeError(
                    f"{type(self).__name__!r} object has no attribute {name!r}"
                ) from None
        value = state.setdefault(name, DECODERS[(type(self), name)](blob))
        pending.pop(name, None)
        if not pending:
            state.pop(PENDING, None)
        return value

    def holds(self, name: str) -> bool:
        """``bool(getattr(self, name))`` for a field holding None or a tuple, read from the
        header of its blob while it is not decoded yet: a hunt asks whether each rule of
        a slice has a condition tree before the prefilter skips most of them, and
        decoding every tree to answer cost more than the rest of a warm hunt's slices'
        planning. A tuple's converter rebuilds it with as many items (:mod:`.cache`), so
        its stored length answers; any other stored type is decoded to answer."""
        state = object.__getattribute__(self, "__dict__")
        pending = state.get(PENDING)
        blob = None if pending is None else pending.get(name)
        if blob:
            kind = blob[0] & ~_FLAG_REF
            if kind == _NONE:
                return False
            if kind == _SMALL_TUPLE and len(blob) > 1:
                return blob[1] > 0
            if kind == _TUPLE and len(blob) > 4:
                return int.from_bytes(blob[1:5], "little") > 0
        return bool(getattr(self, name))

    def __getstate__(self) -> dict[str, Any]:
        """Every field decoded: a pickled copy needs no cache to be read."""
        state = object.__getattribute__(self, "__dict__")
        for name in list(state.get(PENDING, ())):
            getattr(self, name)
        return state


def without_class_defaults(cls: type, names: tuple[str, ...]) -> None:
    """Remove the class attributes the dataclass decorator left for the defaults of
    ``names`` (the generated ``__init__`` keeps its own copies of them)."""
    for name in names:
        if name in cls.__dict__:
            delattr(cls, name)

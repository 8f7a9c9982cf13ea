"""On-disk cache of compiled rules, one entry per rule file.

Parsing the ~3,800 SigmaHQ rules with pySigma costs seconds even with libyaml; a hunt
should start at once when nothing changed. Each rule file's outcome (compiled rules,
failures, not-applicable rules, and the metadata filters and exclusions are matched on)
is stored under a key made of:

- the file's path and content hash (editing one rule recompiles that file only);
- the *environment*: lotlhunt and pySigma versions, the source of every module that
  shapes compiled SQL, ``logsources.yaml``, and the SQL dialect;
- the placeholder values in effect, for files that use ``|expand`` only.

Sigma filters are checked at lookup: an entry records which filters changed its rules,
and is used only if the same filters apply now. Analyst exclusions are applied after the
cache, so editing an exclusions file never invalidates it. Files holding a correlation
rule bypass the cache (correlations are kept as pySigma objects, parsed on every load;
SigmaHQ has none); filter documents are read on every load too, while the rules of their
files are cached like any other.

Entries are :mod:`marshal` data (dataclasses as tuples of their fields, read back by
their annotations, with a format version and a CRC-32) in one SQLite file, so a lookup
of every file is one query and writes are atomic; a rule's bulk is a blob of its own,
decoded when the hunt first reads it (:mod:`.deferred`). A load also stores a
*listing*: the entry key of each of its files under a key made of the files' paths,
sizes, inodes and times (:mod:`.listing`), so that the next load of unchanged files
looks their entries up without reading or hashing any. A corrupt
database or entry is ignored and rewritten; a cache that cannot be opened (read-only
home, locked by another process) only makes the load slower, never fail.

Location: the folder the caller gives (by default :class:`lotlhunt.settings.Settings`:
``$LOTLHUNT_CACHE_DIR``, else ``$XDG_CACHE_HOME/lotlhunt``, else ``~/.cache/lotlhunt``;
``LOTLHUNT_NO_CACHE=1`` disables it).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import marshal
import sqlite3
import sys
import time
import types
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from .deferred import DECODERS, PENDING, Deferred
from .listing import KEEP_LISTINGS

#: Bump when the entry layout changes (old entries are then misses, and get replaced).
ENTRY_VERSION = 4
DB_NAME = "compiled-rules.sqlite3"
#: Environments (lotlhunt versions, dialects...) whose entries are kept: the ones most
#: recently written to. Two installations sharing a cache both stay warm.
KEEP_ENVIRONMENTS = 4
#: Data whose content shapes a compiled rule, besides every module of :mod:`lotlhunt.rules`
#: (all of them are hashed, found by walking the package, so a module added or moved
#: there can never leave stale compiled rules behind).
_DATA_SOURCES = ("errors.py", "data/logsources.yaml")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


@cache
def _source_digest() -> str:
    root = resources.files("lotlhunt")
    return _digest_sources(Path(str(root)))


def compiler_sources(root: Path) -> list[str]:
    """Every file, relative to the package ``root``, whose content shapes compiled rules."""
    modules = sorted(
        p.relative_to(root).as_posix()
        for p in (root / "rules").rglob("*.py")
        if "__pycache__" not in p.parts
    )
    return [*modules, *_DATA_SOURCES]


def _digest_sources(root: Path) -> str:
    h = hashlib.sha256()
    for name in compiler_sources(root):
        h.update(name.encode())
        h.update(b"\0")
        try:
            h.update((root / name).read_bytes())
        except OSError:
            h.update(b"<missing>")
    return h.hexdigest()


def environment_digest(dialect: Any) -> str:
    """Everything besides the rule file that decides what it compiles to."""
    import yaml

    parts = (
        f"entry={ENTRY_VERSION}",
        f"lotlhunt={_version('lotlhunt')}",
        f"pysigma={_version('pysigma')}",
        f"pyyaml={yaml.__version__}/{getattr(yaml, '__with_libyaml__', False)}",
        f"dialect={dialect!r}",
        f"marshal={marshal.version}/{sys.version_info[:2]}",
        _source_digest(),
    )
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def entry_key(env: str, path: str, content: bytes, extra: str = "") -> str:
    h = hashlib.sha256()
    for part in (env.encode(), path.encode("utf-8", "surrogateescape"), extra.encode()):
        h.update(part)
        h.update(b"\0")
    h.update(content)
    return h.hexdigest()


# -- encoding ---------------------------------------------------------------------------
#
# An entry is written with :mod:`marshal`, which keeps tuples, frozensets, lists, dicts,
# strings and numbers as they are, so reading one back rebuilds only the dataclasses: each
# is stored as the tuple of its fields (minus the derived ones) and rebuilt from it as its
# type annotations say (the rebuilding functions are made once per type). A field someone
# adds to CompiledRule is cached without touching this module (the source digest changes
# the key), and a layout that no longer fits is a miss, not a crash. marshal reads a
# 3,000-rule load about three times faster than JSON, which had to turn every list back
# into a tuple or a frozenset; it only ever builds plain values, never runs code.


def _plain(value: Any) -> Any:
    """``value`` as marshal can write it: dataclasses as tuples of their stored fields."""
    kind = type(value)
    if kind in (str, int, float, bool, type(None), bytes):
        return value
    if isinstance(value, bool | int | float | str):  # a subclass: as its base type
        return next(base(value) for base in (bool, int, float, str) if isinstance(value, base))
    if kind is tuple or kind is list:
        return kind(map(_plain, value))
    if kind is frozenset or kind is set:
        return frozenset(map(_plain, value))
    if kind is dict:
        return {_plain(k): _plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        later = DEFERRED.get(kind, ())
        return tuple(
            marshal.dumps(_plain(getattr(value, name)))
            if name in later
            else _plain(getattr(value, name))
            for name in _stored_fields(kind)
        )
    raise TypeError(f"cannot cache a {kind.__name__}")


def dumps(entry: Mapping[str, Any]) -> bytes:
    """The entry as marshal data behind its CRC-32: a deferred field is decoded long after
    the entry is read, so damage anywhere in it must be found when it is read."""
    data = marshal.dumps((ENTRY_VERSION, _plain(dict(entry))))
    return zlib.crc32(data).to_bytes(4, "little") + data


Converter = Callable[[Any], Any]
#: Dataclass -> {field: function of the entry's other fields}: fields not stored but
#: derived when read (cheaper than parsing them), e.g. a rule's slices from its logsource.
DERIVED: dict[type, dict[str, Callable[[dict[str, Any]], Any]]] = {}
#: Dataclass -> fields stored as a blob of their own (marshal data inside the entry),
#: decoded when first read if the class derives from :class:`~.deferred.Deferred`,
#: else when the entry is: a rule's bulk that a hunt reads for some rules only.
DEFERRED: dict[type, tuple[str, ...]] = {}


def _stored_fields(tp: type) -> tuple[str, ...]:
    """The fields of dataclass ``tp`` an entry stores, in order (not the derived ones)."""
    derived = DERIVED.get(tp, {})
    return tuple(f.name for f in dataclasses.fields(tp) if f.name not in derived)


@cache
def converter(tp: Any) -> Converter | None:
    """A function rebuilding a value of type ``tp`` from its stored form (None: as is)."""
    if tp in (str, int, float, bool, Any, type(None)):
        return None
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum_converter(tp)
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        inner = [converter(a) for a in args if a is not type(None)]
        if all(c is None for c in inner):
            return None
        if len(inner) != 1:
            raise TypeError(f"cannot cache a {tp}")
        conv = inner[0]
        assert conv is not None
        return lambda v: None if v is None else conv(v)
    if origin in (tuple, frozenset, set, list):
        build: Any = {tuple: tuple, frozenset: frozenset, set: set, list: list}[origin]
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            convs = [converter(a) for a in args]
            if all(c is None for c in convs):
                return None
            return lambda v: tuple(x if c is None else c(x) for c, x in zip(convs, v, strict=True))
        item = converter(args[0]) if args else None
        if item is None:
            return None if build in (tuple, frozenset, list) else build
        return lambda v: build(map(item, v))
    if origin is dict:
        kc, vc = converter(args[0]), converter(args[1])
        if kc is None and vc is None:
            return None
        return lambda v: {
            (k if kc is None else kc(k)): (x if vc is None else vc(x)) for k, x in v.items()
        }
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass_converter(tp)
    raise TypeError(f"cannot cache a {tp}")


def _blob_decoder(conv: Converter | None) -> Callable[[bytes], Any]:
    """Decodes a deferred field's blob: marshal data, rebuilt as its type says."""
    if conv is None:
        return marshal.loads
    return lambda blob: conv(marshal.loads(blob))


def _enum_converter(tp: type[enum.Enum]) -> Converter:
    """A member of enum ``tp`` from its value: a dictionary lookup (calling the enum
    costs a microsecond a value, and a warm load converts tens of thousands), the
    call only for a value that is no member's (it raises, and the entry is a miss)."""
    members = {m.value: m for m in tp}

    def member(v: Any) -> Any:
        found = members.get(v)
        return tp(v) if found is None else found

    return member


def _plain_init(tp: type) -> bool:
    """Whether ``tp``'s instances may be made without calling ``__init__``: its fields
    set in the instance's ``__dict__`` (no slots, nothing run after the fields are set)."""
    return (
        "__slots__" not in tp.__dict__
        and not hasattr(tp, "__post_init__")
        and not hasattr(tp, "__attrs_init__")
    )


def _dataclass_converter(tp: type) -> Converter:
    hints = get_type_hints(tp)
    names = _stored_fields(tp)
    derived = list(DERIVED.get(tp, {}).items())
    every = tuple(f.name for f in dataclasses.fields(tp))
    # Each field of a stored entry is stored or derived, so the generated __init__ (a
    # frozen dataclass sets every field through object.__setattr__) would only copy
    # them: the instance's __dict__ is filled at once instead, about three times faster.
    plain = _plain_init(tp) and set(every) == {*names, *(n for n, _ in derived)}
    blobs = [n for n in names if n in DEFERRED.get(tp, ())]
    later = blobs if plain and issubclass(tp, Deferred) else []
    for n in blobs:
        DECODERS[(tp, n)] = _blob_decoder(converter(hints[n]))
    convert = {
        n: DECODERS[(tp, n)] if n in blobs else converter(hints[n]) for n in names if n not in later
    }
    return _builder(tp, names, convert, later, derived, plain)


def _builder(
    tp: type,
    names: tuple[str, ...],
    convert: dict[str, Converter | None],
    later: list[str],
    derived: list[tuple[str, Callable[[dict[str, Any]], Any]]],
    plain: bool,
) -> Converter:
    """The function rebuilding a ``tp`` from its stored tuple, written for ``tp`` as the
    dataclass decorator writes ``__init__`` (the generic loop over fields cost three
    times as much per object, and a warm hunt rebuilds some hundred thousand): it
    unpacks one value per stored field (another length is a ValueError: the entry
    predates the class, a miss), converts where the type needs it, keeps the deferred
    fields' blobs and derives the derived fields. Only field names, all identifiers,
    enter the code; the values are its arguments."""
    scope: dict[str, Any] = {"tp": tp, "new": object.__new__, "PENDING": PENDING, "bytes": bytes}
    slots = [f"v{i}" for i in range(len(names))]
    items = []
    for i, n in enumerate(names):
        if n in later:
            continue
        conv = convert[n]
        if conv is None:
            items.append(f"{n!r}: v{i}")
        else:
            scope[f"c{i}"] = conv
            items.append(f"{n!r}: c{i}(v{i})")
    lines = [
        "def build(v):",
        f"    {', '.join(slots)}, = v" if slots else "    () = v",
        f"    d = {{{', '.join(items)}}}",
    ]
    for j, (n, derive) in enumerate(derived):
        scope[f"derive{j}"] = derive
        lines.append(f"    d[{n!r}] = derive{j}(d)")
    if not plain:
        lines.append("    return tp(**d)")
    else:
        lines += ["    m = new(tp)", "    m.__dict__.update(d)"]
        if later:
            at = [names.index(n) for n in later]
            checks = " or ".join(f"type(v{i}) is not bytes" for i in at)
            lines += [
                f"    if {checks}:",
                "        raise TypeError('a deferred field stored as something else than a blob')",
                f"    m.__dict__[PENDING] = {{{', '.join(f'{names[i]!r}: v{i}' for i in at)}}}",
            ]
        lines.append("    return m")
    exec("\n".join(lines), scope)  # noqa: S102 - code made of field names, as dataclasses do
    build: Converter = scope["build"]
    return build


def loads(data: bytes, schema: Mapping[str, Any]) -> dict[str, Any] | None:
    """The entry, its parts rebuilt as ``schema`` (part name -> type) says; None if it is
    corrupt, of another format version, or does not fit the types any more."""
    try:
        body = memoryview(data)[4:]
        if zlib.crc32(body) != int.from_bytes(data[:4], "little"):
            return None
        raw = marshal.loads(body)
        if not isinstance(raw, tuple) or len(raw) != 2 or raw[0] != ENTRY_VERSION:
            return None
        parts = raw[1]
        out: dict[str, Any] = {}
        for name, tp in schema.items():
            conv = converter(tp)
            out[name] = parts[name] if conv is None else conv(parts[name])
        return out
    except (EOFError, KeyError, TypeError, ValueError, AttributeError, IndexError):
        return None


# -- storage ----------------------------------------------------------------------------


class RuleCache:
    """The SQLite store. Every failure degrades to "no cache" for this run."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / DB_NAME
        self._con: sqlite3.Connection | None = None
        self.broken: str | None = None

    def _open(self) -> sqlite3.Connection | None:
        if self._con is not None or self.broken:
            return self._con
        for attempt in range(2):
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                con = sqlite3.connect(self.path, timeout=5)
                con.execute(
                    "CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, env TEXT, "
                    "path TEXT, created REAL, data BLOB)"
                )
                con.execute("CREATE INDEX IF NOT EXISTS entries_path ON entries (path)")
                con.execute(
                    "CREATE TABLE IF NOT EXISTS listings (key TEXT PRIMARY KEY, created REAL, "
                    "data BLOB)"
                )
                con.commit()
                self._con = con
                return con
            except sqlite3.DatabaseError as exc:
                # Not a database (truncated, overwritten): start afresh, once.
                if attempt == 0 and self._discard():
                    continue
                self.broken = str(exc)
            except OSError as exc:
                self.broken = str(exc)
                break
        return None

    def _discard(self) -> bool:
        try:
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(str(self.path) + suffix).unlink(missing_ok=True)
        except OSError:
            return False
        return True

    def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        con = self._open()
        wanted = list(keys)
        if con is None or not wanted:
            return {}
        out: dict[str, bytes] = {}
        try:
            for start in range(0, len(wanted), 900):
                chunk = wanted[start : start + 900]
                marks = ",".join("?" * len(chunk))
                for key, data in con.execute(
                    f"SELECT key, data FROM entries WHERE key IN ({marks})", chunk
                ):
                    out[key] = data
        except sqlite3.DatabaseError as exc:
            self.close()
            if self._discard():
                self.broken = None  # rewritten on put
            else:
                self.broken = str(exc)
            return {}
        return out

    def put_many(self, env: str, rows: Iterable[tuple[str, str, bytes]]) -> None:
        """Store (key, path, data) rows; drop older versions of the same files."""
        rows = list(rows)
        con = self._open()
        if con is None or not rows:
            return
        now = time.time()
        try:
            with con:
                con.executemany(
                    "DELETE FROM entries WHERE path = ? AND env = ? AND key <> ?",
                    [(path, env, key) for key, path, _ in rows],
                )
                con.executemany(
                    "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?)",
                    [(key, env, path, now, data) for key, path, data in rows],
                )
                con.execute(
                    "DELETE FROM entries WHERE env NOT IN (SELECT env FROM entries "
                    "GROUP BY env ORDER BY max(created) DESC LIMIT ?)",
                    (KEEP_ENVIRONMENTS,),
                )
        except sqlite3.DatabaseError as exc:  # locked by another hunt, disk full...
            self.broken = str(exc)

    def get_listing(self, key: str, files: int) -> tuple[str, ...] | None:
        """The entry keys stored under listing ``key`` (:func:`.listing.listing_key`) for its
        ``files`` files, in order ("" for a file not cached); None if there is no such
        listing or it does not fit."""
        con = self._open()
        if con is None:
            return None
        try:
            row = con.execute("SELECT data FROM listings WHERE key = ?", (key,)).fetchone()
        except sqlite3.DatabaseError:
            return None
        if row is None:
            return None
        try:
            keys = marshal.loads(row[0])
        except (EOFError, ValueError, TypeError):
            return None
        if (
            not isinstance(keys, tuple)
            or len(keys) != files
            or not all(type(k) is str for k in keys)
        ):
            return None
        return keys

    def put_listing(self, key: str, keys: Sequence[str]) -> None:
        """Store the entry keys of a listing's files; keep the latest
        :data:`.listing.KEEP_LISTINGS`."""
        con = self._open()
        if con is None:
            return
        try:
            with con:
                con.execute(
                    "INSERT OR REPLACE INTO listings VALUES (?, ?, ?)",
                    (key, time.time(), marshal.dumps(tuple(keys))),
                )
                con.execute(
                    "DELETE FROM listings WHERE key NOT IN (SELECT key FROM listings "
                    "ORDER BY created DESC LIMIT ?)",
                    (KEEP_LISTINGS,),
                )
        except sqlite3.DatabaseError as exc:
            self.broken = str(exc)

    def close(self) -> None:
        if self._con is not None:
            try:
                self._con.close()
            finally:
                self._con = None

"""Binary XML (BinXml) encoding for EVTX chunks.

An EVTX record does not store XML text: it stores a *template instance*, i.e. a
reference to a template definition (the element/attribute skeleton with numbered
substitution slots) followed by the typed values for those slots. The first record
of a chunk that uses a template carries the definition inline; later records point
back to it. Element and attribute names live in the chunk too, written inline the
first time they are used and referenced by offset afterwards.

This module knows that layout (tokens, names, template definitions, typed value
encodings); :mod:`lotlhunt.simulate.evtx_writer` decides what goes into which
chunk. The layout follows libyal's "Windows XML Event Log (EVTX)" notes and
[MS-EVEN6] BinXml; it is what both the Rust ``evtx`` parser and ``python-evtx``
read.
"""

from __future__ import annotations

import functools
import hashlib
import struct
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lotlhunt.simulate.records import UserData

# --- tokens -------------------------------------------------------------------------
FRAGMENT_HEADER = b"\x0f\x01\x01\x00"  # token 0x0f, BinXml version 1.1, flags 0
TOKEN_EOF = 0x00
TOKEN_OPEN_START = 0x01
TOKEN_OPEN_START_WITH_ATTRIBUTES = 0x41
TOKEN_CLOSE_START = 0x02
TOKEN_CLOSE_EMPTY = 0x03
TOKEN_END_ELEMENT = 0x04
TOKEN_VALUE = 0x05
TOKEN_ATTRIBUTE = 0x06
TOKEN_ATTRIBUTE_MORE = 0x46  # another attribute follows
TOKEN_TEMPLATE_INSTANCE = 0x0C
TOKEN_NORMAL_SUBSTITUTION = 0x0D
TOKEN_OPTIONAL_SUBSTITUTION = 0x0E

# --- value types --------------------------------------------------------------------
NULL = 0x00
STRING = 0x01
UINT8 = 0x04
UINT16 = 0x06
UINT32 = 0x08
UINT64 = 0x0A
GUID = 0x0F
FILETIME = 0x11
SID = 0x13
HEX64 = 0x15

NO_DEPENDENCY = 0xFFFF
EVENT_NAMESPACE = "http://schemas.microsoft.com/win/2004/08/events/event"

_EPOCH_1601 = datetime(1601, 1, 1, tzinfo=UTC)
_EPOCH_1601_NAIVE = datetime(1601, 1, 1)

_U32 = struct.Struct("<I")
_pack_u32_into = _U32.pack_into


# --- typed values -------------------------------------------------------------------
def filetime(ts: datetime) -> int:
    """FILETIME (100 ns ticks since 1601-01-01 UTC) of ``ts``; naive means UTC.

    Integer arithmetic on the timedelta keeps microseconds exact, which float
    timestamps would not for dates far from 1970.
    """
    delta = ts - (_EPOCH_1601 if ts.tzinfo is not None else _EPOCH_1601_NAIVE)
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def guid_bytes(text: str) -> bytes:
    """A GUID string (with or without braces) in the mixed-endian layout Windows stores."""
    try:
        return uuid.UUID(text.strip()).bytes_le
    except ValueError as exc:
        raise ValueError(f"not a GUID: {text!r}") from exc


def sid_bytes(text: str) -> bytes:
    """A SID string ``S-R-A-S1-S2...`` in its binary NT form (revision, count, authority)."""
    parts = text.strip().split("-")
    if len(parts) < 3 or parts[0] not in ("S", "s"):
        raise ValueError(f"not a SID: {text!r}")
    try:
        revision = int(parts[1])
        authority = int(parts[2], 16) if parts[2].lower().startswith("0x") else int(parts[2])
        subs = [int(p) for p in parts[3:]]
        if len(subs) > 15:
            raise ValueError("more than 15 sub-authorities")
        return (
            struct.pack("<BB", revision, len(subs))
            + authority.to_bytes(6, "big")
            + struct.pack(f"<{len(subs)}I", *subs)
        )
    except (ValueError, OverflowError, struct.error) as exc:
        raise ValueError(f"not a SID: {text!r} ({exc})") from exc


@functools.lru_cache(maxsize=4096)
def name_hash(name: str) -> int:
    """[MS-EVEN6] NameHash: low 16 bits of ``h = h * 65599 + code_unit`` over UTF-16."""
    h = 0
    for (unit,) in struct.iter_unpack("<H", name.encode("utf-16-le")):
        h = (h * 65599 + unit) & 0xFFFFFFFF
    return h & 0xFFFF


# --- template skeletons -------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Text:
    """Literal text inside a template (e.g. the ``Name`` of a ``<Data>``)."""

    text: str


@dataclass(frozen=True, slots=True)
class Sub:
    """A substitution slot: ``index`` into the record's values, declared ``value_type``.

    ``optional`` slots (token 0x0e) mark attributes a reader drops when the value is
    NullType, as Windows does for Qualifiers, Guid, UserID and ActivityID.
    """

    index: int
    value_type: int
    optional: bool = False


Content = Text | Sub


@dataclass(frozen=True, slots=True)
class Element:
    """An element of a template; ``children is None`` means an empty element ``<X/>``."""

    name: str
    attributes: tuple[tuple[str, Content], ...] = ()
    children: tuple[Element | Content, ...] | None = None


@dataclass(slots=True)
class ChunkNames:
    """The names already written in one chunk, and the chunk's common-string table.

    Readers resolve a name by its chunk offset; they also walk the 64-bucket table
    (bucket = NameHash % 64, chained through each name's first dword), so every name
    is entered there once it is committed.
    """

    offsets: dict[str, int] = field(default_factory=dict)
    heads: list[int] = field(default_factory=lambda: [0] * 64)
    tails: list[int] = field(default_factory=lambda: [0] * 64)

    def commit(self, pending: dict[str, int], chunk: bytearray) -> None:
        """Enter names written inline into ``chunk``; chains grow forward by patching."""
        for name, offset in pending.items():
            self.offsets[name] = offset
            bucket = name_hash(name) % 64
            tail = self.tails[bucket]
            if tail:
                _pack_u32_into(chunk, tail, offset)
            else:
                self.heads[bucket] = offset
            self.tails[bucket] = offset


class _Emitter:
    """Compiles a template fragment with its name offsets left as patch sites.

    Name offsets are chunk offsets, so the bytes of a definition depend on where it
    lands and on which names the chunk already holds. Compiling records, for every
    name reference, whether it points to a name written earlier in the chunk (patched
    from the chunk's table) or to one written inline here (patched as base + rel).
    """

    __slots__ = ("out", "known", "inline", "known_sites", "inline_sites")

    def __init__(self, known: frozenset[str]) -> None:
        self.out = bytearray()
        self.known = known
        self.inline: dict[str, int] = {}  # name -> offset relative to the fragment start
        self.known_sites: list[tuple[int, str]] = []
        self.inline_sites: list[tuple[int, int]] = []

    def name(self, name: str) -> None:
        """A name reference: an offset, followed by the name itself on first use."""
        out = self.out
        site = len(out)
        out += b"\x00\x00\x00\x00"
        if name in self.known:
            self.known_sites.append((site, name))
            return
        rel = self.inline.get(name)
        if rel is None:
            rel = self.inline[name] = site + 4
            encoded = name.encode("utf-16-le")
            out += struct.pack("<IHH", 0, name_hash(name), len(encoded) // 2)
            out += encoded
            out += b"\x00\x00"
        self.inline_sites.append((site, rel))

    def content(self, item: Content) -> None:
        out = self.out
        if isinstance(item, Sub):
            token = TOKEN_OPTIONAL_SUBSTITUTION if item.optional else TOKEN_NORMAL_SUBSTITUTION
            out += struct.pack("<BHB", token, item.index, item.value_type)
        else:
            encoded = item.text.encode("utf-16-le")
            out += struct.pack("<BBH", TOKEN_VALUE, STRING, len(encoded) // 2)
            out += encoded

    def element(self, el: Element) -> None:
        out = self.out
        start = len(out)
        token = TOKEN_OPEN_START_WITH_ATTRIBUTES if el.attributes else TOKEN_OPEN_START
        out += struct.pack("<BHI", token, NO_DEPENDENCY, 0)  # data size patched below
        self.name(el.name)
        if el.attributes:
            list_start = len(out)
            out += b"\x00\x00\x00\x00"  # attribute list size patched below
            last = len(el.attributes) - 1
            for i, (attr_name, value) in enumerate(el.attributes):
                out.append(TOKEN_ATTRIBUTE_MORE if i < last else TOKEN_ATTRIBUTE)
                self.name(attr_name)
                self.content(value)
            _pack_u32_into(out, list_start, len(out) - list_start - 4)
        if el.children is None:
            out.append(TOKEN_CLOSE_EMPTY)
        else:
            out.append(TOKEN_CLOSE_START)
            for child in el.children:
                if isinstance(child, Element):
                    self.element(child)
                else:
                    self.content(child)
            out.append(TOKEN_END_ELEMENT)
        # Data size counts everything after the token, dependency id and size field.
        _pack_u32_into(out, start + 3, len(out) - start - 7)


def _names_of(el: Element) -> list[str]:
    """Element and attribute names in the order a definition first writes them."""
    names = [el.name]
    names.extend(attr for attr, _ in el.attributes)
    for child in el.children or ():
        if isinstance(child, Element):
            names.extend(_names_of(child))
    return list(dict.fromkeys(names))


_Compiled = tuple[bytes, list[tuple[int, str]], list[tuple[int, int]], dict[str, int]]


class Template:
    """A template skeleton plus the identity it is stored under in every chunk.

    Compared by identity: the writer keeps one instance per event shape, and hashing
    the whole element tree on every record would cost more than the encoding itself.
    """

    __slots__ = ("root", "guid", "template_id", "substitution_count", "_names", "_compiled")

    def __init__(self, root: Element, guid: bytes, substitution_count: int) -> None:
        self.root = root
        self.guid = guid  # 16 bytes; its first dword is the id template instances carry
        self.template_id: int = _U32.unpack_from(guid)[0]
        self.substitution_count = substitution_count
        self._names = _names_of(root)
        self._compiled: dict[frozenset[str], _Compiled] = {}

    def definition(self, offset: int, names: ChunkNames) -> tuple[bytes, dict[str, int]]:
        """The template definition to write at chunk ``offset``, and the names it defines.

        The layout is: next-template offset (patched when another template joins the
        same table bucket), GUID, data size, then fragment header, the ``<Event>``
        element and an end-of-stream token. Compiled once per set of names the chunk
        already holds (in practice: none, or all of the System names), then patched.
        """
        chunk_names = names.offsets
        known = frozenset(name for name in self._names if name in chunk_names)
        compiled = self._compiled.get(known)
        if compiled is None:
            compiled = self._compiled[known] = self._compile(known)
        body, known_sites, inline_sites, inline = compiled
        out = bytearray(body)
        base = offset + 24  # chunk offset of the fragment
        for site, name in known_sites:
            _pack_u32_into(out, site, chunk_names[name])
        for site, rel in inline_sites:
            _pack_u32_into(out, site, base + rel)
        return bytes(out), {name: base + rel for name, rel in inline.items()}

    def _compile(self, known: frozenset[str]) -> _Compiled:
        emitter = _Emitter(known)
        emitter.out += FRAGMENT_HEADER
        emitter.element(self.root)
        emitter.out.append(TOKEN_EOF)
        header = struct.pack("<I16sI", 0, self.guid, len(emitter.out))
        shift = len(header)
        return (
            header + bytes(emitter.out),
            [(site + shift, name) for site, name in emitter.known_sites],
            [(site + shift, rel) for site, rel in emitter.inline_sites],
            emitter.inline,
        )


def template_guid(*key: object) -> bytes:
    """A stable GUID for a template shape, so equal shapes get equal identities."""
    return hashlib.md5(repr(key).encode("utf-8"), usedforsecurity=False).digest()


# --- the event template -------------------------------------------------------------
# Substitution slots of the System element; EventData values follow from FIRST_DATA.
# Readers find values only through these numbers, so any fixed numbering works; this one
# puts the fixed-size values (0-11) first so the writer packs them with one struct call.
_LEVEL, _OPCODE, _TASK, _EVENT_ID, _QUALIFIERS, _KEYWORDS, _TIME_CREATED = range(7)
_ACTIVITY_ID, _PROCESS_ID, _THREAD_ID, _RECORD_ID, _VERSION, _USER_ID = range(7, 13)
_RELATED_ACTIVITY_ID, _PROVIDER_NAME, _PROVIDER_GUID, _EVENT_SOURCE_NAME = range(13, 17)
_CHANNEL, _COMPUTER = 17, 18
FIRST_DATA = 19

_SYSTEM = Element(
    "System",
    children=(
        Element(
            "Provider",
            (
                ("Name", Sub(_PROVIDER_NAME, STRING)),
                ("Guid", Sub(_PROVIDER_GUID, GUID, optional=True)),
                ("EventSourceName", Sub(_EVENT_SOURCE_NAME, STRING, optional=True)),
            ),
        ),
        Element(
            "EventID",
            (("Qualifiers", Sub(_QUALIFIERS, UINT16, optional=True)),),
            (Sub(_EVENT_ID, UINT16),),
        ),
        Element("Version", children=(Sub(_VERSION, UINT8),)),
        Element("Level", children=(Sub(_LEVEL, UINT8),)),
        Element("Task", children=(Sub(_TASK, UINT16),)),
        Element("Opcode", children=(Sub(_OPCODE, UINT8),)),
        Element("Keywords", children=(Sub(_KEYWORDS, HEX64),)),
        Element("TimeCreated", (("SystemTime", Sub(_TIME_CREATED, FILETIME)),)),
        Element("EventRecordID", children=(Sub(_RECORD_ID, UINT64),)),
        Element(
            "Correlation",
            (
                ("ActivityID", Sub(_ACTIVITY_ID, GUID, optional=True)),
                ("RelatedActivityID", Sub(_RELATED_ACTIVITY_ID, GUID, optional=True)),
            ),
        ),
        Element(
            "Execution",
            (("ProcessID", Sub(_PROCESS_ID, UINT32)), ("ThreadID", Sub(_THREAD_ID, UINT32))),
        ),
        Element("Channel", children=(Sub(_CHANNEL, STRING),)),
        Element("Computer", children=(Sub(_COMPUTER, STRING),)),
        Element("Security", (("UserID", Sub(_USER_ID, SID, optional=True)),)),
    ),
)


def event_template(
    provider: str,
    event_id: int,
    names: tuple[str, ...],
    unnamed: int,
    user_data: UserData | None = None,
) -> Template:
    """The template for one event shape: ``<Event>`` with System, then EventData (or
    UserData).

    System has the elements and attributes Windows writes, in its order; attributes a
    log may lack (Guid, EventSourceName, Qualifiers, ActivityID, UserID) are optional
    substitutions, so a NullType value drops them. EventData holds one
    ``<Data Name="...">`` per named value, then one ``<Data>`` per unnamed value. With
    ``user_data``, UserData holds its wrapper element with one ``<Name>`` per value.
    """
    slot = FIRST_DATA
    data: list[Element] = []
    for name in names:
        if user_data is None:
            data.append(Element("Data", (("Name", Text(name)),), (Sub(slot, STRING),)))
        else:
            data.append(Element(name, children=(Sub(slot, STRING),)))
        slot += 1
    if user_data is not None:
        if unnamed:
            raise ValueError("UserData values are named: no unnamed values")
        attributes = tuple((k, Text(v)) for k, v in user_data.attributes)
        wrapper = Element(user_data.element, attributes, tuple(data) if data else None)
        body = Element("UserData", children=(wrapper,))
    else:
        for _ in range(unnamed):
            data.append(Element("Data", children=(Sub(slot, STRING),)))
            slot += 1
        body = Element("EventData", children=tuple(data) if data else None)
    root = Element("Event", (("xmlns", Text(EVENT_NAMESPACE)),), (_SYSTEM, body))
    # EventData shapes keep the identity they always had.
    key = (provider, event_id, names, unnamed) + ((user_data,) if user_data else ())
    guid = template_guid(*key)
    return Template(root=root, guid=guid, substitution_count=slot)

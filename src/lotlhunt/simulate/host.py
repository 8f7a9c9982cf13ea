"""One host's running state: identifiers, processes, logon sessions and event drafts.

:class:`HostBase` holds what every emitter needs (the host's RNG, its clock helpers, the
SYSTEM logon and long-running processes) and ``emit``, which appends a lightweight
:class:`Draft` instead of a record: record ids are only known once a host's drafts are
merged in time order, and the frozen :class:`EvtxRecord` is built at write time. A
draft's ``label`` is the campaign ``(step, technique)`` it belongs to (``None`` for benign
events); ``marker`` flags the 1102/104 that survives a log clear.

The per-channel emitters (``emitters/``) add the events themselves; ``state.HostState``
puts them together.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from lotlhunt.simulate.inventory import PE_3P, PE_MS, SYS32
from lotlhunt.simulate.network import Account, Host, Network
from lotlhunt.simulate.templates import Template

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SEC = 1_000_000
MIN = 60 * SEC
HOUR = 60 * MIN

Label = tuple[str, str]  # (campaign step, ATT&CK technique)


class Op(NamedTuple):
    """A planned activity on one host: ``fn(state, ts, **kw)`` emits its events there.

    Activities that span hosts (an RDP session, a remote wmic) are planned once at network
    level and become one Op per host with shared parameters, so each host's logs can be
    generated on their own and still agree with each other.
    """

    ts: int
    host: str
    fn: Callable[..., None]
    kw: dict[str, Any]
    label: Label | None = None


class Draft(NamedTuple):
    """One event before its record id is known; sorts by time, then by emission order."""

    ts: int
    seq: int
    tpl: Template
    #: Named EventData fields, or the unnamed values of a classic provider.
    data: dict[str, str] | tuple[str, ...]
    pid: int
    sid: str | None
    label: Label | None
    marker: bool


_new_tuple = tuple.__new__
_NO_PE = ("-", "-", "-", "-", "-")  # Go/UPX tools (FRP, Earthworm) carry no version resource
_BUILD = {"2019": "10.0.17763", "2016": "10.0.14393", "Windows 1": "10.0.19041"}


@dataclass(slots=True)
class Logon:
    """A logon session: the id ties 4624, 4688, 4634, 5140 and Sysmon ``LogonId`` together."""

    id: str
    guid: str
    acct: Account
    session: int = 0


@dataclass(slots=True)
class Proc:
    guid: str
    pid: int
    image: str
    cmd: str
    logon: Logon
    integrity: str
    cwd: str


@dataclass(slots=True)
class PsCtx:
    """One PowerShell host instance (console or remoting) for 400/403/800/4103/4104."""

    proc: Proc
    host_name: str
    host_id: str
    runspace: str
    seq: int = 10


_DAYS: dict[int, str] = {}
_HMS = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]


def fmt_second(sec: int, sep: str = " ") -> str:
    """``YYYY-MM-DD<sep>HH:MM:SS`` of a Unix second: table lookups, no datetime (hot path)."""
    d, r = divmod(sec, 86400)
    day = _DAYS.get(d)
    if day is None:
        day = _DAYS[d] = (EPOCH + timedelta(days=d)).strftime("%Y-%m-%d")
    return day + sep + _HMS[r]


def _hexdigest(text: str, n: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest().upper()[:n]


class HostBase:
    """One host's identifiers, clock helpers and drafts; the emitters build on it."""

    def __init__(self, net: Network, host: Host, seed: int) -> None:
        self.net, self.host = net, host
        self.rng = random.Random(f"host:{seed}:{host.name}")
        self.rand = self.rng.random
        self.out: list[Draft] = []
        self.seq = 0
        self.label: Label | None = None
        self.hash_override: dict[str, str] = {}
        self._hashes: dict[str, str] = {}
        self._pe: dict[str, tuple[str, ...]] = {}
        self.build = next((v for k, v in _BUILD.items() if k in host.os), "10.0.17763")
        self.system = Logon("0x3e7", self._logon_guid(0x3E7), host.machine)
        self._lid = self.ri(0x30000, 0x90000)  # logon ids allocated since boot
        t0 = (net.start - EPOCH) // timedelta(microseconds=1) - 86_400 * SEC
        self.kernel = Proc(self._pguid(t0), 4, "System", "", self.system, "System", "")
        self.services = self.proc_at(t0, SYS32 + "services.exe", "")
        self.lsass_pid = self.services.pid + 12
        svc = SYS32 + "svchost.exe"
        self.dcom = self.proc_at(t0, svc, "C:\\Windows\\system32\\svchost.exe -k DcomLaunch -p")
        self.schedule = self.proc_at(
            t0, svc, "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule"
        )
        wmi = "C:\\Windows\\system32\\wbem\\wmiprvse.exe -secured -Embedding"
        self.wmiprvse = self.proc_at(t0, SYS32 + "wbem\\WmiPrvSE.exe", wmi)
        self.eventlog_pid = self.rng.randrange(300, 500) * 4
        self.sysmon_pid = self.rng.randrange(600, 900) * 4
        self.shadow_n = self.rng.randrange(1, 4)  # next HarddiskVolumeShadowCopy number
        self.web: Proc | None = None  # java.exe / w3wp.exe on the web server
        self.desktop: Proc | None = None  # the owner's explorer.exe on a workstation
        self.frp: Proc | None = None  # the actor's proxy client, once running

    # ---- identifiers and time ----------------------------------------------------------------
    @property
    def web_proc(self) -> Proc:
        """The web application's worker (java.exe or w3wp.exe): the web shell's parent."""
        if self.web is None:
            raise RuntimeError(f"{self.host.name} runs no web application")
        return self.web

    def ri(self, lo: int, hi: int) -> int:
        """``randrange(lo, hi)`` at a fraction of its cost, for ports and ids."""
        return lo + int(self.rand() * (hi - lo))

    def port(self) -> str:
        return str(49152 + int(self.rand() * 16383))

    def _pguid(self, ts: int) -> str:
        s, bits = ts // SEC, self.rng.getrandbits(64)
        return f"{self.host.guid_prefix}-{s & 0xFFFF:04X}-{(s >> 16) & 0xFFFF:04X}-{bits >> 48:04X}-{bits & 0xFFFFFFFFFFFF:012X}"  # noqa: E501

    def _logon_guid(self, lid: int) -> str:
        bits = self.rng.getrandbits(32)
        return f"{self.host.guid_prefix}-{bits >> 16:04X}-{bits & 0xFFFF:04X}-0000-0020{lid & 0xFFFFFFFF:08X}"  # noqa: E501

    def new_logon(self, acct: Account, session: int = 0) -> Logon:
        """A fresh logon session; ids only grow, as LSA allocates them, so none repeats."""
        self._lid += self.ri(0x40, 0x1800)
        return Logon(hex(self._lid), self._logon_guid(self._lid), acct, session)

    def new_pid(self) -> int:
        return self.ri(250, 9000) * 4

    def guid(self) -> str:
        b = self.rng.getrandbits(128)
        return f"{b >> 96:08x}-{(b >> 80) & 0xFFFF:04x}-4{(b >> 68) & 0xFFF:03x}-{0x8000 | (b >> 48) & 0x3FFF:04x}-{b & 0xFFFFFFFFFFFF:012x}"  # noqa: E501

    def utc(self, ts: int) -> str:
        """Sysmon's ``UtcTime`` (millisecond precision)."""
        return f"{fmt_second(ts // SEC)}.{(ts % SEC) // 1000:03d}"

    def emit(
        self,
        ts: int,
        tpl: Template,
        data: dict[str, str] | tuple[str, ...],
        pid: int = 4,
        sid: str | None = None,
        marker: bool = False,
    ) -> None:
        # tuple.__new__ skips NamedTuple's Python-level __new__: one frame less per event
        self.out.append(_new_tuple(Draft, (ts, self.seq, tpl, data, pid, sid, self.label, marker)))
        self.seq += 1

    def user_name(self, acct: Account) -> str:
        return "NT AUTHORITY\\SYSTEM" if acct.sid == "S-1-5-18" else acct.qualified

    # ---- processes ---------------------------------------------------------------------------
    def pe(self, image: str, as_name: str | None = None) -> tuple[str, ...]:
        key = as_name or image.rsplit("\\", 1)[-1].lower()
        hit = self._pe.get(key)
        if hit is None:
            if key in PE_MS:
                hit = (
                    f"{self.build}.1 (WinBuild.160101.0800)",
                    PE_MS[key][0],
                    "Microsoft® Windows® Operating System",
                    "Microsoft Corporation",
                    PE_MS[key][1],
                )
            elif key in PE_3P:
                desc, orig, prod, comp, ver = PE_3P[key]
                hit = (ver, desc, prod, comp, orig)
            self._pe[key] = hit = hit or _NO_PE
        return hit

    def hashes(self, image: str) -> str:
        hit = self._hashes.get(image)
        if hit is None:
            key = image.lower() + ("" if image.startswith("C:\\Windows") else self.host.name)
            sha256 = self.hash_override.get(image.lower()) or _hexdigest(key, 64)
            hit = self._hashes[image] = (
                f"SHA1={_hexdigest('1' + key, 40)},MD5={_hexdigest('5' + key, 32)},"
                f"SHA256={sha256.upper()},IMPHASH={_hexdigest('i' + key, 32)}"
            )
        return hit

    def proc_at(
        self,
        ts: int,
        image: str,
        cmd: str,
        logon: Logon | None = None,
        integrity: str = "System",
        cwd: str = SYS32,
    ) -> Proc:
        """A process object without events (started before the logs begin)."""
        return Proc(
            self._pguid(ts), self.new_pid(), image, cmd, logon or self.system, integrity, cwd
        )

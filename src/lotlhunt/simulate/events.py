"""Builders of realistic Windows events for one host, as its own logs would hold them.

:class:`HostState` is one machine's running state (process tree, logon sessions, RNG)
plus an ``emit`` per channel/event id. Builders append lightweight *drafts*
``(ts_us, seq, tpl, data, exec_pid, user_sid, label, marker)`` instead of records: record
ids are only known once a host's drafts are merged in time order, and the frozen
:class:`EvtxRecord` is built at write time. A draft's ``label`` is the campaign
``(step, technique)`` it belongs to (``None`` for benign events); ``marker`` flags the
1102/104 that survives a log clear.

Field names, value formats (hex logon ids, ``%%1842`` message ids, Sysmon ``UtcTime``),
versions, tasks and keywords follow what real logs carry, so rules written against real
telemetry fire on simulated telemetry for the same reasons.
"""

from __future__ import annotations

import hashlib
import ntpath
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from lotlhunt.simulate.network import PE_3P, PE_MS, SYS32, TOOLS, Account, Host, Network

SECURITY, SYSTEM_LOG, APPLICATION, SYSMON, PS_OPERATIONAL, WINDOWS_POWERSHELL, RDP_RCM = range(7)
CHANNELS = ("Security", "System", "Application", "Microsoft-Windows-Sysmon/Operational",
            "Microsoft-Windows-PowerShell/Operational", "Windows PowerShell",
            "Microsoft-Windows-TerminalServices-RemoteConnectionManager/Operational")  # fmt: skip
#: File stem per channel, as Windows names log files (``/`` becomes ``%4``).
CHANNEL_FILES = tuple(c.replace("/", "%4") for c in CHANNELS)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SEC = 1_000_000

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
    kw: dict
    label: Label | None = None


@dataclass(frozen=True, slots=True)
class Tpl:
    """The System part of an event id: everything constant across its instances."""

    ch: int
    provider: str
    guid: str | None
    source: str | None
    event_id: int
    version: int = 0
    level: int = 4
    task: int = 0
    opcode: int = 0
    keywords: str = "0x8000000000000000"


# fmt: off
_SEC = ("Microsoft-Windows-Security-Auditing", "54849625-5478-4994-A5BA-3E3B0328C30D", None)
_EVL = ("Microsoft-Windows-Eventlog", "FC65DDD8-D6EF-4962-83D5-6E5CFE9CE148", None)
_SCM = ("Service Control Manager", "555908D1-A6D7-4695-8E1E-26931D2012F4",
        "Service Control Manager")
_SYS = ("Microsoft-Windows-Sysmon", "5770385F-C22A-43E0-BF4C-06F5698FFBD9", None)
_PSO = ("Microsoft-Windows-PowerShell", "A0C1853B-5C40-4B15-8766-3CF1C58F985A", None)
_KW, _FAIL, _CLASSIC = "0x8020000000000000", "0x8010000000000000", "0x80000000000000"
T4624, T4625, T4634 = Tpl(0, *_SEC, 4624, 2, 0, 12544, 0, _KW), Tpl(0, *_SEC, 4625, 0, 0, 12544, 0,
                                                                    _FAIL), \
    Tpl(0, *_SEC, 4634, 0, 0, 12545, 0, _KW)
T4648, T4672, T4688 = Tpl(0, *_SEC, 4648, 0, 0, 12544, 0, _KW), Tpl(0, *_SEC, 4672, 0, 0, 12548, 0,
                                                                    _KW), \
    Tpl(0, *_SEC, 4688, 2, 0, 13312, 0, _KW)
T4698, T4720 = Tpl(0, *_SEC, 4698, 0, 0, 12804, 0, _KW), Tpl(0, *_SEC, 4720, 0, 0, 13824, 0, _KW)
T4768, T4769 = Tpl(0, *_SEC, 4768, 0, 0, 14339, 0, _KW), Tpl(0, *_SEC, 4769, 0, 0, 14337, 0, _KW)
T5140, T5145 = Tpl(0, *_SEC, 5140, 1, 0, 12808, 0, _KW), Tpl(0, *_SEC, 5145, 0, 0, 12811, 0, _KW)
T4778, T4779 = Tpl(0, *_SEC, 4778, 0, 0, 12551, 0, _KW), Tpl(0, *_SEC, 4779, 0, 0, 12551, 0, _KW)
T1149 = Tpl(RDP_RCM, "Microsoft-Windows-TerminalServices-RemoteConnectionManager",
            "C76BAA63-AE81-421C-B425-340B4B24157F", None, 1149, 0, 4, 0, 0, "0x1000000000000000")
T1102 = Tpl(SECURITY, *_EVL, 1102, 0, 4, 104, 0, "0x4020000000000000")
T104 = Tpl(SYSTEM_LOG, *_EVL, 104, 0, 4, 104, 0, "0x8000000000000000")
T7045 = Tpl(SYSTEM_LOG, *_SCM, 7045, 0, 4, 0, 0, "0x8080000000000000")
T7036 = Tpl(SYSTEM_LOG, *_SCM, 7036, 0, 4, 0, 0, "0x8080000000000000")
T_ESENT = {e: Tpl(APPLICATION, "ESENT", None, None, e, 0, 4, 3 if e == 216 else 1, 0, _CLASSIC)
           for e in (216, 325, 326, 327)}
S1, S3, S7 = Tpl(SYSMON, *_SYS, 1, 5, 4, 1), Tpl(SYSMON, *_SYS, 3, 5, 4, 3), Tpl(SYSMON, *_SYS, 7,
                                                                                 3, 4, 7)
S11, S13 = Tpl(SYSMON, *_SYS, 11, 2, 4, 11), Tpl(SYSMON, *_SYS, 13, 2, 4, 13)
T4104 = Tpl(PS_OPERATIONAL, *_PSO, 4104, 1, 5, 2, 15, "0x0")
T4104W = Tpl(PS_OPERATIONAL, *_PSO, 4104, 1, 3, 2, 15, "0x0")  # auto-logged "suspicious"
T4103 = Tpl(PS_OPERATIONAL, *_PSO, 4103, 1, 4, 106, 20, "0x0")
T400, T403, T800 = (Tpl(WINDOWS_POWERSHELL, "PowerShell", None, None, e, 0, 4, t, 0, _CLASSIC)
                    for e, t in ((400, 4), (403, 4), (800, 8)))
_NO_PE = ("-", "-", "-", "-", "-")  # Go/UPX tools (FRP, Earthworm) carry no version resource
_BUILD = {"2019": "10.0.17763", "2016": "10.0.14393", "Windows 1": "10.0.19041"}
_INTEGRITY = {"System": "S-1-16-16384", "High": "S-1-16-12288", "Medium": "S-1-16-8192"}
_MS = ("000", "000", "016", "047")  # ESENT timing fractions
_ELEVATION = {"System": "%%1936", "High": "%%1937", "Medium": "%%1938"}
_ADMIN_PRIVS = "\r\n\t\t\t".join(
    "SeSecurityPrivilege SeBackupPrivilege SeRestorePrivilege SeTakeOwnershipPrivilege "
    "SeDebugPrivilege SeSystemEnvironmentPrivilege SeLoadDriverPrivilege SeImpersonatePrivilege "
    "SeDelegateSessionUserImpersonatePrivilege".split())
_SYSTEM_PRIVS = "\r\n\t\t\t".join(
    "SeAssignPrimaryTokenPrivilege SeTcbPrivilege SeSecurityPrivilege SeTakeOwnershipPrivilege "
    "SeLoadDriverPrivilege SeBackupPrivilege SeRestorePrivilege SeDebugPrivilege SeAuditPrivilege "
    "SeSystemEnvironmentPrivilege SeImpersonatePrivilege "
    "SeDelegateSessionUserImpersonatePrivilege".split())
ZERO_GUID = "{00000000-0000-0000-0000-000000000000}"
PORT_NAMES = {"53": "domain", "88": "kerberos", "135": "epmap", "389": "ldap", "443": "https",
              "445": "microsoft-ds", "3389": "ms-wbt-server", "80": "http", "636": "ldaps"}
_READ = "%%1538\r\n\t\t\t\t%%1541\r\n\t\t\t\t%%4416\r\n\t\t\t\t%%4423\r\n\t\t\t\t"
_WRITE = "%%1538\r\n\t\t\t\t%%1541\r\n\t\t\t\t%%4417\r\n\t\t\t\t%%4424\r\n\t\t\t\t"
# fmt: on


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


class HostState:
    """One host's processes, sessions and emitted drafts while the simulation runs."""

    def __init__(self, net: Network, host: Host, seed: int) -> None:
        self.net, self.host = net, host
        self.rng = random.Random(f"host:{seed}:{host.name}")
        self.rand = self.rng.random
        self.out: list[tuple] = []
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

    def emit(self, ts: int, tpl: Tpl, data: dict | tuple, pid: int = 4, sid: str | None = None,
             marker: bool = False) -> None:  # fmt: skip
        self.out.append((ts, self.seq, tpl, data, pid, sid, self.label, marker))
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

    def proc_at(self, ts: int, image: str, cmd: str, logon: Logon | None = None,
                integrity: str = "System", cwd: str = SYS32) -> Proc:  # fmt: skip
        """A process object without events (started before the logs begin)."""
        return Proc(
            self._pguid(ts), self.new_pid(), image, cmd, logon or self.system, integrity, cwd
        )

    # fmt: off
    def spawn(self, ts: int, parent: Proc, image: str, cmd: str, logon: Logon | None = None,
              integrity: str | None = None, cwd: str | None = None,
              pe_as: str | None = None) -> Proc:
        """Start a process: Sysmon 1 where Sysmon runs, 4688 where process auditing is on."""
        logon = logon or parent.logon
        integrity = integrity or parent.integrity
        proc = Proc(self._pguid(ts), self.new_pid(), image, cmd, logon, integrity,
                    cwd or parent.cwd)
        acct = logon.acct
        if self.host.sysmon:
            ver, desc, prod, comp, orig = self.pe(image, pe_as)
            self.emit(ts, S1, {
                "RuleName": "-", "UtcTime": self.utc(ts), "ProcessGuid": proc.guid,
                "ProcessId": str(proc.pid), "Image": image, "FileVersion": ver, "Description": desc,
                "Product": prod, "Company": comp, "OriginalFileName": orig, "CommandLine": cmd,
                "CurrentDirectory": proc.cwd, "User": self.user_name(acct), "LogonGuid": logon.guid,
                "LogonId": logon.id, "TerminalSessionId": str(logon.session),
                "IntegrityLevel": integrity, "Hashes": self.hashes(image),
                "ParentProcessGuid": parent.guid, "ParentProcessId": str(parent.pid),
                "ParentImage": parent.image, "ParentCommandLine": parent.cmd,
                "ParentUser": self.user_name(parent.logon.acct)}, self.sysmon_pid, "S-1-5-18")
        if self.host.audit_process:
            subj = self.host.machine if acct.sid == "S-1-5-18" else acct
            self.emit(ts + 37, T4688, {
                "SubjectUserSid": acct.sid, "SubjectUserName": subj.sam,
                "SubjectDomainName": subj.domain, "SubjectLogonId": logon.id,
                "NewProcessId": hex(proc.pid), "NewProcessName": image,
                "TokenElevationType": _ELEVATION[integrity], "ProcessId": hex(parent.pid),
                "CommandLine": cmd, "TargetUserSid": "S-1-0-0", "TargetUserName": "-",
                "TargetDomainName": "-", "TargetLogonId": "0x0", "ParentProcessName": parent.image,
                "MandatoryLabel": _INTEGRITY[integrity]})
        return proc
    # fmt: on

    def run(self, ts: int, parent: Proc, cmd: str, **kw) -> Proc:
        """Run a typed command line: the first token names the tool (``net`` also starts net1)."""
        tok = split_image(cmd)[0]
        name = tok.rsplit("\\", 1)[-1].lower().removesuffix(".exe")
        image = tok if "\\" in tok else TOOLS.get(name, SYS32 + name + ".exe")
        proc = self.spawn(ts, parent, image, cmd, **kw)
        if name == "net" and " " in cmd:
            args = cmd.split(" ", 1)[1]
            self.spawn(ts + 2100, proc, TOOLS["net1"], "C:\\Windows\\system32\\net1  " + args)
        return proc

    # ---- Sysmon non-process events -----------------------------------------------------------
    # fmt: off
    def conn(self, ts: int, proc: Proc, dst_ip: str, dst_port: int, src_ip: str | None = None,
             dst_host: str = "-", initiated: bool = True, src_port: int | None = None) -> None:
        if not self.host.sysmon:
            return
        dp = str(dst_port)
        self.emit(ts, S3, {
            "RuleName": "-", "UtcTime": self.utc(ts), "ProcessGuid": proc.guid,
            "ProcessId": str(proc.pid), "Image": proc.image,
            "User": self.user_name(proc.logon.acct),
            "Protocol": "tcp", "Initiated": "true" if initiated else "false",
            "SourceIsIpv6": "false",
            "SourceIp": src_ip or self.host.ip, "SourceHostname": "-" if src_ip else self.host.fqdn,
            "SourcePort": str(src_port) if src_port else self.port(), "SourcePortName": "-",
            "DestinationIsIpv6": "false", "DestinationIp": dst_ip, "DestinationHostname": dst_host,
            "DestinationPort": dp, "DestinationPortName": PORT_NAMES.get(dp, "-")},
            self.sysmon_pid, "S-1-5-18")

    def image_load(self, ts: int, proc: Proc, dll: str, signed: bool = True) -> None:
        if not self.host.sysmon:
            return
        ver, desc, prod, comp, orig = self.pe(dll)
        self.emit(ts, S7, {
            "RuleName": "-", "UtcTime": self.utc(ts), "ProcessGuid": proc.guid,
            "ProcessId": str(proc.pid), "Image": proc.image, "ImageLoaded": dll, "FileVersion": ver,
            "Description": desc, "Product": prod, "Company": comp, "OriginalFileName": orig,
            "Hashes": self.hashes(dll), "Signed": "true" if signed else "false",
            "Signature": "Microsoft Windows" if signed else "-",
            "SignatureStatus": "Valid" if signed else "Unavailable",
            "User": self.user_name(proc.logon.acct)}, self.sysmon_pid, "S-1-5-18")

    def file(self, ts: int, proc: Proc, path: str) -> None:
        if not self.host.sysmon:
            return
        u = self.utc(ts)
        self.emit(ts, S11, {
            "RuleName": "-", "UtcTime": u, "ProcessGuid": proc.guid, "ProcessId": str(proc.pid),
            "Image": proc.image, "TargetFilename": path, "CreationUtcTime": u,
            "User": self.user_name(proc.logon.acct)}, self.sysmon_pid, "S-1-5-18")

    def reg(self, ts: int, proc: Proc, key: str, details: str) -> None:
        if not self.host.sysmon:
            return
        self.emit(ts, S13, {
            "RuleName": "-", "EventType": "SetValue", "UtcTime": self.utc(ts),
            "ProcessGuid": proc.guid, "ProcessId": str(proc.pid), "Image": proc.image,
            "TargetObject": key, "Details": details, "User": self.user_name(proc.logon.acct)},
            self.sysmon_pid, "S-1-5-18")

    # ---- Security log ------------------------------------------------------------------------
    def logon(self, ts: int, acct: Account, ltype: int, ip: str = "-", workstation: str = "-",
              auth: str = "Kerberos", admin: bool = False, session: int = 0) -> Logon:
        """4624 (+4672 for privileged accounts); returns the session other events refer to."""
        lg = self.new_logon(acct, session)
        interactive, service, ntlm = ltype in (2, 7, 10, 11), ltype in (4, 5), auth == "NTLM"
        m = self.host.machine
        subj = ("S-1-0-0", "-", "-", "0x0")
        if service or interactive:
            subj = ("S-1-5-18", m.sam, m.domain, "0x3e7")
        if service:
            pname = SYS32 + ("services.exe" if ltype == 5 else "svchost.exe")
            lproc, pkg, pid = "Advapi  ", "Negotiate", hex(self.services.pid)
        elif interactive:
            pname = SYS32 + ("svchost.exe" if ltype == 7 else "winlogon.exe")
            lproc, pkg, pid = "User32 ", "Negotiate", hex(self.lsass_pid + 80)
        else:
            pname, lproc, pkg, pid = "-", "NtLmSsp " if ntlm else "Kerberos", auth, "0x0"
        self.emit(ts, T4624, {
            "SubjectUserSid": subj[0], "SubjectUserName": subj[1], "SubjectDomainName": subj[2],
            "SubjectLogonId": subj[3], "TargetUserSid": acct.sid, "TargetUserName": acct.sam,
            "TargetDomainName": "NT AUTHORITY" if ltype == 5 else acct.domain,
            "TargetLogonId": lg.id,
            "LogonType": str(ltype), "LogonProcessName": lproc, "AuthenticationPackageName": pkg,
            "WorkstationName": workstation if (ntlm or interactive) else "-",
            "LogonGuid": ZERO_GUID if ntlm or service else "{" + lg.guid + "}",
            "TransmittedServices": "-", "LmPackageName": "NTLM V2" if ntlm else "-",
            "KeyLength": "128" if ntlm else "0", "ProcessId": pid, "ProcessName": pname,
            "IpAddress": "-" if service else ip,
            "IpPort": "-" if ip in ("-", "127.0.0.1") or service else self.port(),
            "ImpersonationLevel": "%%1833", "RestrictedAdminMode": "%%1843" if ltype == 10 else "-",
            "TargetOutboundUserName": "-", "TargetOutboundDomainName": "-",
            "VirtualAccount": "%%1843",
            "TargetLinkedLogonId": "0x0",
            "ElevatedToken": "%%1842" if admin or service else "%%1843"},
            self.lsass_pid)
        if admin or ltype == 5:
            self.emit(ts + 11, T4672, {
                "SubjectUserSid": acct.sid, "SubjectUserName": acct.sam,
                "SubjectDomainName": "NT AUTHORITY" if ltype == 5 else acct.domain,
                "SubjectLogonId": lg.id,
                "PrivilegeList": _SYSTEM_PRIVS if ltype == 5 else _ADMIN_PRIVS},
                self.lsass_pid)
        return lg

    def logoff(self, ts: int, lg: Logon, ltype: int) -> None:
        a = lg.acct
        self.emit(ts, T4634, {"TargetUserSid": a.sid, "TargetUserName": a.sam,
                              "TargetDomainName": a.domain,
                              "TargetLogonId": lg.id, "LogonType": str(ltype)}, self.lsass_pid)

    def rdp_authenticated(self, ts: int, acct: Account, ip: str) -> None:
        """TerminalServices-RemoteConnectionManager 1149: the RDP user authenticated.

        Windows writes these three values as UserData ``EventXML`` Param1-3; readers
        flatten UserData to leaf names, so they are written here as the same three names.
        """
        self.emit(ts, T1149, {"Param1": acct.sam, "Param2": acct.domain, "Param3": ip},
                  self.ri(300, 500) * 4, "S-1-5-20")

    def rdp_session(self, ts: int, lg: Logon, client: str, ip: str, reconnect: bool) -> None:
        """4778 (session reconnected) or 4779 (disconnected) for an RDP logon session."""
        a = lg.acct
        self.emit(ts, T4778 if reconnect else T4779, {
            "AccountName": a.sam, "AccountDomain": a.domain, "LogonID": lg.id,
            "SessionName": f"RDP-Tcp#{lg.session}", "ClientName": client,
            "ClientAddress": ip}, self.lsass_pid)

    def logon_failed(self, ts: int, acct: Account, ltype: int, ip: str = "-",
                     workstation: str = "-") -> None:
        local = ltype in (2, 7, 10)
        self.emit(ts, T4625, {
            "SubjectUserSid": "S-1-5-18" if local else "S-1-0-0",
            "SubjectUserName": self.host.machine.sam if local else "-",
            "SubjectDomainName": acct.domain if local else "-",
            "SubjectLogonId": "0x3e7" if local else "0x0",
            "TargetUserSid": "S-1-0-0", "TargetUserName": acct.sam, "TargetDomainName": acct.domain,
            "Status": "0xc000006d", "FailureReason": "%%2313", "SubStatus": "0xc000006a",
            "LogonType": str(ltype), "LogonProcessName": "User32 " if local else "NtLmSsp ",
            "AuthenticationPackageName": "Negotiate" if local else "NTLM",
            "WorkstationName": workstation,
            "TransmittedServices": "-", "LmPackageName": "-", "KeyLength": "0",
            "ProcessId": hex(self.lsass_pid + 80) if local else "0x0",
            "ProcessName": SYS32 + "winlogon.exe" if local else "-", "IpAddress": ip,
            "IpPort": "0" if local else self.port()}, self.lsass_pid)

    def explicit_creds(self, ts: int, lg: Logon, target: Account, server: str, ip: str, proc: Proc,
                       port: str = "0") -> None:
        a = lg.acct
        self.emit(ts, T4648, {
            "SubjectUserSid": a.sid, "SubjectUserName": a.sam, "SubjectDomainName": a.domain,
            "SubjectLogonId": lg.id, "LogonGuid": "{" + lg.guid + "}", "TargetUserName": target.sam,
            "TargetDomainName": target.domain, "TargetLogonGuid": ZERO_GUID,
            "TargetServerName": server,
            "TargetInfo": server, "ProcessId": hex(proc.pid), "ProcessName": proc.image,
            "IpAddress": ip, "IpPort": port}, self.lsass_pid)

    def kerberos(self, ts: int, acct: Account, ip: str, service: str, tgt: bool = False) -> None:
        dom = self.net.domain.upper()
        if tgt:
            self.emit(ts, T4768, {
                "TargetUserName": acct.sam, "TargetDomainName": acct.domain, "TargetSid": acct.sid,
                "ServiceName": "krbtgt", "ServiceSid": self.net.domain_sid + "-502",
                "TicketOptions": "0x40810010", "Status": "0x0", "TicketEncryptionType": "0x12",
                "PreAuthType": "2", "IpAddress": "::ffff:" + ip, "IpPort": self.port(),
                "CertIssuerName": "", "CertSerialNumber": "", "CertThumbprint": ""}, self.lsass_pid)
        else:
            self.emit(ts, T4769, {
                "TargetUserName": f"{acct.sam}@{dom}", "TargetDomainName": dom,
                "ServiceName": service,
                "ServiceSid": self.net.domain_sid + "-1000", "TicketOptions": "0x40810000",
                "TicketEncryptionType": "0x12", "IpAddress": "::ffff:" + ip, "IpPort": self.port(),
                "Status": "0x0", "LogonGuid": "{" + self.guid().upper() + "}",
                "TransmittedServices": "-"}, self.lsass_pid)

    def share(self, ts: int, lg: Logon, ip: str, share: str, local: str) -> None:
        a = lg.acct
        self.emit(ts, T5140, {
            "SubjectUserSid": a.sid, "SubjectUserName": a.sam, "SubjectDomainName": a.domain,
            "SubjectLogonId": lg.id, "ObjectType": "File", "IpAddress": ip, "IpPort": self.port(),
            "ShareName": "\\\\*\\" + share, "ShareLocalPath": local, "AccessMask": "0x1",
            "AccessList": "%%4416\r\n\t\t\t\t"})

    def share_file(self, ts: int, lg: Logon, ip: str, share: str, local: str, rel: str,
                   write: bool = False) -> None:
        a = lg.acct
        self.emit(ts, T5145, {
            "SubjectUserSid": a.sid, "SubjectUserName": a.sam, "SubjectDomainName": a.domain,
            "SubjectLogonId": lg.id, "ObjectType": "File", "IpAddress": ip, "IpPort": self.port(),
            "ShareName": "\\\\*\\" + share, "ShareLocalPath": local, "RelativeTargetName": rel,
            "AccessMask": "0x100180" if write else "0x120089",
            "AccessList": _WRITE if write else _READ,
            "AccessReason": "-"})

    def task_created(self, ts: int, lg: Logon, name: str, command: str, args: str,
                     user_id: str) -> None:
        a = lg.acct
        content = (
            '<?xml version="1.0" encoding="UTF-16"?>\r\n<Task version="1.2" '
            'xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">\r\n  <Triggers>\r\n'
            "    <CalendarTrigger>\r\n      <StartBoundary>2026-01-01T02:00:00</StartBoundary>\r\n"
            "      <ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>\r\n"
            "    </CalendarTrigger>\r\n  </Triggers>\r\n  <Principals>\r\n"
            '    <Principal id="Author">\r\n'
            f"      <UserId>{user_id}</UserId>\r\n      <RunLevel>HighestAvailable</RunLevel>\r\n"
            '    </Principal>\r\n  </Principals>\r\n  <Actions Context="Author">\r\n    <Exec>\r\n'
            f"      <Command>{command}</Command>\r\n      <Arguments>{args}</Arguments>\r\n"
            "    </Exec>\r\n  </Actions>\r\n</Task>")
        self.emit(ts, T4698, {"SubjectUserSid": a.sid, "SubjectUserName": a.sam,
                              "SubjectDomainName": a.domain,
                              "SubjectLogonId": lg.id, "TaskName": name, "TaskContent": content},
                              self.lsass_pid)

    def user_created(self, ts: int, lg: Logon, new: Account) -> None:
        a, d = lg.acct, "%%1793"
        self.emit(ts, T4720, {
            "TargetUserName": new.sam, "TargetDomainName": new.domain, "TargetSid": new.sid,
            "SubjectUserSid": a.sid, "SubjectUserName": a.sam, "SubjectDomainName": a.domain,
            "SubjectLogonId": lg.id, "PrivilegeList": "-", "SamAccountName": new.sam,
            "DisplayName": new.display or d, "UserPrincipalName": f"{new.sam}@{self.net.domain}",
            "HomeDirectory": d, "HomePath": d, "ScriptPath": d, "ProfilePath": d,
            "UserWorkstations": d,
            "PasswordLastSet": "%%1794", "AccountExpires": "%%1794", "PrimaryGroupId": "513",
            "AllowedToDelegateTo": "-", "OldUacValue": "0x0", "NewUacValue": "0x15",
            "UserAccountControl": "\r\n\t\t%%2080\r\n\t\t%%2082\r\n\t\t%%2084",
            "UserParameters": "%%1792",
            "SidHistory": "-", "LogonHours": "%%1797"}, self.lsass_pid)

    def audit_cleared(self, ts: int, lg: Logon) -> None:
        a = lg.acct
        self.emit(ts, T1102, {"SubjectUserSid": a.sid, "SubjectUserName": a.sam,
                              "SubjectDomainName": a.domain,
                              "SubjectLogonId": lg.id}, self.eventlog_pid, None, marker=True)

    # ---- System / Application ----------------------------------------------------------------
    def log_cleared(self, ts: int, lg: Logon, channel: str) -> None:
        a = lg.acct
        self.emit(ts, T104, {"SubjectUserName": a.sam, "SubjectDomainName": a.domain,
                             "Channel": channel,
                             "BackupPath": ""}, self.eventlog_pid, a.sid, marker=True)

    def service_installed(self, ts: int, name: str, image: str, acct: Account,
                          start: str = "demand start",
                          account_name: str = "LocalSystem") -> None:
        self.emit(ts, T7045, {"ServiceName": name, "ImagePath": image,
                              "ServiceType": "user mode service",
                              "StartType": start, "AccountName": account_name}, self.services.pid,
                              acct.sid)

    def service_state(self, ts: int, display: str, short: str, running: bool) -> None:
        binary = (short + ("/4" if running else "/1")).encode("utf-16-le").hex().upper() + "0000"
        self.emit(ts, T7036, {"param1": display, "param2": "running" if running else "stopped",
                              "Binary": binary}, self.services.pid)

    def esent(self, ts: int, eid: int, process: str, pid: str, instance: str, dbid: str, path: str,
              path2: str = "") -> None:
        """ESENT 216/325/326/327; unnamed Data values as the Application log keeps them.

        ``pid`` is ESENT's process field: ``"3392"`` for NTDS/ntdsutil, ``"1532,D,0"`` for
        svchost-hosted databases (SRUDB.dat, catdb, DataStore.edb, Windows.edb).
        """
        if eid == 216:
            values: tuple[str, ...] = (process, pid, instance, path, path2)
        else:
            r = self.rng.choice
            timing = ", ".join(f"[{i}] 0.{r(_MS)}" for i in range(1, 13)) + "."
            values = (process, pid, instance, dbid, path, "0", timing)
            values += () if eid == 325 else ("1 0" if eid == 326 else "0 0",)
        self.emit(ts, T_ESENT[eid], values, 0)

    # ---- PowerShell --------------------------------------------------------------------------
    def ps_open(self, ts: int, proc: Proc, host_name: str = "ConsoleHost") -> PsCtx:
        ctx = PsCtx(proc, host_name, self.guid(), self.guid())
        self._ps_engine(ts, ctx, T400, "Available", "None")
        return ctx

    def ps_close(self, ts: int, ctx: PsCtx) -> None:
        self._ps_engine(ts, ctx, T403, "Stopped", "Available")

    def _ps_common(self, ctx: PsCtx) -> str:
        v = f"5.1.{self.build[5:]}.5329"
        return (f"\tHostName={ctx.host_name}\r\n\tHostVersion={v}\r\n\tHostId={ctx.host_id}\r\n"
                f"\tHostApplication={ctx.proc.cmd}\r\n\tEngineVersion={v}\r\n"
                f"\tRunspaceId={ctx.runspace}\r\n")

    def _ps_engine(self, ts: int, ctx: PsCtx, tpl: Tpl, new: str, prev: str) -> None:
        ctx.seq += 1
        details = (f"\tNewEngineState={new}\r\n\tPreviousEngineState={prev}\r\n\r\n"
                   f"\tSequenceNumber={ctx.seq}\r\n\r\n" + self._ps_common(ctx)
                   + "\tPipelineId=\r\n\tCommandName=\r\n\tCommandType=\r\n\tScriptName=\r\n"
                   "\tCommandPath=\r\n\tCommandLine=")
        self.emit(ts, tpl, (new, prev, details), 0)

    def ps_command(self, ts: int, ctx: PsCtx, text: str, cmdlets: list[tuple[str, dict[str,
                                                                                       str]]] = (),
                   warning: bool = False, path: str = "") -> None:
        """A script block (4104) and, for each cmdlet, module logging (4103) and pipeline (800)."""
        if not self.host.ps_logging:
            return
        acct = ctx.proc.logon.acct
        self.emit(ts, T4104W if warning else T4104, {
            "MessageNumber": "1", "MessageTotal": "1", "ScriptBlockText": text,
            "ScriptBlockId": self.guid(), "Path": path}, ctx.proc.pid, acct.sid)
        for i, (name, params) in enumerate(cmdlets):
            ctx.seq += 1
            payload = f'CommandInvocation({name}): "{name}"\r\n' + "".join(
                f'ParameterBinding({name}): name="{k}"; value="{v}"\r\n' for k, v in params.items())
            info = "".join(f"        {k} = {v}\r\n" for k, v in (
                ("Severity", "Informational"), ("Host Name", ctx.host_name),
                ("Host Application", ctx.proc.cmd), ("Command Name", name),
                ("Command Type", "Cmdlet"), ("Sequence Number", ctx.seq),
                ("User", acct.qualified), ("Shell ID", "Microsoft.PowerShell")))
            t = ts + 900 * (i + 1)
            self.emit(t, T4103, {"ContextInfo": info, "UserData": "", "Payload": payload},
                      ctx.proc.pid, acct.sid)
            details = (f"\tDetailSequence=1\r\n\tDetailTotal=1\r\n\r\n"
                       f"\tSequenceNumber={ctx.seq}\r\n\r\n\tUserId={acct.qualified}\r\n"
                       + self._ps_common(ctx) + f"\tPipelineId={ctx.seq // 2}\r\n"
                       f"\tCommandName={name}\r\n\tCommandType=Cmdlet\r\n"
                       f"\tScriptName={path}\r\n\tCommandPath=\r\n\tCommandLine={text}")
            self.emit(t + 40, T800, (text, details, payload), 0)
    # fmt: on


# ---- what commands leave besides their process event -------------------------------------------
_IFM = re.compile(r'create (?:sysvol )?full ([A-Za-z]:\\[^"]*?)\\?"', re.I)
_PROXY = re.compile(r"(listenport|listenaddress|connectport|connectaddress)=([\d.]+)")
_REDIRECT = re.compile(r"(?<![12])>>? ?([A-Za-z]:\\[^ &\"]+)")


def split_image(cmd: str) -> tuple[str, str]:
    """(program, arguments) of a command line; a quoted program may contain spaces."""
    if cmd.startswith('"') and '"' in cmd[1:]:
        tok, _, rest = cmd[1:].partition('"')
        return tok, rest.lstrip()
    tok, _, rest = cmd.partition(" ")
    return tok.strip('"'), rest


def vss_snapshot(st: HostState, ts: int) -> str:
    """VSS starts for a snapshot; returns the shadow device path the snapshot gets."""
    st.service_state(ts, "Volume Shadow Copy", "VSS", True)
    st.service_state(ts + 400_000, "Microsoft Software Shadow Copy provider", "swprv", True)
    st.service_state(ts + 190 * SEC, "Volume Shadow Copy", "VSS", False)
    n, st.shadow_n = st.shadow_n, st.shadow_n + 1
    return f"\\\\?\\GLOBALROOT\\Device\\HarddiskVolumeShadowCopy{n}"


def effects(st: HostState, ts: int, proc: Proc, cmd: str, pe_as: str | None = None) -> None:
    """ESENT, registry, file, service events a command causes (IFM, portproxy, reg save...).

    ``pe_as`` names the real program behind a renamed binary (``ronf.exe`` is ``rar.exe``).
    """
    low, name = cmd.lower(), (pe_as or proc.image.rsplit("\\", 1)[-1]).lower()
    if name == "ntdsutil.exe" and " ifm" in low:
        m = _IFM.search(cmd)
        out = m.group(1) if m else "C:\\IFM"
        shadow = vss_snapshot(st, ts + SEC) + "\\Windows\\NTDS\\ntds.dit"
        pid, t, db = str(proc.pid), ts + 3 * SEC, out + "\\Active Directory\\ntds.dit"
        st.esent(t, 216, "NTDS", pid, "", "", "C:\\Windows\\NTDS\\ntds.dit", shadow)
        for dt, eid, dbid, path in ((20_000, 326, "1", shadow), (1_100_000, 327, "1", shadow),
                                    (2_000_000, 325, "2", db), (2_050_000, 326, "2", db),
                                    (6_400_000, 327, "2", db)):  # fmt: skip
            st.esent(t + dt, eid, "NTDS", pid, "", dbid, path)
        for i, f in enumerate(("Active Directory\\ntds.dit", "Active Directory\\ntds.jfm",
                               "registry\\SYSTEM", "registry\\SECURITY")):  # fmt: skip
            st.file(t + 2_100_000 + i * 900_000, proc, out + "\\" + f)
    elif (name == "ntdsutil.exe" and "snapshot" in low and "create" in low) or (
        name == "vssadmin.exe" and "create shadow" in low
    ):
        vss_snapshot(st, ts + SEC)
    elif name == "netsh.exe" and "portproxy add" in low:
        kv = dict(_PROXY.findall(low))
        key = f"{kv.get('listenaddress', '0.0.0.0')}/{kv.get('listenport', '')}"
        st.reg(ts + 60_000, proc,
               "HKLM\\System\\CurrentControlSet\\Services\\PortProxy\\v4tov4\\tcp\\" + key,
               f"{kv.get('connectaddress', '')}/{kv.get('connectport', '')}")  # fmt: skip
    elif name == "reg.exe" and " save " in low:
        target = cmd.split()[-1]
        st.file(
            ts + 300_000, proc, target if ":\\" in target else proc.cwd.rstrip("\\") + "\\" + target
        )
    elif name in ("7z.exe", "rar.exe", "makecab.exe"):
        parts = [
            p
            for p in split_image(cmd)[1].split()
            if "\\" in p and not p.endswith("*") and ".exe" not in p.lower()
        ]
        if parts:
            out = parts[-1] if name == "makecab.exe" else parts[0]
            if name == "7z.exe" and " -v" in low:  # multi-volume: name.7z.001, .002 ...
                out += ".001"
            st.file(
                ts + 2 * SEC,
                proc,
                out if re.match(r"[A-Za-z]:\\", out) else ntpath.normpath(proc.cwd + out),
            )
    elif name == "ldifde.exe" and "-f " in low:
        st.file(ts + 800_000, proc, cmd.split("-f ", 1)[1].split()[0])
    elif name == "schtasks.exe" and "/create" in low:
        tn = cmd.split('/tn "', 1)[1].split('"', 1)[0] if '/tn "' in cmd else "Task"
        tr = cmd.split('/tr "', 1)[1].split('"', 1)[0] if '/tr "' in cmd else cmd
        exe, _, args = tr.partition(" ")
        st.task_created(ts + 200_000, proc.logon, "\\" + tn, exe, args, "S-1-5-18")
    if name == "cmd.exe":
        for m in _REDIRECT.finditer(cmd):
            st.file(ts + 500_000, proc, m.group(1))


def run_and_effect(st: HostState, ts: int, parent: Proc, cmd: str, **kw) -> Proc:
    proc = st.run(ts, parent, cmd, **kw)
    effects(st, ts, proc, cmd, kw.get("pe_as"))
    return proc

"""What the logs tell about the hosts themselves: which address is which host, which hosts
are servers, and how a logon session reached its host (RDP, SMB, WMI, a service...).

Nothing here is configured: addresses come from machine-account logons and the hosts' own
outbound connections, servers from what runs and logs on them, so the same code works on a
simulated network, a lab recording and a real export.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from ..events import schema
from .frame import HK, Frames

#: Ports of Windows remote administration, as the method an outbound connection means.
PORT_METHODS = {"3389": "rdp", "445": "smb", "135": "wmi", "5985": "winrm", "5986": "winrm"}
#: Named pipes and shares as the method a network logon used (best first).
_PIPE_METHODS = (("psexesvc", "service"), ("svcctl", "service"), ("atsvc", "scheduled_task"))
_PARENT_METHODS = {"wmiprvse.exe": "wmi", "wsmprovhost.exe": "winrm", "psexesvc.exe": "service"}
_METHOD_RANK = {"service": 0, "scheduled_task": 1, "wmi": 2, "winrm": 3, "smb": 4, "rdp": 5}
_WEB_SERVERS = ("w3wp.exe", "java.exe", "tomcat9.exe", "httpd.exe", "nginx.exe", "php-cgi.exe")
#: Distinct people logging on over the network from which a host counts as a server (a
#: workstation sees its owner, their admin account and a helpdesk or two).
SERVER_LOGON_ACCOUNTS = 5
_LOCAL = frozenset({"", "-", "127.0.0.1", "::1", "0.0.0.0", "localhost"})


@dataclass
class HostMap:
    """Addresses and roles of the hosts the logs speak of."""

    by_address: dict[str, str]
    servers: set[str]
    dcs: set[str]
    #: (host key, logon id) -> how that session came in (``wmi``, ``smb``, ``service``...).
    methods: dict[tuple[str, str], str]

    def resolve(self, addr: str, name: str = "") -> str:
        """The host key behind an address (or the workstation name), else the address."""
        if addr in self.by_address:
            return self.by_address[addr]
        if name and name not in _LOCAL:
            return name
        return addr

    @staticmethod
    def local(addr: str) -> bool:
        return addr in _LOCAL


def host_map(frames: Frames) -> HostMap:
    votes: Counter[tuple[str, str]] = Counter()
    logons = frames.logons
    user = pc.utf8_lower(pc.replace_substring_regex(logons.column("account"), r"^.*\\", ""))
    machine = logons.filter(
        pc.and_(pc.ends_with(user, "$"), pc.equal(logons.column(schema.EVENT_ID), 4624))
    )
    pairs = pa.table(
        {
            "a": machine.column("src"),
            "h": pc.replace_substring_regex(
                pc.utf8_lower(pc.replace_substring_regex(machine.column("account"), r"^.*\\", "")),
                r"\$$",
                "",
            ),
        }
    )
    _count(votes, pairs)
    net = frames.network
    out = net.filter(pc.equal(net.column("initiated"), "true"))
    _count(votes, pa.table({"a": out.column("src"), "h": out.column(HK)}), weight=1)
    by_address: dict[str, str] = {}
    best: dict[str, int] = {}
    for (addr, hk), n in votes.items():
        if addr in _LOCAL or not hk:
            continue
        if n > best.get(addr, 0):
            best[addr], by_address[addr] = n, hk
    return HostMap(by_address, _servers(frames), _dcs(frames), _methods(frames))


def _count(votes: Counter[tuple[str, str]], pairs: pa.Table, weight: int = 1) -> None:
    if pairs.num_rows == 0:
        return
    grouped = pairs.group_by(["a", "h"]).aggregate([("a", "count")])
    for a, h, n in zip(
        *(grouped.column(c).to_pylist() for c in ("a", "h", "a_count")), strict=True
    ):
        votes[(a, h)] += n * weight


def _dcs(frames: Frames) -> set[str]:
    """Domain controllers: the hosts whose Security log issues Kerberos tickets or
    validates credentials for the domain (4768/4769/4776 land only there)."""
    core = frames.core
    kdc = core.filter(
        pc.is_in(core.column(schema.EVENT_ID), pa.array([4768, 4769, 4776], pa.int32()))
    )
    return set(pc.unique(kdc.column(HK)).to_pylist())


def _servers(frames: Frames) -> set[str]:
    """Domain controllers, hosts running a web server, and hosts people log on to over the
    network from elsewhere (file, database, monitoring servers)."""
    servers = _dcs(frames)
    proc = frames.processes
    web = proc.filter(pc.is_in(proc.column("parent_base"), pa.array(_WEB_SERVERS)))
    web2 = proc.filter(pc.is_in(proc.column("image_base"), pa.array(_WEB_SERVERS)))
    servers |= set(pc.unique(web.column(HK)).to_pylist()) | set(
        pc.unique(web2.column(HK)).to_pylist()
    )
    logons = frames.logons
    net3 = logons.filter(
        pc.and_(
            pc.equal(logons.column("ltype"), "3"), pc.equal(logons.column(schema.EVENT_ID), 4624)
        )
    )
    user = pc.utf8_lower(net3.column("account"))
    net3 = net3.filter(
        pc.invert(pc.or_(pc.ends_with(user, "$"), pc.match_substring(user, "anonymous")))
    )
    if net3.num_rows:
        people = net3.group_by(HK).aggregate([("account", "count_distinct")])
        for hk, n in zip(
            people.column(HK).to_pylist(),
            people.column("account_count_distinct").to_pylist(),
            strict=True,
        ):
            if n >= SERVER_LOGON_ACCOUNTS:
                servers.add(hk)
    return servers


def _methods(frames: Frames) -> dict[tuple[str, str], str]:
    """How each logon session on a host was used, from its share access and the
    processes started in it."""
    found: dict[tuple[str, str], str] = {}

    def put(hk: str, session: str, method: str) -> None:
        key = (hk, session)
        if key not in found or _METHOD_RANK[method] < _METHOD_RANK[found[key]]:
            found[key] = method

    shares = frames.shares
    if shares.num_rows:
        grouped = shares.group_by([HK, "session", "share", "target_name"]).aggregate([])
        for hk, session, share, target in zip(
            *(grouped.column(c).to_pylist() for c in (HK, "session", "share", "target_name")),
            strict=True,
        ):
            if share == "ipc$":
                for pipe, method in _PIPE_METHODS:
                    if pipe in target:
                        put(hk, session, method)
            elif share.endswith("$"):
                put(hk, session, "smb")
    proc = frames.processes
    hits = proc.filter(pc.is_in(proc.column("parent_base"), pa.array(sorted(_PARENT_METHODS))))
    if hits.num_rows:
        grouped = hits.group_by([HK, "session", "parent_base"]).aggregate([])
        for hk, session, parent in zip(
            *(grouped.column(c).to_pylist() for c in (HK, "session", "parent_base")), strict=True
        ):
            put(hk, session, _PARENT_METHODS[parent])
    return found

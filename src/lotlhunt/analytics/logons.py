"""Logons against the network's own history: who logs on where, from where, and how.

Inbound (the target's view): 4624 network and RDP logons, 4778 reconnections and 1149
RDP authentications, judged by first-seen (account -> host, source -> host), addresses
the fleet never saw, and RDP into a server from another server. Outbound (the source's
view, which survives a wiped target log): 4648 explicit credentials and Sysmon 3
connections to another host's remote-administration ports, new for that pair.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..events import schema
from ..model import LateralEdge, Signal
from .baseline import Baseline, behaviour, dated, first_rows, human, session_key
from .frame import HK, TS, key_ids, np_col
from .hosts import PORT_METHODS, HostMap

_INBOUND_TYPES = ("3", "10")
_TAGS_RDP = ("attack.lateral-movement", "attack.t1021.001")
_TAGS_LOGON = ("attack.lateral-movement", "attack.t1021", "attack.t1078")


def _utc(ts: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts / 1e6, UTC).strftime("%Y-%m-%d %H:%M UTC")


def inbound(frames_logons: pa.Table, base: Baseline, hosts: HostMap) -> list[Signal]:
    """First-seen and unusual inbound network / RDP logons."""
    t = frames_logons
    keep = pc.and_(
        pc.is_in(t.column(schema.EVENT_ID), pa.array([4624, 4778, 1149], pa.int32())),
        pc.is_in(t.column("ltype"), pa.array(_INBOUND_TYPES)),
    )
    t = t.filter(pc.and_(keep, human(t.column("account"))))
    if t.num_rows == 0:
        return []
    src_addr = np_col(t, "src")
    src_name = np_col(t, "src_name")
    local = np.array([HostMap.local(a) for a in src_addr], bool)
    t = t.filter(pa.array(~local))
    if t.num_rows == 0:
        return []
    hks, ts = np_col(t, HK), np_col(t, TS)
    src_addr, src_name = np_col(t, "src"), np_col(t, "src_name")
    src = np.array([hosts.resolve(a, n) for a, n in zip(src_addr, src_name, strict=True)], object)
    acct = pc.utf8_lower(t.column("account"))
    acct_np = np.asarray(acct.to_pylist(), object)
    seasoned = base.seasoned(hks, ts, np_col(t, schema.CHANNEL))
    if not seasoned.any():
        base.too_short("first-seen logons", "12 hours of a host's logs before a logon")
        return []
    first_ah, _ = first_rows(key_ids(acct, t.column(HK)), ts)
    first_sh, _ = first_rows(key_ids(pa.array(src, pa.string()), t.column(HK)), ts)
    first_s, _ = first_rows(key_ids(pa.array(src_addr, pa.string())), ts)
    new_ah = np.zeros(t.num_rows, bool)
    new_ah[first_ah] = True
    new_sh = np.zeros(t.num_rows, bool)
    new_sh[first_sh] = True
    new_s = np.zeros(t.num_rows, bool)
    new_s[first_s] = True
    ltype = np_col(t, "ltype")
    rdp = ltype == "10"
    server_to_server = np.array(
        [
            r and h in hosts.servers and s in hosts.servers and s != h
            for r, h, s in zip(rdp, hks, src, strict=True)
        ],
        bool,
    )
    flagged = seasoned & (new_ah | new_sh | (server_to_server & new_sh))
    # One signal per (account, source, host): the first logon that made it new.
    triple = key_ids(acct, pa.array(src, pa.string()), t.column(HK))
    firsts, counts = first_rows(triple, ts)
    is_first = np.zeros(t.num_rows, bool)
    is_first[firsts] = True
    rows = np.flatnonzero(flagged & is_first)
    if rows.size == 0:
        return []
    # The hosts each account had logged on to, and when it first did.
    hosts_of: dict[str, list[int]] = {}
    for i in first_ah:
        hosts_of.setdefault(acct_np[i], []).append(int(ts[i]))
    accounts = np_col(t, "account")
    sessions = np_col(t, "session")
    out: list[Signal] = []
    for i in map(int, rows):
        hk, who, s, when = hks[i], accounts[i], src[i], int(ts[i])
        before = sum(1 for x in hosts_of.get(acct_np[i], []) if x < when)
        days = base.history_hours(hk, when) / 24
        kind = "RDP" if rdp[i] else "network"
        parts = []
        if new_ah[i]:
            parts.append(f"first {kind} logon of {who} to {base.name(hk)}")
        else:
            parts.append(f"{kind} logon of {who} to {base.name(hk)}")
        parts.append(f"from {s}" + (f" ({src_addr[i]})" if s != src_addr[i] else ""))
        reasons = [f"in {days:.1f} days of its logs"]
        if new_sh[i] and not new_ah[i]:
            reasons.append(f"first time {s} reaches it")
        if new_s[i]:
            reasons.append("an address no host saw before")
        if server_to_server[i]:
            reasons.append("RDP into a server from a server")
        reasons.append(f"this account had used {before} host{'s' if before != 1 else ''} before")
        level = "medium" if server_to_server[i] or (new_s[i] and hk in hosts.servers) else "low"
        method = "rdp" if rdp[i] else hosts.methods.get((hk, sessions[i]), "logon")
        edge = LateralEdge(source=s, target=hk, account=who, method=method, first=None)
        key = session_key(hk, sessions[i])
        sig = behaviour(
            "first_seen_logon" if new_ah[i] or new_sh[i] else "rdp_server_to_server",
            level,
            " ".join(parts)
            + "; "
            + "; ".join(reasons)
            + f" ({int(counts[i])} such logons in all).",
            t,
            [i],
            _TAGS_RDP if rdp[i] else _TAGS_LOGON,
            account=who,
            keys=(key,) if key else (),
            edge=edge,
        )
        out.append(dated(sig))
    return out


def explicit(frames_logons: pa.Table, base: Baseline, hosts: HostMap) -> list[Signal]:
    """4648 on the source host: credentials of another account used against another host,
    new for (account, source, target)."""
    t = frames_logons
    t = t.filter(pc.equal(t.column(schema.EVENT_ID), 4648))
    if t.num_rows == 0:
        return []
    target = np_col(t, "target")
    hks = np_col(t, HK)
    keep = np.array(
        [
            bool(x) and x not in ("localhost", "-") and x != h
            for x, h in zip(target, hks, strict=True)
        ],
        bool,
    )
    t = t.filter(pa.array(keep & np.asarray(human(t.column("account")).to_pylist(), bool)))
    if t.num_rows == 0:
        return []
    hks, ts, target = np_col(t, HK), np_col(t, TS), np_col(t, "target")
    firsts, counts = first_rows(
        key_ids(pc.utf8_lower(t.column("account")), t.column(HK), t.column("target")), ts
    )
    seasoned = base.seasoned(hks, ts, np_col(t, schema.CHANNEL))
    accounts, subjects, sessions = np_col(t, "account"), np_col(t, "subject"), np_col(t, "session")
    out = []
    for i in map(int, firsts):
        if not seasoned[i]:
            continue
        hk = hks[i]
        who = accounts[i]
        key = session_key(hk, sessions[i])
        edge = LateralEdge(source=hk, target=target[i], account=who, method="logon", first=None)
        days = base.history_hours(hk, int(ts[i])) / 24
        out.append(
            dated(
                behaviour(
                    "first_seen_explicit_credentials",
                    "low",
                    f"{subjects[i]} on {base.name(hk)} used the credentials of {who} against "
                    f"{target[i]} for the first time in {days:.1f} days of its logs "
                    f"({int(counts[i])} such uses in all).",
                    t,
                    [i],
                    ("attack.lateral-movement", "attack.t1078"),
                    account=who,
                    keys=(key,) if key else (),
                    edge=edge,
                )
            )
        )
    return out


def outbound(network: pa.Table, base: Baseline, hosts: HostMap) -> list[Signal]:
    """Sysmon 3: a process connecting to another host's RDP, SMB, RPC or WinRM port for
    the first time (per source host, target host, port and program)."""
    t = network
    t = t.filter(
        pc.and_(
            pc.equal(t.column("initiated"), "true"),
            pc.is_in(t.column("port"), pa.array(sorted(PORT_METHODS))),
        )
    )
    if t.num_rows == 0:
        return []
    dst = np_col(t, "dst")
    target = np.array([hosts.by_address.get(a, "") for a in dst], object)
    hks = np_col(t, HK)
    keep = (target != "") & (target != hks)
    t = t.filter(pa.array(keep))
    if t.num_rows == 0:
        return []
    target = target[keep]
    hks, ts = np_col(t, HK), np_col(t, TS)
    tgt = pa.array(target, pa.string())
    firsts, counts = first_rows(
        key_ids(t.column(HK), tgt, t.column("port"), t.column("image_base")), ts
    )
    pair_first, _ = first_rows(key_ids(t.column(HK), tgt, t.column("port")), ts)
    new_pair = np.zeros(t.num_rows, bool)
    new_pair[pair_first] = True
    seasoned = base.seasoned(hks, ts, np_col(t, schema.CHANNEL))
    ports, images, users, guids = (np_col(t, c) for c in ("port", "image_base", "account", "guid"))
    out = []
    for i in map(int, firsts):
        if not seasoned[i]:
            continue
        hk = hks[i]
        method = PORT_METHODS[ports[i]]
        days = base.history_hours(hk, int(ts[i])) / 24
        what = "first connection" if new_pair[i] else f"first connection by {images[i]}"
        edge = LateralEdge(
            source=hk, target=target[i], account=users[i] or None, method=method, first=None
        )
        out.append(
            dated(
                behaviour(
                    "first_seen_remote_admin_connection",
                    "low",
                    f"{what} from {base.name(hk)} to {target[i]} port {ports[i]} ({method}) by "
                    f"{images[i]} in {days:.1f} days of its logs "
                    f"({int(counts[i])} such connections in all).",
                    t,
                    [i],
                    ("attack.lateral-movement",),
                    account=users[i] or None,
                    keys=(("process", f"{hk}|{guids[i]}"),) if guids[i] else (),
                    edge=edge,
                )
            )
        )
    return out

"""Admin shares and named pipes (5140/5145) opened by an account or from a source that
never opened them on that host before.

Admin shares (``C$``, ``ADMIN$``, any hidden share but ``IPC$`` / ``print$``) and named
pipes reached through ``IPC$`` (PsExec's, the service and task managers') are how files
and commands cross hosts; the file server the intruder reads shows nothing else.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..events import schema
from ..model import LateralEdge, Signal
from .baseline import Baseline, behaviour, dated, first_rows, human, session_key
from .frame import HK, TS, key_ids, np_col
from .hosts import HostMap

_ORDINARY = ("ipc$", "print$", "sysvol", "netlogon")
#: Pipes every domain member opens all day (lsarpc, samr, netlogon...): not signals.
_COMMON_PIPES = (
    "lsarpc",
    "samr",
    "netlogon",
    "srvsvc",
    "wkssvc",
    "spoolss",
    "protected_storage",
    "mdm",
)


def shares(table: pa.Table, base: Baseline, hosts: HostMap) -> list[Signal]:
    t = table
    if t.num_rows == 0:
        return []
    share = t.column("share")
    target = t.column("target_name")
    admin = pc.and_(pc.ends_with(share, "$"), pc.invert(pc.is_in(share, pa.array(_ORDINARY))))
    pipe = pc.and_(pc.equal(share, "ipc$"), pc.not_equal(target, ""))
    for common in _COMMON_PIPES:
        pipe = pc.and_(pipe, pc.invert(pc.match_substring(target, common)))
    t = t.filter(pc.and_(pc.or_(admin, pipe), human(t.column("account"))))
    if t.num_rows == 0:
        return []
    hks, ts = np_col(t, HK), np_col(t, TS)
    seasoned = base.seasoned(hks, ts, np_col(t, schema.CHANNEL))
    if not seasoned.any():
        base.too_short("share access", "12 hours of a host's logs before the access")
        return []
    # What was opened: the share, or for IPC$ the pipe with its numbers blanked.
    what = pc.if_else(
        pc.equal(t.column("share"), "ipc$"),
        pc.binary_join_element_wise(
            "pipe \\", pc.replace_substring_regex(t.column("target_name"), r"\d+", "#"), ""
        ),
        t.column("share"),
    )
    acct = pc.utf8_lower(t.column("account"))
    src = np.array([hosts.resolve(a) for a in np_col(t, "src")], object)
    src_arr = pa.array(src, pa.string())
    first_acct, counts = first_rows(key_ids(acct, t.column(HK), what), ts)
    first_src, _ = first_rows(key_ids(src_arr, t.column(HK), what), ts)
    new_acct = np.zeros(t.num_rows, bool)
    new_acct[first_acct] = True
    new_src = np.zeros(t.num_rows, bool)
    new_src[first_src] = True
    flagged = np.flatnonzero(seasoned & (new_acct | new_src))
    accounts, sessions, whats = (
        np_col(t, "account"),
        np_col(t, "session"),
        np.asarray(what.to_pylist(), object),
    )
    out = []
    for i in map(int, flagged):
        hk = hks[i]
        new = []
        if new_acct[i]:
            new.append(f"by {accounts[i]}")
        if new_src[i]:
            new.append(f"from {src[i]}")
        key = session_key(hk, sessions[i])
        is_pipe = whats[i].startswith("pipe")
        method = (
            "service" if is_pipe and ("psexesvc" in whats[i] or "svcctl" in whats[i]) else "smb"
        )
        edge = None
        if not HostMap.local(src[i]) and src[i] != hk:
            edge = LateralEdge(
                source=src[i], target=hk, account=accounts[i], method=method, first=None
            )
        out.append(
            dated(
                behaviour(
                    "new_admin_share_access" if not is_pipe else "new_named_pipe",
                    "low",
                    f"{whats[i]} on {base.name(hk)} opened {' and '.join(new)} for the first "
                    f"time in "
                    f"{base.history_hours(hk, int(ts[i])) / 24:.1f} days of its logs "
                    f"({int(counts[i])} such accesses by this account in all).",
                    t,
                    [i],
                    ("attack.lateral-movement", "attack.t1021.002"),
                    account=accounts[i],
                    keys=(key,) if key else (),
                    edge=edge,
                )
            )
        )
    return out

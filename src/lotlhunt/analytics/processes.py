"""Processes against the host's and the fleet's habits: living-off-the-land binaries run
in a command-line shape rare here and elsewhere, parent -> child pairs a host never
showed, and bursts of distinct discovery commands in one logon session.

A command line's *shape* is the line lower-cased with numbers blanked and the program's
path cut to its name, so that ``ping -n 1 10.0.0.5`` and ``ping -n 1 10.0.0.6`` are one
habit while ``wmic /node:dc01 process call create`` is another.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..events import schema
from ..model import Signal
from .baseline import MIN_FLEET, Baseline, behaviour, first_rows, session_key
from .frame import HK, TS, key_ids, np_col

#: Binaries the intruder's tradecraft leans on (volt-typhoon.md rows 6-33, §2 H13).
LOTL = (
    "wmic.exe",
    "ntdsutil.exe",
    "netsh.exe",
    "vssadmin.exe",
    "reg.exe",
    "ldifde.exe",
    "dsquery.exe",
    "certutil.exe",
    "powershell.exe",
    "pwsh.exe",
    "nltest.exe",
    "dnscmd.exe",
    "wevtutil.exe",
    "bitsadmin.exe",
    "rundll32.exe",
    "regsvr32.exe",
    "mshta.exe",
    "schtasks.exe",
    "sc.exe",
    "psexec.exe",
    "esentutl.exe",
    "makecab.exe",
    "7z.exe",
    "rar.exe",
    "cscript.exe",
    "wscript.exe",
    "diskshadow.exe",
    "csvde.exe",
    "dsget.exe",
    "adfind.exe",
    "pcwrun.exe",
    "cmstp.exe",
    "msiexec.exe",
)
#: Discovery commands (rows 18-24): a program, or a program and its first argument.
DISCOVERY = (
    "whoami.exe",
    "systeminfo.exe",
    "ipconfig.exe",
    "arp.exe",
    "netstat.exe",
    "nltest.exe",
    "dsquery.exe",
    "quser.exe",
    "query.exe",
    "qwinsta.exe",
    "tasklist.exe",
    "dnscmd.exe",
    "ldifde.exe",
    "ping.exe",
    "route.exe",
    "hostname.exe",
    "nslookup.exe",
    "net.exe",
    "net1.exe",
    "wmic.exe",
    "reg.exe",
    "netsh.exe",
    "curl.exe",
    "csvde.exe",
    "adfind.exe",
)
_SHAPED = ("net.exe", "net1.exe", "wmic.exe", "reg.exe", "netsh.exe", "query.exe")
#: Distinct discovery commands in one session within ``BURST_US`` that make a burst
#: (Google's AA23-144A rules: more than 5 in 15 minutes; §2 H10).
BURST_COMMANDS = 6
BURST_US = 15 * 60 * 1_000_000
#: A shape run at most this often on its host, and on no other host, is rare.
RARE_ON_HOST = 2
_ENCODED = r"(?i)\s-(e|en|enc|enco|encod|encode|encoded|encodedcommand)\s+[a-z0-9+/=]{16,}"
_DOWNLOAD = (
    r"(?i)(downloadstring|downloadfile|invoke-webrequest|iwr\s|wget\s|curl\s|net\.webclient"
    r"|start-bitstransfer|-urlcache)"
)


def shapes(table: pa.Table) -> pa.Array:
    """The command-line shape of every row (see the module docstring)."""
    cmd = pc.utf8_lower(table.column("cmd"))
    cmd = pc.replace_substring_regex(cmd, r'^\s*"?[^"]*?\\([^\\"]+?)"?(\s|$)', r"\1\2")
    cmd = pc.replace_substring_regex(
        cmd, r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "#"
    )
    cmd = pc.replace_substring_regex(cmd, r"\d+", "#")
    cmd = pc.replace_substring_regex(cmd, r"\s+", " ")
    return pc.utf8_slice_codeunits(pc.utf8_trim_whitespace(cmd), 0, 200)


def unique_runs(table: pa.Table) -> pa.Table:
    """One row per process start: Sysmon 1 and Security 4688 of the same start (same host,
    second, program and command line) count once (the Sysmon row is kept: it has GUIDs)."""
    second = pc.divide(table.column(TS), 1_000_000)
    ids = key_ids(table.column(HK), second, table.column("image"), table.column("cmd"))
    pref = np.where(np_col(table, schema.EVENT_ID) == 1, 0, 1)
    order = np.lexsort((pref, ids))
    sorted_ids = ids[order]
    first = order[np.r_[True, sorted_ids[1:] != sorted_ids[:-1]]] if ids.size else order
    # A mask keeps the rows in order as taking their sorted positions did, at half the
    # cost (two thirds of the rows are kept, most columns text).
    keep = np.zeros(table.num_rows, bool)
    keep[first] = True
    return table.filter(pa.array(keep))


def _keys(hk: str, session: str, guid: str, pguid: str) -> tuple[tuple[str, str], ...]:
    out = []
    key = session_key(hk, session)
    if key:
        out.append(key)
    if guid:
        out.append(("process", f"{hk}|{guid}"))
    if pguid:
        out.append(("process", f"{hk}|{pguid}"))
    return tuple(out)


def rare_lotl(processes: pa.Table, base: Baseline) -> list[Signal]:
    """LOTL binaries in a shape rare on this host and unseen on the others (``processes``
    as :func:`unique_runs` gives them, like the analytics below)."""
    t = processes
    t = t.filter(pc.is_in(t.column("image_base"), pa.array(LOTL)))
    if t.num_rows == 0:
        return []
    if base.fleet < MIN_FLEET:
        base.too_short("rare command shapes", f"logs of {MIN_FLEET} hosts or more")
        return []
    shape = shapes(t)
    hks, ts = np_col(t, HK), np_col(t, TS)
    firsts, on_host = first_rows(key_ids(t.column(HK), shape), ts)
    fleet = (
        pa.table({"s": shape, "h": t.column(HK)}).group_by("s").aggregate([("h", "count_distinct")])
    )
    hosts_of = dict(
        zip(
            fleet.column("s").to_pylist(), fleet.column("h_count_distinct").to_pylist(), strict=True
        )
    )
    shape_np = np.asarray(shape.to_pylist(), object)
    seasoned = base.seasoned(hks, ts, np_col(t, schema.CHANNEL))
    encoded = np.asarray(pc.match_substring_regex(t.column("cmd"), _ENCODED).to_pylist(), bool)
    download = np.asarray(pc.match_substring_regex(t.column("cmd"), _DOWNLOAD).to_pylist(), bool)
    cols = {c: np_col(t, c) for c in ("image_base", "account", "session", "guid", "pguid")}
    out = []
    for i in map(int, firsts):
        if not seasoned[i] or on_host[i] > RARE_ON_HOST or hosts_of[shape_np[i]] > 1:
            continue
        hk = hks[i]
        extra = ""
        level = "low"
        if encoded[i] or download[i]:
            level = "medium"
            extra = " with an encoded command" if encoded[i] else " downloading"
        out.append(
            behaviour(
                "rare_lotl_command",
                level,
                f"{cols['image_base'][i]}{extra} in a shape run {int(on_host[i])} time"
                f"{'s' if on_host[i] != 1 else ''} on {base.name(hk)} and on none of the other "
                f"{base.fleet - 1} hosts in {base.history_hours(hk, int(ts[i])) / 24:.1f} days: "
                f"{shape_np[i][:120]}",
                t,
                [i],
                ("attack.execution", "attack.t1059"),
                account=cols["account"][i],
                keys=_keys(hk, cols["session"][i], cols["guid"][i], cols["pguid"][i]),
            )
        )
    return out


def new_parent_child(processes: pa.Table, base: Baseline) -> list[Signal]:
    """Parent -> child pairs a host never showed before and no other host shows."""
    rows = np.flatnonzero(
        pc.not_equal(processes.column("parent_base"), "").to_numpy(zero_copy_only=False)
    )
    if rows.size == 0 or base.fleet < MIN_FLEET:
        return []
    # The columns the pairs are judged by, of the rows with a parent; the rest of the
    # table only for the rows judged.
    t = processes.select([HK, TS, "parent_base", "image_base"])
    if rows.size != t.num_rows:
        t = t.take(pa.array(rows))
    pair = joined(t.column("parent_base"), t.column("image_base"), " -> ")
    firsts, on_host = first_rows(key_ids(t.column(HK), pair), np_col(t, TS))
    hosts_of = distinct_per_code(pair, key_ids(t.column(HK)))
    codes = pair.indices.to_numpy()
    # Only the first row of each (host, pair) is judged: the rest is read for those rows.
    firsts = firsts[hosts_of[codes[firsts]] <= 1]
    firsts = firsts[on_host[firsts] <= RARE_ON_HOST]
    first = processes.take(pa.array(rows[firsts], pa.int64()))
    hks, ts = np_col(first, HK), np_col(first, TS)
    seasoned = base.seasoned(hks, ts, np_col(first, schema.CHANNEL))
    cols = {c: np_col(first, c) for c in ("account", "session", "guid", "pguid")}
    names = pair.dictionary.to_pylist()
    out = []
    for k, i in enumerate(map(int, firsts)):
        if not seasoned[k]:
            continue
        hk = hks[k]
        out.append(
            behaviour(
                "new_parent_child",
                "low",
                f"{names[codes[i]]} seen {int(on_host[i])} time{'s' if on_host[i] != 1 else ''} "
                f"on {base.name(hk)}, never before in "
                f"{base.history_hours(hk, int(ts[k])) / 24:.1f} days "
                f"of its logs nor on any other of the {base.fleet} hosts.",
                first,
                [k],
                ("attack.execution",),
                account=cols["account"][k],
                keys=_keys(hk, cols["session"][k], cols["guid"][k], cols["pguid"][k]),
            )
        )
    return out


def joined(
    left: pa.ChunkedArray | pa.Array, right: pa.ChunkedArray | pa.Array, sep: str
) -> pa.DictionaryArray:
    """``left``, ``sep``, ``right`` joined per row, as a dictionary: each distinct pair is
    joined once (not a string per row), and the dictionary holds the texts in the order
    of their first row, as dictionary-encoding the joined column would."""
    combo = key_ids(left, right)
    if combo.size == 0:
        return pc.dictionary_encode(pa.array([], pa.string()))
    n = int(combo.max()) + 1
    first = np.zeros(n, np.int64)
    first[combo[::-1]] = np.arange(combo.size)[::-1]
    take = pa.array(first)
    texts = pc.fill_null(pc.binary_join_element_wise(left.take(take), right.take(take), sep), "")
    by_first = np.argsort(first, kind="stable")
    encoded = pc.dictionary_encode(texts.take(pa.array(by_first)))
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    code = np.empty(n, np.int32)
    code[by_first] = encoded.indices.to_numpy()
    return pa.DictionaryArray.from_arrays(pa.array(code[combo]), encoded.dictionary)


def distinct_per_code(values: pa.DictionaryArray, groups: np.ndarray) -> np.ndarray:
    """Per entry of ``values``' dictionary: how many distinct ``groups`` (integer ids per
    row) its rows hold."""
    codes = values.indices.to_numpy().astype(np.int64)
    if codes.size == 0:
        return np.zeros(len(values.dictionary), np.int64)
    width = int(groups.max()) + 1
    cells = np.unique(codes * width + groups)
    return np.bincount(cells // width, minlength=len(values.dictionary))


def discovery_bursts(processes: pa.Table, base: Baseline) -> list[Signal]:
    """``BURST_COMMANDS`` distinct discovery commands in one logon session within 15 min."""
    t = processes
    t = t.filter(pc.is_in(t.column("image_base"), pa.array(DISCOVERY)))
    if t.num_rows == 0:
        return []
    first_arg = pc.utf8_lower(
        pc.replace_substring_regex(
            pc.replace_substring_regex(t.column("cmd"), r'^\s*("[^"]*"|\S+)\s*', ""), r"\s.*$", ""
        )
    )
    command = pc.if_else(
        pc.is_in(t.column("image_base"), pa.array(_SHAPED)),
        pc.binary_join_element_wise(t.column("image_base"), first_arg, " "),
        t.column("image_base"),
    )
    groups = key_ids(t.column(HK), t.column("session"))
    ts = np_col(t, TS)
    order = np.lexsort((ts, groups))
    cmds = np.asarray(command.to_pylist(), object)
    hks, sessions, accounts = np_col(t, HK), np_col(t, "session"), np_col(t, "account")
    guids, pguids = np_col(t, "guid"), np_col(t, "pguid")
    out = []
    bounds = np.flatnonzero(np.r_[True, groups[order][1:] != groups[order][:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        rows = order[a:b]
        if rows.size < BURST_COMMANDS:
            continue
        lo = 0
        hi = 0
        best: tuple[int, int] | None = None
        while lo < rows.size:
            while hi < rows.size and ts[rows[hi]] - ts[rows[lo]] <= BURST_US:
                hi += 1
            distinct = len({cmds[r] for r in rows[lo:hi]})
            if distinct >= BURST_COMMANDS:
                best = (lo, hi)
                break
            lo += 1
        if best is None:
            continue
        # Extend the burst while commands keep coming within the window.
        lo, hi = best
        while hi < rows.size and ts[rows[hi]] - ts[rows[hi - 1]] <= BURST_US:
            hi += 1
        cited = rows[lo:hi]
        names = sorted({cmds[r] for r in cited})
        i = int(cited[0])
        hk = hks[i]
        minutes = (ts[cited[-1]] - ts[cited[0]]) / 60e6
        out.append(
            behaviour(
                "discovery_burst",
                "medium",
                f"{len(names)} distinct discovery commands in one logon session of {accounts[i]} "
                f"on {base.name(hk)} within {minutes:.0f} minutes: {', '.join(names[:12])}.",
                t,
                cited,
                ("attack.discovery", "attack.t1082", "attack.t1016", "attack.t1087"),
                account=accounts[i],
                keys=tuple(
                    dict.fromkeys(
                        k for r in cited for k in _keys(hk, sessions[r], guids[r], pguids[r])
                    )
                ),
            )
        )
    return out

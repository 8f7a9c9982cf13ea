"""What commands leave besides their process event: ESENT for an IFM, the registry for
a port proxy, files for archives, hives and redirected output, a task for schtasks."""

from __future__ import annotations

import ntpath
import re
from typing import Any

from lotlhunt.simulate.host import SEC, Proc
from lotlhunt.simulate.state import HostState, split_image

_IFM = re.compile(r'create (?:sysvol )?full ([A-Za-z]:\\[^"]*?)\\?"', re.I)
_PROXY = re.compile(r"(listenport|listenaddress|connectport|connectaddress)=([\d.]+)")
_REDIRECT = re.compile(r"(?<![12])>>? ?([A-Za-z]:\\[^ &\"]+)")


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
        for dt, eid, dbid, path in (
            (20_000, 326, "1", shadow),
            (1_100_000, 327, "1", shadow),
            (2_000_000, 325, "2", db),
            (2_050_000, 326, "2", db),
            (6_400_000, 327, "2", db),
        ):
            st.esent(t + dt, eid, "NTDS", pid, "", dbid, path)
        for i, f in enumerate(
            (
                "Active Directory\\ntds.dit",
                "Active Directory\\ntds.jfm",
                "registry\\SYSTEM",
                "registry\\SECURITY",
            )
        ):
            st.file(t + 2_100_000 + i * 900_000, proc, out + "\\" + f)
    elif (name == "ntdsutil.exe" and "snapshot" in low and "create" in low) or (
        name == "vssadmin.exe" and "create shadow" in low
    ):
        vss_snapshot(st, ts + SEC)
    elif name == "netsh.exe" and "portproxy add" in low:
        kv = dict(_PROXY.findall(low))
        key = f"{kv.get('listenaddress', '0.0.0.0')}/{kv.get('listenport', '')}"
        st.reg(
            ts + 60_000,
            proc,
            "HKLM\\System\\CurrentControlSet\\Services\\PortProxy\\v4tov4\\tcp\\" + key,
            f"{kv.get('connectaddress', '')}/{kv.get('connectport', '')}",
        )
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


def run_and_effect(st: HostState, ts: int, parent: Proc, cmd: str, **kw: Any) -> Proc:
    proc = st.run(ts, parent, cmd, **kw)
    effects(st, ts, proc, cmd, kw.get("pe_as"))
    return proc

"""What remote execution leaves on its target: WMI, Impacket wmiexec, PsExec, SMB.

Administrators and the actor use the same tools, so both call these: the footprint on the
target is the tool's, whoever runs it. Each starts with the network logon whose id the
started processes carry.
"""

from __future__ import annotations

from lotlhunt.simulate.effects import effects, run_and_effect
from lotlhunt.simulate.host import SEC, Logon
from lotlhunt.simulate.inventory import SYS32, TOOLS
from lotlhunt.simulate.network import Account
from lotlhunt.simulate.sessions import BUILTINS
from lotlhunt.simulate.state import HostState


def wmic_inner(wmic_cmd: str) -> str:
    """The command line WmiPrvSE starts for ``wmic ... process call create "<inner>"``."""
    s = wmic_cmd.split("call create ", 1)[1].strip()
    s = s[1:] if s.startswith('"') else s
    s = (s[:-1] if s.endswith('"') else s).replace('\\"', '"')
    return s + '"' if s.count('"') % 2 else s


def wmi_runs(st: HostState, ts: int, inner: str, logon: Logon | None = None) -> None:
    """WmiPrvSE starts ``inner`` (and cmd starts each ``&``-chained tool in it)."""
    if not inner.lower().startswith("cmd"):
        run_and_effect(st, ts, st.wmiprvse, inner, logon=logon, integrity="High")
        return
    p = st.spawn(ts, st.wmiprvse, TOOLS["cmd"], inner, logon=logon, integrity="High", cwd=SYS32)
    effects(st, ts, p, inner)
    for i, part in enumerate(inner.split(" /c ", 1)[1].split(" & ")):
        if part.split(" ", 1)[0].lower() not in BUILTINS:
            run_and_effect(st, ts + 60_000 * (i + 1), p, part.split(" >", 1)[0].strip())


def wmi_exec_target(st: HostState, ts: int, acct: Account, src_ip: str, inner: str) -> None:
    """Target of ``wmic /node: process call create``: network logon, WmiPrvSE runs it, logoff."""
    lg = st.logon(ts, acct, 3, ip=src_ip, admin=True)
    wmi_runs(st, ts + 600_000, inner, logon=lg)
    st.logoff(ts + 25 * SEC, lg, 3)


def psexec_target(
    st: HostState, ts: int, acct: Account, src_ip: str, src_name: str, inner: str, tools: list[str]
) -> None:
    """PsExec's footprint on its target: ADMIN$ and IPC$, the PSEXESVC service, its children."""
    lg = st.logon(ts, acct, 3, ip=src_ip, admin=True)
    st.share(ts + 100_000, lg, src_ip, "ADMIN$", "\\??\\C:\\Windows")
    st.share_file(
        ts + 200_000, lg, src_ip, "ADMIN$", "\\??\\C:\\Windows", "PSEXESVC.exe", write=True
    )
    st.service_installed(ts + 600_000, "PSEXESVC", "%SystemRoot%\\PSEXESVC.exe", acct)
    st.service_state(ts + 700_000, "PSEXESVC", "PSEXESVC", True)
    st.share(ts + 900_000, lg, src_ip, "IPC$", "")
    client_pid = st.ri(1000, 9000)  # the pipes are named after the PsExec client's process
    for i, pipe in enumerate(("stdin", "stdout", "stderr")):
        name = f"PSEXESVC-{src_name}-{client_pid}-{pipe}"
        st.share_file(ts + 950_000 + i * 1000, lg, src_ip, "IPC$", "", name)
    svc = st.spawn(
        ts + 650_000, st.services, "C:\\Windows\\PSEXESVC.exe", "C:\\Windows\\PSEXESVC.exe"
    )
    p = st.spawn(ts + 1_000_000, svc, TOOLS["cmd"], inner)
    for i, t in enumerate(tools):
        p = run_and_effect(st, ts + 1_100_000 + i * 50_000, p, t)
    st.service_state(ts + 4 * SEC, "PSEXESVC", "PSEXESVC", False)
    st.logoff(ts + 5 * SEC, lg, 3)


def wmiexec_target(
    st: HostState, ts: int, acct: Account, src_ip: str, commands: list[str], epoch: str
) -> None:
    """Impacket wmiexec on the target (row 7): output to ``\\\\127.0.0.1\\ADMIN$\\__<epoch>``."""
    lg = st.logon(ts, acct, 3, ip=src_ip, auth="NTLM", admin=True)
    st.share(ts + 200_000, lg, src_ip, "ADMIN$", "\\??\\C:\\Windows")
    loop = st.logon(ts + 2 * SEC, acct, 3, ip="127.0.0.1", admin=True)
    st.share(ts + 2 * SEC + 5000, loop, "127.0.0.1", "ADMIN$", "\\??\\C:\\Windows")
    t, out = ts + 3 * SEC, "__" + epoch
    for c in commands:
        full = f"cmd.exe /Q /c {c} 1> \\\\127.0.0.1\\ADMIN$\\{out} 2>&1"
        p = st.spawn(t, st.wmiprvse, TOOLS["cmd"], full, logon=lg, integrity="High", cwd=SYS32)
        if c.split(" ", 1)[0].lower() not in BUILTINS:
            run_and_effect(st, t + 40_000, p, c)
            if c.startswith("wmic") and "call create" in c:
                wmi_runs(st, t + 900_000, wmic_inner(c), logon=lg)
        st.share_file(
            t + 150_000, loop, "127.0.0.1", "ADMIN$", "\\??\\C:\\Windows", out, write=True
        )
        st.file(t + 160_000, st.kernel, "C:\\Windows\\" + out)
        st.share_file(t + 1_100_000, lg, src_ip, "ADMIN$", "\\??\\C:\\Windows", out)
        t += st.ri(8, 40) * SEC
    st.logoff(t + 5 * SEC, loop, 3)
    st.logoff(t + 6 * SEC, lg, 3)


def smb_access(
    st: HostState,
    ts: int,
    acct: Account,
    src_ip: str,
    share: str,
    local: str,
    files: list[str],
    write: bool = False,
) -> None:
    """A network logon that opens a share and reads (or writes) files on it, then logs off."""
    lg = st.logon(ts, acct, 3, ip=src_ip, admin=True)
    st.share(ts + 100_000, lg, src_ip, share, local)
    for i, f in enumerate(files):
        st.share_file(ts + 300_000 * (i + 1), lg, src_ip, share, local, f, write=write)
    st.logoff(ts + (len(files) + 5) * SEC, lg, 3)

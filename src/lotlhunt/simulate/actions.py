"""The actor's verbs: what it does on one host, each ``fn(st, ts, ctx, **kw)``.

A campaign (``campaigns/``) is a plan of these verbs over hosts and time; a second actor
is a new plan that reuses them. ``ctx`` is the :class:`Window`: what one hands-on-keyboard
window keeps on one host (the RDP session it types into). Verbs that leave the same
footprint whoever acts (remote WMI, PsExec, SMB) call ``remote``, which the
administrators' routine uses too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lotlhunt.simulate.effects import effects, run_and_effect
from lotlhunt.simulate.host import SEC
from lotlhunt.simulate.inventory import SYS32, TOOLS
from lotlhunt.simulate.network import Account
from lotlhunt.simulate.remote import (
    psexec_target,
    smb_access,
    wmi_exec_target,
    wmi_runs,
    wmic_inner,
    wmiexec_target,
)
from lotlhunt.simulate.sessions import (
    BUILTINS,
    Session,
    close_session,
    cmdlets,
    console,
    open_session,
    pwsh,
)
from lotlhunt.simulate.state import HostState


@dataclass
class Window:
    """What one hands-on-keyboard window keeps on one host: the RDP session it works in."""

    session: Session | None = None

    @property
    def sess(self) -> Session:
        if self.session is None:
            raise RuntimeError("this action types into an RDP session; open one first")
        return self.session


def _shell(st: HostState, ts: int, cmd: str) -> None:
    """A command through the web shell: java/w3wp -> ``cmd /C`` (ProcessBuilder) -> the tool."""
    outer = ("cmd /C " if st.host.web_stack == "manageengine" else "cmd.exe /c ") + cmd
    p = st.spawn(ts, st.web_proc, TOOLS["cmd"], outer)
    effects(st, ts, p, outer)
    for part in cmd.strip('"').split(" & "):
        if part.split(" ", 1)[0].lower() not in BUILTINS:
            c = run_and_effect(st, ts + 30_000, p, part.split(" >", 1)[0].strip())
            if part.startswith("curl "):
                st.conn(ts + 400_000, c, "208.95.112.1", 80, dst_host="ip-api.com")


def a_shell(st: HostState, ts: int, ctx: Window, cmd: str) -> None:
    _shell(st, ts, cmd)


def a_file(st: HostState, ts: int, ctx: Window, paths: list[str]) -> None:
    for i, p in enumerate(paths):
        st.file(ts + i * 700_000, st.web_proc, p)


def a_compile(st: HostState, ts: int, ctx: Window) -> None:
    """IIS compiles the new .aspx: w3wp -> csc.exe, an App_Web dll written."""
    net = "C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\"
    bits = st.rng.getrandbits(64)
    d = f"{net}Temporary ASP.NET Files\\root\\{bits >> 32:08x}\\{bits & 0xFFFFFFFF:08x}"
    name = "".join(st.rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))
    csc = st.spawn(
        ts,
        st.web_proc,
        net + "csc.exe",
        f'"{net}csc.exe" /noconfig /fullpaths @"{d}\\{name}.cmdline"',
    )
    st.file(ts + 900_000, csc, f"{d}\\App_Web_{name}.dll")


def a_frp(
    st: HostState,
    ts: int,
    ctx: Window,
    image: str,
    c2: str,
    port: int,
    bat: str | None,
    beacons: list[int],
    sha: str,
) -> None:
    """Drop an FRP client, start it hidden from PowerShell, let it call back (rows 9, 32, 34)."""
    st.hash_override[image.lower()] = sha
    st.file(ts, st.web_proc, image)
    if bat:
        st.file(ts + SEC, st.web_proc, bat)
    text = f"start-process -filepath {(bat or image).lower()} -windowstyle hidden"
    me = st.host.web_stack == "manageengine"
    t = ts + 20 * SEC
    c = st.spawn(
        t, st.web_proc, TOOLS["cmd"], ("cmd /C " if me else "cmd.exe /c ") + "powershell " + text
    )
    ps = st.spawn(t + 60_000, c, TOOLS["powershell"], "powershell  " + text)
    ctx_ps = st.ps_open(t + SEC, ps)
    params = {"FilePath": (bat or image).lower(), "WindowStyle": "Hidden"}
    st.ps_command(t + SEC + 300_000, ctx_ps, text, [("Start-Process", params)])
    parent = (
        st.spawn(t + 2 * SEC, ps, TOOLS["cmd"], f'C:\\Windows\\system32\\cmd.exe /c ""{bat}" "')
        if bat
        else ps
    )
    st.frp = st.spawn(t + 2 * SEC + 200_000, parent, image, image, cwd="C:\\Windows\\Temp\\")
    st.ps_close(t + 3 * SEC, ctx_ps)
    for b in [t + 3 * SEC] + beacons:  # reconnects of the long-lived tunnel
        st.conn(b, st.frp, c2, port)


def a_net(st: HostState, ts: int, ctx: Window, dst: str, port: int) -> None:
    """Traffic the actor pushes through the FRP tunnel on the edge server."""
    st.conn(ts, st.frp or st.web_proc, dst, port)


def a_rdp_open(st: HostState, ts: int, ctx: Window, acct: Account, ip: str, client: str) -> None:
    ctx.session = open_session(st, ts, acct, 10, ip, client, admin=True)


def a_rdp_close(st: HostState, ts: int, ctx: Window) -> None:
    close_session(st, ts, ctx.sess)


def a_cmd(
    st: HostState,
    ts: int,
    ctx: Window,
    cmd: str,
    inner: Sequence[str] = (),
    pe_as: str | None = None,
    files: Sequence[str] = (),
) -> None:
    """A command typed into the RDP console; ``inner`` = tools a ``cmd /c`` wrapper starts."""
    shell = console(st, ts - 4 * SEC, ctx.sess)
    if cmd.split(" ", 1)[0].lower() in BUILTINS:
        return
    p = run_and_effect(st, ts, shell, cmd, pe_as=pe_as)
    for i, f in enumerate(files):
        st.file(ts + 700_000 * (i + 1), p, f)
    for i, c in enumerate(inner):
        run_and_effect(st, ts + 50_000 * (i + 1), p, c)


def a_ps(st: HostState, ts: int, ctx: Window, text: str, out_file: str | None = None) -> None:
    ps = pwsh(st, ts - 3 * SEC, ctx.sess)
    st.ps_command(ts, ps, text, cmdlets(text))
    if out_file:
        st.file(ts + 2 * SEC, ps.proc, out_file)


def a_wmic_chain(st: HostState, ts: int, ctx: Window, console_cmd: str) -> None:
    """wmic process call create run locally: WmiPrvSE starts the inner command (rows 6, 11)."""
    sess: Session = ctx.sess
    p = run_and_effect(st, ts, console(st, ts - 4 * SEC, sess), console_cmd)
    if console_cmd.startswith('"cmd.exe" /c '):
        st.run(ts + 40_000, p, console_cmd.split(" /c ", 1)[1])
    wmi_runs(st, ts + 800_000, wmic_inner(console_cmd), logon=sess.logon)


def a_vss_copy(st: HostState, ts: int, ctx: Window, tmp: str) -> None:
    """Copy ntds.dit and SYSTEM out of the shadow copy just made (row 12)."""
    n = st.shadow_n - 1
    for i, (src, name) in enumerate(
        (("Windows\\NTDS\\ntds.dit", "ntds.dit"), ("Windows\\System32\\config\\SYSTEM", "SYSTEM"))
    ):
        cmd = (
            f"cmd /c copy \\\\?\\GLOBALROOT\\Device\\HarddiskVolumeShadowCopy{n}\\{src} "
            f"C:\\Windows\\Temp > C:\\Windows\\Temp\\{tmp}.tmp"
        )
        a_cmd(st, ts + i * 25 * SEC, ctx, cmd, files=["C:\\Windows\\Temp\\" + name])


def a_pcwrun(st: HostState, ts: int, ctx: Window, c2: str, port: int, sha: str) -> None:
    """Program Compatibility Wizard starts a dropped FRP client (rows 10, 32)."""
    sess, path = ctx.sess, "C:\\Users\\Administrator\\Desktop\\Win.exe"
    st.hash_override[path.lower()] = sha
    st.file(ts - 40 * SEC, sess.explorer, path)
    p = st.spawn(
        ts,
        sess.explorer,
        SYS32 + "pcwrun.exe",
        f"C:\\Windows\\system32\\pcwrun.exe {path}",
        integrity="High",
    )
    st.conn(ts + 2 * SEC, st.spawn(ts + SEC, p, path, f'"{path}"'), c2, port)


def a_relay(st: HostState, ts: int, ctx: Window, dst: str, port: int, count: int) -> None:
    """Traffic through a port proxy: the IP Helper service connects onward (derived)."""
    iphlp = st.proc_at(
        ts, SYS32 + "svchost.exe", "C:\\Windows\\system32\\svchost.exe -k NetSvcs -p -s iphlpsvc"
    )
    for i in range(count):
        st.conn(ts + i * st.ri(60, 900) * SEC, iphlp, dst, port)


def a_wmic_remote_src(
    st: HostState,
    ts: int,
    ctx: Window,
    cmd: str,
    target: str,
    target_ip: str,
    acct: Account,
    via: str,
) -> None:
    """Source of ``wmic /node: /user: /password:``: the process, 4648, RPC to the target."""
    if via == "web":
        me = st.host.web_stack == "manageengine"
        c, lg = (
            st.spawn(ts, st.web_proc, TOOLS["cmd"], ("cmd /C " if me else "cmd.exe /c ") + cmd),
            st.web_proc.logon,
        )
    else:
        c, lg = console(st, ts - 4 * SEC, ctx.sess), ctx.sess.logon
    w = st.run(ts + 40_000, c, cmd)
    st.explicit_creds(ts + 300_000, lg, acct, target, target_ip, w, "135")
    st.conn(ts + 350_000, w, target_ip, 135, dst_host=target)


def a_psexec_src(st: HostState, ts: int, ctx: Window, cmd: str, target_ip: str) -> None:
    p = st.run(ts, console(st, ts - 4 * SEC, ctx.sess), cmd)
    st.conn(ts + 200_000, p, target_ip, 445)


def a_clear(st: HostState, ts: int, ctx: Window, logs: list[tuple[str, int]], via: str) -> None:
    """Clear logs (row 31). The sheet gives no command (UNCONFIRMED): wevtutil/Clear-EventLog."""
    sess = ctx.session
    lg = sess.logon if sess else st.web_proc.logon
    for name, t_clear in logs:
        t = t_clear - 900_000
        quoted = f'"{name}"' if " " in name else name
        if sess is not None and via == "ps":
            a_ps(st, t, ctx, f"Clear-EventLog -LogName {quoted}")
        elif sess is not None:
            a_cmd(st, t, ctx, f"wevtutil cl {quoted}")
        else:
            _shell(st, t, f"wevtutil cl {quoted}")
        if name == "Security":
            st.audit_cleared(t_clear, lg)
        else:
            st.log_cleared(t_clear, lg, name)


def a_remote_target(
    st: HostState, ts: int, ctx: Window, acct: Account, src_ip: str, inner: str
) -> None:
    """Target of remote WMI: network logon, WmiPrvSE -> the command, logoff."""
    wmi_exec_target(st, ts, acct, src_ip, inner)


def a_wmiexec(
    st: HostState, ts: int, ctx: Window, acct: Account, src_ip: str, commands: list[str], epoch: str
) -> None:
    """Impacket wmiexec on the target (row 7): output to ``\\\\127.0.0.1\\ADMIN$\\__<epoch>``."""
    wmiexec_target(st, ts, acct, src_ip, commands, epoch)


def a_smb(
    st: HostState,
    ts: int,
    ctx: Window,
    acct: Account,
    src_ip: str,
    share: str,
    local: str,
    files: list[str],
    write: bool = False,
) -> None:
    """The actor's SMB session on a host: logon, share, the files it reads or writes."""
    smb_access(st, ts, acct, src_ip, share, local, files, write)


def a_smb_browse(
    st: HostState,
    ts: int,
    ctx: Window,
    acct: Account,
    src_ip: str,
    share: str,
    local: str,
    files: list[str],
) -> None:
    """The actor browsing a host's shares (users' folders, ADMIN$) with a valid account.

    The sheet gives these reads no artefact a rule can tell from an administrator's: the
    4624, 5140 and 5145 are judged only against the host's baseline (who, from where).
    """
    smb_access(st, ts, acct, src_ip, share, local, files)


def a_psexec_target(
    st: HostState,
    ts: int,
    ctx: Window,
    acct: Account,
    src_ip: str,
    src_name: str,
    inner: str,
    tools: list[str],
) -> None:
    """PsExec's footprint on the target (row 27): shares, PSEXESVC service, its children."""
    psexec_target(st, ts, acct, src_ip, src_name, inner, tools)


#: Actions whose events are the actor arriving on a host, and how it arrived.
EDGE_METHODS: dict[Callable[..., None], str] = {
    a_rdp_open: "rdp",
    a_remote_target: "wmi",
    a_wmiexec: "wmi",
    a_smb: "smb",
    a_smb_browse: "smb",
    a_psexec_target: "service",
}


#: Actions whose events the sheet gives no host-log artefact for: a valid domain-admin
#: account opening and closing an RDP session on the DC (rows 2, 26: 4624 type 10, 4634,
#: userinit/explorer/rdpclip) is told from admin work only by baselines (first-seen
#: source, off-hours; sheet section 2 H10, H11, H18). Through the FRP tunnel the same
#: step also leaves the FRP client's connection on the edge server, which a rule can see.
#: Browsing a host's shares with that account (users' folders, ADMIN$) is the same.
BEHAVIOUR_ONLY = frozenset({a_rdp_open, a_rdp_close, a_smb_browse})

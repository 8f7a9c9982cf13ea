"""Benign activity: the everyday life of the network that false positives come from.

Two kinds. *Noise* is per-host machine chatter (service logons, scheduled tasks, WMI,
Kerberos and SYSVOL on DCs, share access on file servers, browsers on PCs); it is drawn
per host-hour and is what ``events=`` scales. *Planned activity* is people: users logging
on in the morning, admins RDPing to servers in their own hours and running wmic, netsh,
ntdsutil, reg, 7-Zip and PowerShell, the nightly backup, patch night. Those are fixed by
the seed (not scaled) and include deliberate look-alikes of the actor's commands.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from lotlhunt.simulate.events import (
    APPLICATION,
    SEC,
    SECURITY,
    HostState,
    Logon,
    Op,
    Proc,
    PsCtx,
    effects,
    run_and_effect,
    vss_snapshot,
)
from lotlhunt.simulate.network import (
    DC,
    FILE,
    HABITS,
    JUMP,
    MON,
    NETWORK_SERVICE,
    SIGNATURE,
    SQL,
    SYS32,
    SYSTEM,
    TOOLS,
    WEB,
    WS,
    Account,
    Host,
    Network,
    Person,
)

# Hand-wrapped: event-field and command tables read better dense than one item per line.
# fmt: off
MIN = 60 * SEC
HOUR = 60 * MIN
ME_HOME = "C:\\ManageEngine\\ADSelfService Plus"
APPPOOL = Account("DefaultAppPool", "IIS APPPOOL",
                  "S-1-5-82-3006700770-424185619-1745488364-794895919-4004696415", kind="builtin")
INTERNET = ("52.96.", "13.107.", "142.250.", "20.190.", "23.45.", "104.18.", "151.101.")
_BUILTINS = ("dir", "type", "copy", "cd", "echo", "del", "move", "rd", "mkdir")


def ext_ip(rng: random.Random) -> str:
    return rng.choice(INTERNET) + f"{rng.randrange(1, 255)}.{rng.randrange(1, 255)}"


# ---- interactive sessions (shared with the campaign) ---------------------------------------
@dataclass(slots=True)
class Session:
    logon: Logon
    explorer: Proc
    ltype: int
    cmd: Proc | None = None
    ps: PsCtx | None = None


def open_session(st: HostState, ts: int, acct: Account, ltype: int, ip: str, client: str,
                 admin: bool) -> Session:
    """Interactive/RDP logon: 4624 (+4672), userinit -> explorer, rdpclip for RDP.

    An RDP logon is preceded by TerminalServices' 1149 (the user authenticated), which
    lives in its own log and so survives a clear of the Security log.
    """
    if ltype == 10:
        st.rdp_authenticated(ts - st.ri(400_000, 1_500_000), acct, ip)
    lg = st.logon(ts, acct, ltype, ip=ip, workstation=client, admin=admin, session=st.ri(2, 6))
    winlogon = st.proc_at(ts, SYS32 + "winlogon.exe", "winlogon.exe")
    ui = st.spawn(ts + 900_000, winlogon, SYS32 + "userinit.exe", SYS32 + "userinit.exe",
                  logon=lg, integrity="Medium")
    explorer = st.spawn(ts + 1_400_000, ui, "C:\\Windows\\explorer.exe",
                        "C:\\Windows\\Explorer.EXE")
    if ltype == 10:
        st.spawn(ts + 2_100_000, st.schedule, SYS32 + "rdpclip.exe", "rdpclip", logon=lg,
                 integrity="Medium")
    return Session(lg, explorer, ltype)


def close_session(st: HostState, ts: int, sess: Session) -> None:
    st.logoff(ts, sess.logon, sess.ltype)


def cmdlets(text: str) -> list[tuple[str, dict[str, str]]]:
    """``Verb-Noun -Param value`` segments of a pipeline, for 4103/800 parameter bindings."""
    out = []
    for seg in text.split("|"):
        words = seg.strip().split(" ")
        if "-" in words[0] and words[0][:1].isupper():
            params: dict[str, str] = {}
            key = None
            for w in words[1:]:
                if w.startswith("-") and len(w) > 1 and w[1].isalpha():
                    key = w[1:]
                    params[key] = ""
                elif key is not None:
                    params[key] = (params[key] + " " + w).strip().strip("'\"")
            out.append((words[0], params))
    return out


def console(st: HostState, t: int, sess: Session, elevated: bool = True) -> Proc:
    """The session's cmd.exe (with its conhost), opened on first use."""
    if sess.cmd is None:
        home = "C:\\Users\\" + sess.logon.acct.sam + "\\"
        sess.cmd = st.spawn(t, sess.explorer, TOOLS["cmd"], '"' + TOOLS["cmd"] + '" ',
                            integrity="High" if elevated else "Medium", cwd=home)
        st.spawn(t + 40_000, sess.cmd, TOOLS["conhost"],
                 "\\??\\C:\\Windows\\system32\\conhost.exe 0xffffffff -ForceV1")
    return sess.cmd


def pwsh(st: HostState, t: int, sess: Session, elevated: bool = True) -> PsCtx:
    """The session's PowerShell console (400 on start), opened on first use."""
    if sess.ps is None:
        p = st.spawn(t, sess.explorer, TOOLS["powershell"], '"' + TOOLS["powershell"] + '" ',
                     integrity="High" if elevated else "Medium",
                     cwd="C:\\Users\\" + sess.logon.acct.sam + "\\")
        sess.ps = st.ps_open(t + 600_000, p)
    return sess.ps


def run_commands(st: HostState, t: int, sess: Session, commands: list[str],
                 gap: tuple[int, int] = (20, 200), elevated: bool = True) -> int:
    """Type commands into the session's console: ``PS `` prefix means PowerShell.

    One cmd.exe or powershell.exe per session, as a person keeps a console open; every
    external tool is its child. Returns the time after the last command.
    """
    for c in commands:
        if c.startswith("PS "):
            ps = pwsh(st, t, sess, elevated)
            t += 2 * SEC
            st.ps_command(t, ps, c[3:], cmdlets(c[3:]))
        else:
            shell = console(st, t, sess, elevated)
            t += 3 * SEC
            for part in c.split(" | "):
                if part.split(" ", 1)[0].lower() not in _BUILTINS:
                    run_and_effect(st, t, shell, part.strip())
                t += 3000
        t += st.rng.randrange(*gap) * SEC
    if sess.ps is not None:
        st.ps_close(t, sess.ps)
    return t


# ---- noise -----------------------------------------------------------------------------------
_DEF = "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.24010.12-0\\"
_TASKS = [
    (SYS32 + "taskhostw.exe", "taskhostw.exe Install $(Arg0)"),
    (SYS32 + "compattelrunner.exe", "C:\\Windows\\system32\\compattelrunner.exe -maintenance"),
    (_DEF + "MpCmdRun.exe", f'"{_DEF}MpCmdRun.exe" -IdleTask -TaskName WdCacheMaintenance'),
    (SYS32 + "sc.exe", "C:\\Windows\\system32\\sc.exe start pushtoinstall registration"),
    (SYS32 + "usoclient.exe", "C:\\Windows\\system32\\usoclient.exe StartScan"),
    (SYS32 + "defrag.exe", "C:\\Windows\\system32\\defrag.exe -c -h -o -$"),
    (SYS32 + "rundll32.exe",
     "C:\\Windows\\system32\\rundll32.exe C:\\Windows\\system32\\Startupscan.dll,SusRunTask"),
    (SYS32 + "sppsvc.exe", "C:\\Windows\\system32\\sppsvc.exe"),
    (SYS32 + "backgroundTaskHost.exe",
     "C:\\Windows\\system32\\backgroundTaskHost.exe "
     "-ServerName:BackgroundTaskHost.WebAccountProvider"),
]
_SERVICES = [tuple(x.split("|")) for x in (
    "Windows Modules Installer|TrustedInstaller", "Background Intelligent Transfer Service|BITS",
    "WinHTTP Web Proxy Auto-Discovery Service|WinHttpAutoProxySvc", "Windows Update|wuauserv",
    "Software Protection|sppsvc", "Device Setup Manager|DsmSvc", "Delivery Optimization|DoSvc",
    "Windows Error Reporting Service|WerSvc", "Update Orchestrator Service|UsoSvc",
    "Microsoft Store Install Service|InstallService", "Network Setup Service|NetSetupSvc")]
_FILES = [
    "C:\\Windows\\Prefetch\\{x}.EXE-{h}.pf", "C:\\Windows\\Temp\\{g}.tmp",
    "C:\\ProgramData\\Microsoft\\Windows Defender\\Scans\\History\\CacheManager\\{h}-0.bin",
    "C:\\Windows\\ServiceProfiles\\NetworkService\\AppData\\Local\\Microsoft\\Windows\\"
    "DeliveryOptimization\\Logs\\dosvc.{n}.etl",
    "C:\\Windows\\System32\\Tasks\\Microsoft\\Windows\\UpdateOrchestrator\\Schedule Scan",
]
_REGS = [
    ("HKLM\\System\\CurrentControlSet\\Services\\bam\\State\\UserSettings\\S-1-5-18\\"
     "\\Device\\HarddiskVolume2\\Windows\\System32\\{x}.exe", "Binary Data"),
    ("HKLM\\SOFTWARE\\Microsoft\\Windows Defender\\Signature Updates\\SignaturesLastUpdated",
     "Binary Data"),
    ("HKLM\\System\\CurrentControlSet\\Services\\W32Time\\Config\\LastKnownGoodTime",
     "QWORD (0x01dc6a4b-0x{h8})"),
    ("HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Auto Update\\"
     "LastOnlineScanTimeForAppCategory\\{G}", "{d}"),
]
_EXE = ["SVCHOST", "TASKHOSTW", "CONHOST", "WMIPRVSE", "DLLHOST", "MPCMDRUN", "SEARCHPROTOCOLHOST"]
_DBS = [("svchost", "SRUJet: ", "C:\\Windows\\system32\\SRU\\SRUDB.dat"),
        ("svchost", "",
         "C:\\Windows\\system32\\CatRoot2\\{F750E6C3-38EE-11D1-85E5-00C04FC295EE}\\catdb"),
        ("svchost", "SUS20ClientDataStore: ",
         "C:\\Windows\\SoftwareDistribution\\DataStore\\DataStore.edb")]
_SHARES = ["Finance\\Budget 2026\\Q1 forecast.xlsx", "HR\\Policies\\Handbook 2026.docx",
           "Engineering\\SCADA\\Pump station 4 wiring.pdf", "Operations\\Shift logs\\{d}.xlsx",
           "Projects\\Main St lift station\\drawings\\P-101.dwg",
           "Public\\Templates\\Letterhead.dotx",
           "IT\\Inventory\\assets.csv"]
_OFFICE = "C:\\Program Files\\Microsoft Office\\root\\Office16\\"
_CHROME = "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe"
_EDGE = "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe"
_APPS = [(_CHROME, f'"{_CHROME}" '), (_EDGE, f'"{_EDGE}" --profile-directory=Default'),
         (_OFFICE + "OUTLOOK.EXE", f'"{_OFFICE}OUTLOOK.EXE" '),
         (_OFFICE + "WINWORD.EXE",
          f'"{_OFFICE}WINWORD.EXE" /n "C:\\Users\\{{u}}\\Documents\\Report.docx" /o ""'),
         (_OFFICE + "EXCEL.EXE",
          f'"{_OFFICE}EXCEL.EXE" "\\\\fs01\\Shares\\Operations\\Shift logs\\week.xlsx"')]
_SCCM_SCRIPTS = [
    "$vol = Get-BitLockerVolume -MountPoint C:\n if ($vol.ProtectionStatus -eq 'On') "
    "{ 'Compliant' } else { 'NonCompliant' }",
    "Get-ItemProperty 'HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion' | "
    "Select-Object ReleaseId, CurrentBuild",
    "$svc = Get-Service -Name Sysmon64 -ErrorAction SilentlyContinue\n "
    "if ($svc.Status -eq 'Running') { $true } else { $false }",
    "Get-CimInstance -ClassName Win32_QuickFixEngineering | Sort-Object InstalledOn -Descending | "
    "Select-Object -First 1",
]
_ME_JAVA = (f'"{ME_HOME}\\jre\\bin\\java.exe" -Dserver.home=.. -Dserver.stats=1000 '
            "-Djava.util.logging.config.file=../conf/logging.properties -Xms64m -Xmx2048m "
            "-Djava.library.path=../lib/native -cp ../lib/AdventNetNPrevalent.jar;"
            "../lib/tomcat/tomcat-juli.jar com.adventnet.mfw.Starter")
_W3WP = ('c:\\windows\\system32\\inetsrv\\w3wp.exe -ap "DefaultAppPool" -v "v4.0" '
         '-l "webengine4.dll" '
         "-a \\\\.\\pipe\\iisipm8d4bf0a2-6d0b-4ba5-9a77-24dbcc1d0a3a -h "
         '"C:\\inetpub\\temp\\apppools\\DefaultAppPool\\DefaultAppPool.config" -w "" -m 0')


class Noise:
    """Per-host machine chatter; :meth:`fill` draws ``budget`` events in an hour window."""

    def __init__(self, st: HostState, net: Network, seed: int) -> None:
        self.st, self.net = st, net
        h = st.host
        self.dc_ips = [d.ip for d in net.by_role(DC)]
        self.peers = [p for p in net.hosts if p is not h]
        self.mon = next(iter(net.by_role(MON)), None)
        web, fs = net.by_role(WEB)[0], net.by_role(FILE)[0]
        apps = [web.ip] + ([self.mon.ip] if self.mon else [])
        self.sql_clients = apps
        #: Where each service account runs: its network logons come from there only.
        homes = {"backup": fs, "monitoring": self.mon or fs, "web": web, "sccm": fs}
        homes["sql"] = next(iter(net.by_role(SQL)), fs)
        self.svc_home = {k: homes.get(k, fs).ip for k in net.services}
        t0 = net.at(0, 0) - HOUR
        self.msmpeng = st.proc_at(t0, _DEF + "MsMpEng.exe", f'"{_DEF}MsMpEng.exe"')
        netsvc_logon = Logon("0x3e4", st.system.guid, NETWORK_SERVICE)
        self.netsvc = st.proc_at(t0, SYS32 + "svchost.exe",
                                 "C:\\Windows\\system32\\svchost.exe -k NetworkService -p",
                                 netsvc_logon)
        self.ccm = st.proc_at(t0, "C:\\Windows\\CCM\\CcmExec.exe",
                              '"C:\\Windows\\CCM\\CcmExec.exe"')
        if h.role == WEB and h.web_stack == "manageengine":  # the service runs as SYSTEM
            st.web = st.proc_at(t0, ME_HOME + "\\jre\\bin\\java.exe", _ME_JAVA,
                                cwd=ME_HOME + "\\bin\\")
        elif h.role == WEB:
            pool = st.new_logon(APPPOOL)
            st.web = st.proc_at(t0, "C:\\Windows\\System32\\inetsrv\\w3wp.exe", _W3WP, pool, "High",
                                "C:\\Windows\\System32\\inetsrv\\")
        self.prtg = None
        if h.role == MON:
            probe = "C:\\Program Files (x86)\\PRTG Network Monitor\\PRTG Probe.exe"
            self.prtg = st.proc_at(t0, probe, f'"{probe}"')
        self.owner = next((p for p in net.people if p.workstation == h.name), None)
        if self.owner is not None:
            lg = st.new_logon(self.owner.account, 1)
            st.desktop = st.proc_at(t0, "C:\\Windows\\explorer.exe", "C:\\Windows\\Explorer.EXE",
                                    lg, "Medium")
        gens = [(self.svc_logon, 10), (self.task, 8), (self.wmi, 4), (self.conn, 14),
                (self.img, 5), (self.files, 10), (self.regs, 8), (self.svc_state, 4),
                (self.esent, 2), (self.sccm, 2)]
        if self.mon is not None and h.role != MON:
            gens.append((self.monitored, 8))
        gens += {DC: [(self.kerberos, 60), (self.sysvol, 18)], FILE: [(self.fileshare, 40)],
                 WEB: [(self.web, 30)], MON: [(self.probe, 35)], SQL: [(self.sql, 25)],
                 WS: [(self.user_app, 45)], JUMP: [(self.svc_logon, 20), (self.task, 10)]}[h.role]
        self.gens = [g for g, _ in gens]
        self.weights = [w for _, w in gens]

    def hour_weight(self, local_hour: int, workday: bool) -> float:
        if self.st.host.role == WS:
            o = self.owner
            return 1.0 if o and workday and o.start_hour <= local_hour < o.end_hour else 0.12
        return 1.0 if workday and 7 <= local_hour < 19 else 0.55

    def fill(self, start: int, end: int, budget: int) -> None:
        st, rand = self.st, self.st.rand
        n0, tries = len(st.out), 0
        picks = st.rng.choices(self.gens, self.weights, k=max(16, budget))
        while len(st.out) - n0 < budget and tries < budget * 4 + 16:
            picks[tries % len(picks)](start + int(rand() * (end - start)))
            tries += 1

    # -- generators: one small cluster of events each --
    def svc_logon(self, ts: int) -> None:
        self.st.logon(ts, SYSTEM, 5)

    def task(self, ts: int) -> None:
        st = self.st
        image, cmd = st.rng.choice(_TASKS)
        p = st.spawn(ts, st.schedule, image, cmd, integrity="System")
        if st.rand() < 0.5:
            st.file(ts + 80_000, p, "C:\\Windows\\Temp\\" + st.guid() + ".tmp")

    def wmi(self, ts: int) -> None:
        st = self.st
        if st.rand() < 0.5:
            st.spawn(ts, st.dcom, SYS32 + "wbem\\WmiPrvSE.exe",
                     "C:\\Windows\\system32\\wbem\\wmiprvse.exe -Embedding",
                     logon=self.netsvc.logon)
        else:
            st.spawn(ts, st.dcom, SYS32 + "dllhost.exe",
                     "C:\\Windows\\system32\\DllHost.exe "
                     "/Processid:{AB8902B4-09CA-4BB6-B78D-A8F59079A8D5}")

    def conn(self, ts: int) -> None:
        st, r = self.st, self.st.rand()
        if r < 0.45 and self.dc_ips:
            port = st.rng.choice((389, 88, 135, 445, 53))
            st.conn(ts, self.netsvc, st.rng.choice(self.dc_ips), port)
        elif r < 0.75:
            st.conn(ts, self.msmpeng, ext_ip(st.rng), 443)
        else:
            st.conn(ts, st.schedule, ext_ip(st.rng), 443, dst_host="fe2cr.update.microsoft.com")

    def img(self, ts: int) -> None:
        dll = self.st.rng.choice(("wbem\\wmiutils.dll", "wbem\\fastprox.dll", "amsi.dll",
                                  "samlib.dll"))
        self.st.image_load(ts, self.st.wmiprvse, SYS32 + dll)

    def files(self, ts: int) -> None:
        st, rng = self.st, self.st.rng
        path = rng.choice(_FILES).format(x=rng.choice(_EXE), h=f"{rng.getrandbits(32):08X}",
                                         g=st.guid(), n=rng.randrange(1, 9))
        st.file(ts, self.msmpeng if "Defender" in path else st.schedule, path)

    def regs(self, ts: int) -> None:
        st, rng = self.st, self.st.rng
        key, det = rng.choice(_REGS)
        st.reg(ts, self.msmpeng if "Defender" in key else st.schedule,
               key.format(x=rng.choice(_EXE).lower(), G=st.guid().upper()),
               det.format(h8=f"{rng.getrandbits(32):08x}", d=str(rng.randrange(1, 1000))))

    def svc_state(self, ts: int) -> None:
        st = self.st
        disp, short = st.rng.choice(_SERVICES)
        st.service_state(ts, disp, short, True)
        st.service_state(ts + st.ri(5, 300) * SEC, disp, short, False)

    def esent(self, ts: int) -> None:
        st = self.st
        proc, inst, path = st.rng.choice(_DBS)
        if st.host.role == WS and st.rand() < 0.4:
            proc, inst = "SearchIndexer", "Windows: "
            path = "C:\\ProgramData\\Microsoft\\Search\\Data\\Applications\\Windows\\Windows.edb"
        pid = f"{st.ri(300, 2000) * 4},D,0"
        st.esent(ts, 326, proc, pid, inst, "1", path)
        st.esent(ts + st.ri(2, 90) * SEC, 327, proc, pid, inst, "1", path)

    def sccm(self, ts: int) -> None:
        """Configuration Manager compliance scripts: hidden, ExecutionPolicy Bypass, as SYSTEM."""
        st = self.st
        script = f"C:\\Windows\\CCM\\SystemTemp\\{st.guid()}.ps1"
        p = st.spawn(ts, self.ccm, TOOLS["powershell"],
                     f'"{TOOLS["powershell"]}" -NoLogo -NoProfile -NonInteractive '
                     "-ExecutionPolicy Bypass "
                     f'-File "{script}"', cwd="C:\\Windows\\CCM\\SystemTemp\\")
        ctx = st.ps_open(ts + 400_000, p, "Default Host")
        text = st.rng.choice(_SCCM_SCRIPTS)
        st.ps_command(ts + 700_000, ctx, text, cmdlets(text), path=script)
        st.ps_close(ts + 2 * SEC, ctx)

    def monitored(self, ts: int) -> None:
        st = self.st
        lg = st.logon(ts, self.net.services["monitoring"], 3, ip=self.mon.ip,
                      workstation=self.mon.name.upper(),
                      auth="NTLM" if st.rand() < 0.3 else "Kerberos")
        st.logoff(ts + st.ri(1, 4) * SEC, lg, 3)

    def kerberos(self, ts: int) -> None:
        st, rng = self.st, self.st.rng
        if st.rand() < 0.35:
            src = rng.choice(self.peers)
            acct, ip = src.machine, src.ip
        else:
            p = rng.choice(self.net.people)
            acct, ip = p.account, self.net.host(p.workstation).ip
            if st.rand() < 0.1:  # a service account, from the one host it runs on
                name = rng.choice(list(self.net.services))
                acct, ip = self.net.services[name], self.svc_home[name]
        st.kerberos(ts, acct, ip, "krbtgt", tgt=st.rand() < 0.3)
        st.kerberos(ts + 2000, acct, ip, rng.choice(self.peers).machine.sam)
        lg = st.logon(ts + 5000, acct, 3, ip=ip)
        st.logoff(ts + st.ri(1, 30) * SEC, lg, 3)

    def sysvol(self, ts: int) -> None:
        st, rng = self.st, self.st.rng
        src = rng.choice(self.peers)
        lg = st.logon(ts, src.machine, 3, ip=src.ip)
        local = "\\??\\C:\\Windows\\SYSVOL\\sysvol"
        st.share(ts + 3000, lg, src.ip, "SYSVOL", local)
        pol = rng.choice(("{31B2F340-016D-11D2-945F-00C04FB984F9}",
                          "{6AC1786C-016F-11D2-945F-00C04fB984F9}"))
        for i, f in enumerate(("gpt.ini", "Machine\\Registry.pol")):
            st.share_file(ts + 6000 + i * 4000, lg, src.ip, "SYSVOL", local,
                          f"{self.net.domain}\\Policies\\{pol}\\{f}")
        st.logoff(ts + 2 * SEC, lg, 3)

    def fileshare(self, ts: int) -> None:
        st, rng = self.st, self.st.rng
        p = rng.choice(self.net.people)
        ip = self.net.host(p.workstation).ip
        lg = st.logon(ts, p.account, 3, ip=ip)
        st.share(ts + 4000, lg, ip, "Shares", "\\??\\D:\\Shares")
        for i in range(st.ri(1, 5)):
            rel = rng.choice(_SHARES).format(d=f"2026-02-{st.ri(1, 28):02d}")
            st.share_file(ts + 9000 + i * 700_000, lg, ip, "Shares", "\\??\\D:\\Shares", rel,
                          st.rand() < 0.2)
        st.logoff(ts + st.ri(30, 900) * SEC, lg, 3)

    def web(self, ts: int) -> None:
        st = self.st
        me = st.host.web_stack == "manageengine"
        st.conn(ts, st.web, st.host.ip, 9251 if me else 443, src_ip=ext_ip(st.rng), initiated=False)
        if st.rand() < 0.4 and self.dc_ips:
            st.conn(ts + 30_000, st.web, self.dc_ips[0], 389)
            if me:
                st.file(ts + 50_000, st.web,
                        f"{ME_HOME}\\logs\\access_log_{self.net.start:%Y-%m-%d}.txt")

    def probe(self, ts: int) -> None:
        tgt = self.st.rng.choice(self.peers)
        self.st.conn(ts, self.prtg, tgt.ip, self.st.rng.choice((135, 445, 161, 5985)),
                     dst_host=tgt.fqdn)

    def sql(self, ts: int) -> None:
        """The database's clients: the apps' service account from its servers, or a person."""
        st = self.st
        if st.rand() < 0.6:
            acct, ip = self.net.services["sql"], st.rng.choice(self.sql_clients)
        else:
            p = st.rng.choice(self.net.people)
            acct, ip = p.account, self.net.host(p.workstation).ip
        lg = st.logon(ts, acct, 3, ip=ip)
        st.logoff(ts + st.ri(1, 60) * SEC, lg, 3)

    def user_app(self, ts: int) -> None:
        st, rng = self.st, self.st.rng
        if st.desktop is None or st.rand() < 0.25:
            return self.svc_logon(ts)
        image, cmd = rng.choice(_APPS)
        user = st.desktop.logon.acct.sam
        p = st.spawn(ts, st.desktop, image, cmd.format(u=user), cwd=f"C:\\Users\\{user}\\")
        if image in (_CHROME, _EDGE):
            for i in range(st.ri(1, 4)):
                st.spawn(ts + 150_000 * (i + 1), p, image,
                         f'"{image}" --type=renderer --lang=en-US '
                         f"--renderer-client-id={st.ri(5, 90)} "
                         f"--launch-time-ticks={rng.getrandbits(36)}")
            st.conn(ts + 500_000, p, ext_ip(rng), 443)
            if st.rand() < 0.2:
                doc = f"{rng.choice(('invoice', 'agenda', 'report', 'scan'))}_{st.ri(100, 999)}.pdf"
                st.file(ts + 4 * SEC, p, f"C:\\Users\\{user}\\Downloads\\{doc}")
        else:
            st.conn(ts + 900_000, p, ext_ip(rng), 443, dst_host="outlook.office365.com")


# ---- planned activity: people and schedules ---------------------------------------------------
def user_day(st: HostState, ts: int, person: Person, end: int, lunch: int, typo: bool) -> None:
    """A workday at the desk: console logon, explorer and startup apps, lunch lock, logoff."""
    ws = st.host.name.upper()
    if typo:
        st.logon_failed(ts - 9 * SEC, person.account, 2, "127.0.0.1", ws)
    sess = open_session(st, ts, person.account, 2, "127.0.0.1", ws, admin=False)
    st.desktop = sess.explorer
    teams = (f"C:\\Users\\{person.account.sam}\\AppData\\Local\\Microsoft\\Teams\\current\\"
             "ms-teams.exe")
    for i, (image, cmd) in enumerate((_APPS[2], (teams, "ms-teams.exe --system-initiated"))):
        st.spawn(ts + (20 + 7 * i) * SEC, sess.explorer, image, cmd)
    unlock = st.logon(lunch, person.account, 7, "127.0.0.1", ws)
    st.logoff(lunch + 2 * SEC, unlock, 7)
    close_session(st, end, sess)


def remote_desktop(st: HostState, ts: int, acct: Account, ip: str, client: str, commands: list[str],
                   end: int, admin: bool = True) -> None:
    """The target side of an RDP session: logon type 10, console commands, logoff.

    One session in four is left disconnected for a while (4779) and picked up again
    (1149, 4778), as people do when they step away.
    """
    sess = open_session(st, ts, acct, 10, ip, client, admin=admin)
    t = run_commands(st, ts + st.ri(15, 60) * SEC, sess, commands, elevated=admin)
    end = max(end, t + 30 * SEC)
    if st.rand() < 0.25 and end - t > 4 * MIN:
        away = t + (end - t) // 3
        back = away + st.ri(2, 30) * MIN
        st.rdp_session(away, sess.logon, client, ip, reconnect=False)
        st.rdp_authenticated(back - st.ri(400_000, 1_500_000), acct, ip)
        st.rdp_session(back, sess.logon, client, ip, reconnect=True)
        end = max(end, back + st.ri(2, 10) * MIN)
    close_session(st, end, sess)


def wmi_runs(st: HostState, ts: int, inner: str, logon: Logon | None = None) -> None:
    """WmiPrvSE starts ``inner`` (and cmd starts each ``&``-chained tool in it)."""
    if not inner.lower().startswith("cmd"):
        run_and_effect(st, ts, st.wmiprvse, inner, logon=logon, integrity="High")
        return
    p = st.spawn(ts, st.wmiprvse, TOOLS["cmd"], inner, logon=logon, integrity="High", cwd=SYS32)
    effects(st, ts, p, inner)
    for i, part in enumerate(inner.split(" /c ", 1)[1].split(" & ")):
        if part.split(" ", 1)[0].lower() not in _BUILTINS:
            run_and_effect(st, ts + 60_000 * (i + 1), p, part.split(" >", 1)[0].strip())


def wmi_exec_target(st: HostState, ts: int, acct: Account, src_ip: str, inner: str) -> None:
    """Target of ``wmic /node: process call create``: network logon, WmiPrvSE runs it, logoff."""
    lg = st.logon(ts, acct, 3, ip=src_ip, admin=True)
    wmi_runs(st, ts + 600_000, inner, logon=lg)
    st.logoff(ts + 25 * SEC, lg, 3)


def psexec_target(st: HostState, ts: int, acct: Account, src_ip: str, src_name: str, inner: str,
                  tools: list[str]) -> None:
    """PsExec's footprint on its target: ADMIN$ and IPC$, the PSEXESVC service, its children."""
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


PSEXEC = "C:\\Tools\\Sysinternals\\PsExec.exe"


def psexec_client(st: HostState, ts: int, person: Person, target: str, target_ip: str,
                  cmd: str) -> None:
    """An admin's PsExec from their own PC: an elevated console as the admin account."""
    sess = runas_session(st, ts, person)
    shell = console(st, ts + 6 * SEC, sess)
    p = st.run(ts + 9 * SEC, shell, f'"{PSEXEC}" \\\\{target} -accepteula -s cmd /c "{cmd}"')
    st.conn(ts + 9 * SEC + 300_000, p, target_ip, 445, dst_host=target)
    st.logoff(ts + st.ri(3, 15) * MIN, sess.logon, 2)


def jump_session(st: HostState, ts: int, acct: Account, ip: str, client: str, target: str,
                 target_ip: str, end: int) -> None:
    """An admin on the jump server: RDP in, mstsc onwards to a server, RDP out later."""
    sess = open_session(st, ts, acct, 10, ip, client, admin=True)
    t = ts + st.ri(20, 90) * SEC
    p = st.spawn(t, sess.explorer, TOOLS["mstsc"], f'"{TOOLS["mstsc"]}" /v:{target}')
    st.explicit_creds(t + 2 * SEC, sess.logon, acct, target, target_ip, p, "3389")
    st.conn(t + 2 * SEC, p, target_ip, 3389, dst_host=target)
    close_session(st, end, sess)


def own_console(st: HostState, ts: int, commands: list[str]) -> None:
    """The owner at their own desk, in a plain (not elevated) console as themselves."""
    if st.desktop is None:
        return
    sess = Session(st.desktop.logon, st.desktop, 2)
    run_commands(st, ts, sess, commands, gap=(5, 60), elevated=False)


def clear_log(st: HostState, ts: int, acct: Account, ip: str, client: str, channel: str,
              clear_at: int) -> None:
    """An admin clears a log in Event Viewer over RDP (a full log, a noisy app): 1102 or 104."""
    sess = open_session(st, ts, acct, 10, ip, client, admin=True)
    st.spawn(clear_at - st.ri(30, 120) * SEC, sess.explorer, SYS32 + "mmc.exe",
             '"C:\\Windows\\system32\\mmc.exe" "C:\\Windows\\system32\\eventvwr.msc" /s')
    if channel == "Security":
        st.audit_cleared(clear_at, sess.logon)
    else:
        st.log_cleared(clear_at, sess.logon, channel)
    close_session(st, clear_at + st.ri(60, 400) * SEC, sess)


def service_schedule(st: HostState, ts: int, acct: Account, ip: str, every: int,
                     until: int) -> None:
    """A service account's steady habit: a network logon from one client every few minutes."""
    t = ts
    while t < until:
        lg = st.logon(t, acct, 3, ip=ip)
        st.logoff(t + st.ri(1, 8) * SEC, lg, 3)
        t += every * MIN + st.ri(-20, 20) * SEC


def rdp_client(st: HostState, ts: int, target: str, target_ip: str, acct: Account) -> None:
    """The source side: mstsc from the person's desktop, explicit credentials (4648)."""
    parent = st.desktop or st.services
    p = st.spawn(ts, parent, TOOLS["mstsc"], f'"C:\\Windows\\system32\\mstsc.exe" /v:{target}')
    st.explicit_creds(ts + 2 * SEC, parent.logon, acct, target, target_ip, p, "3389")
    st.conn(ts + 2 * SEC, p, target_ip, 3389, dst_host=target)


def runas_session(st: HostState, ts: int, person: Person) -> Session:
    """An admin's own PC: ``runas`` to the admin account, a console session as that account."""
    parent = st.desktop or st.services
    admin = person.admin or person.account
    runas = st.spawn(ts, parent, TOOLS["runas"], f"runas /user:{admin.qualified} cmd")
    st.explicit_creds(ts + 4 * SEC, parent.logon, admin, "localhost", "::1", runas)
    lg = st.logon(ts + 4 * SEC, admin, 2, "::1", st.host.name.upper(), admin=True)
    seclogon = st.proc_at(ts, SYS32 + "svchost.exe",
                          "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s seclogon", lg)
    return Session(lg, seclogon, 2)


def admin_console(st: HostState, ts: int, person: Person, commands: list[str]) -> None:
    """An admin's own PC: ``runas`` to the admin account, then commands that reach others."""
    sess = runas_session(st, ts, person)
    t = run_commands(st, ts + 6 * SEC, sess, commands)
    st.logoff(t + st.ri(2, 20) * MIN, sess.logon, 2)


def remote_logon(st: HostState, ts: int, acct: Account, ip: str, seconds: int, admin: bool = True,
                 new_user: Account | None = None) -> None:
    """A network logon from someone's tool (wmic /node, quser /server, AD cmdlets)."""
    lg = st.logon(ts, acct, 3, ip=ip, admin=admin)
    if new_user is not None:
        st.user_created(ts + SEC, lg, new_user)
    st.logoff(ts + seconds * SEC, lg, 3)


def windows_update(st: HostState, ts: int, new_service: bool) -> None:
    """Patch night: servicing stack, update workers, DataStore churn, a new updater service."""
    st.service_state(ts, "Windows Update", "wuauserv", True)
    st.service_state(ts + 40 * SEC, "Windows Modules Installer", "TrustedInstaller", True)
    ti = (f"C:\\Windows\\WinSxS\\amd64_microsoft-windows-servicingstack_31bf3856ad364e35_"
          f"{st.build}.5328_none_7c1f3d7bde2e9b9c\\TiWorker.exe")
    worker = st.spawn(ts + 41 * SEC, st.dcom, ti, ti + " -Embedding")
    st.spawn(ts + 5 * SEC, st.dcom, SYS32 + "MoUsoCoreWorker.exe",
             "C:\\Windows\\System32\\mousocoreworker.exe -Embedding")
    for i in range(st.ri(6, 14)):
        kb = f"{st.rng.getrandbits(64):016x}\\Windows10.0-KB50{st.ri(10000, 99999)}-x64.cab"
        st.file(ts + (60 + 20 * i) * SEC, worker,
                "C:\\Windows\\SoftwareDistribution\\Download\\" + kb)
    pid = f"{st.ri(300, 2000) * 4},D,0"
    st.esent(ts + 30 * SEC, 326, "svchost", pid, "SUS20ClientDataStore: ", "1", _DBS[2][2])
    st.esent(ts + 900 * SEC, 327, "svchost", pid, "SUS20ClientDataStore: ", "1", _DBS[2][2])
    st.spawn(ts + 300 * SEC, st.services, SYS32 + "msiexec.exe",
             "C:\\Windows\\system32\\msiexec.exe /V")
    if new_service:
        exe = "C:\\Program Files (x86)\\Microsoft\\EdgeUpdate\\MicrosoftEdgeUpdate.exe"
        st.service_installed(ts + 600 * SEC, "Microsoft Edge Update Service (edgeupdate)",
                             f'"{exe}" /svc',
                             SYSTEM, "auto start")
        name = "\\MicrosoftEdgeUpdateTaskMachineCore{" + st.guid().upper() + "}"
        st.task_created(ts + 601 * SEC, st.system, name, exe, "/c", "S-1-5-18")
    st.service_state(ts + 1500 * SEC, "Windows Modules Installer", "TrustedInstaller", False)


def backup_job(st: HostState, ts: int, acct: Account, date: str, pw: str) -> None:
    """Nightly backup as a scheduled task: batch logon, VSS snapshot, 7-Zip with a password."""
    lg = st.logon(ts, acct, 4, admin=True)
    shadow = vss_snapshot(st, ts + 2 * SEC)
    sru = "C:\\Windows\\system32\\SRU\\SRUDB.dat"
    st.esent(ts + 4 * SEC, 216, "svchost", f"{st.ri(300, 2000) * 4},R,98", "SRUJet: ", "", sru,
             shadow + sru[2:])
    cmd = st.spawn(ts + SEC, st.schedule, TOOLS["cmd"],
                   'C:\\Windows\\system32\\cmd.exe /c "D:\\Scripts\\nightly_backup.cmd"',
                   logon=lg, integrity="High", cwd="D:\\Scripts\\")
    if st.host.role == DC:
        st.run(ts + 3 * SEC, cmd, "wbadmin start systemstatebackup -backupTarget:E: -quiet")
    else:
        run_and_effect(st, ts + 3 * SEC, cmd, f'"{TOOLS["7z"]}" a -t7z -mx=3 -mhe=on -p{pw} '
                       f"E:\\Backup\\Shares_{date}.7z D:\\Shares\\*")
    st.logoff(ts + st.ri(600, 2400) * SEC, lg, 4)


def _fill(template: str, net: Network, rng: random.Random) -> str:
    servers = [h for h in net.hosts if h.role != WS]
    return template.format(
        dc=rng.choice(net.by_role(DC)).name, domain=net.domain, peer=rng.choice(net.hosts).name,
        server=rng.choice(servers).name, ws=rng.choice(net.by_role(WS)).name,
        user=rng.choice(net.people).account.sam, gw=net.hosts[0].ip.rsplit(".", 2)[0] + ".0.1",
        ym=net.start.strftime("%Y%m"), dn=",".join("DC=" + p for p in net.domain.split(".")))


def _rdp(ops: list[Op], t: int, admin: Person, src, target, commands: list[str],
         minutes: int, jump: Host | None = None) -> None:
    """An admin's RDP from their own PC (through the jump server if given), as Ops per host."""
    first = jump or target
    ops.append(Op(t, src.name, rdp_client, {"target": first.name, "target_ip": first.ip,
                                            "acct": admin.admin}))
    if jump is not None:
        ops.append(Op(t + 3 * SEC, jump.name, jump_session, {
            "acct": admin.admin, "ip": src.ip, "client": src.name.upper(), "target": target.name,
            "target_ip": target.ip, "end": t + (minutes + 5) * MIN}))
        src, t = jump, t + 2 * MIN
    ops.append(Op(t + 3 * SEC, target.name, remote_desktop,
                  {"acct": admin.admin, "ip": src.ip, "client": src.name.upper(),
                   "commands": commands,
                   "end": t + minutes * MIN}))


@dataclass
class BackgroundPlan:
    """The benign life of the network: Ops per host, notable look-alikes, benign log clears."""

    ops: list[Op]
    #: Benign events that resemble the actor's, with host, account and time window.
    lookalikes: list[dict]
    #: host -> channel index -> time an administrator cleared that log.
    clears: dict[str, dict[int, int]]


def plan_background(net: Network, seed: int) -> BackgroundPlan:
    """People's days and the schedules, as Ops; plus the benign look-alikes worth knowing.

    The look-alikes (an admin's own IFM, a real port proxy, a helpdesk query of 4624s, a
    log cleared in Event Viewer) are listed in scenario.json so a hunt can tell a true
    false positive from a miss. The administrators' other habits (jump server, PsExec,
    wmic, their own PuTTY sessions, night work) come from their own random stream, so
    adding one leaves the rest of the seed's day as it was.
    """
    rng = random.Random(f"background:{seed}")
    hab = random.Random(f"habits:{seed}")
    ops: list[Op] = []
    for day in range(net.days):
        for p in net.people:
            _plan_person_day(net, rng, ops, p, day)
        for p in net.admins if net.is_workday(day) else []:
            _plan_admin_day(net, rng, ops, p, day, hab)
        for h in net.hosts:  # nightly backups on file servers and DCs
            if h.role in (DC, FILE):
                kw = {"acct": net.services["backup"], "date": f"{net.start:%Y%m}{day + 2:02d}",
                      "pw": f"Bkp{seed % 97}!{net.netbios.title()}"}
                ops.append(Op(net.at(day, 1.0 + rng.uniform(0, 0.5)), h.name, backup_job, kw))
    patch = {tier: rng.randrange(net.days) for tier in ("server", "ws")}  # one night per tier
    for h in net.hosts:
        t = net.at(patch["ws" if h.role == WS else "server"], rng.uniform(2.0, 4.0))
        ops.append(Op(t, h.name, windows_update, {"new_service": rng.random() < 0.5}))
    lookalikes = _plan_lookalikes(net, rng, ops)
    _plan_habits(net, hab, ops, lookalikes)
    _plan_services(net, hab, ops)
    clears = _plan_clears(net, hab, ops, lookalikes)
    return BackgroundPlan(ops, lookalikes, clears)


def _plan_person_day(net: Network, rng: random.Random, ops: list[Op], p: Person, day: int) -> None:
    """A day at the desk on workdays; sometimes an evening on VPN (and admins RDP onwards)."""
    ws, workday = net.host(p.workstation), net.is_workday(day)
    if workday and ws.owner == p.account.sam:
        kw = {"person": p, "end": net.at(day, p.end_hour + rng.uniform(-0.3, 0.5)),
              "typo": rng.random() < 0.2, "lunch": net.at(day, 12.5 + rng.uniform(0, 1))}
        ops.append(Op(net.at(day, p.start_hour + rng.uniform(-0.3, 0.4)), ws.name, user_day, kw))
    if rng.random() >= (p.vpn_rate if workday else p.vpn_rate / 3):
        return
    t = net.at(day, rng.uniform(19.0, 22.0))
    ip = net.vpn_pool + str(rng.randrange(10, 250))
    client = "LAPTOP-" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(7))
    end = t + rng.randrange(10, 60) * MIN
    ops.append(Op(t, ws.name, remote_desktop, {"acct": p.account, "ip": ip, "client": client,
                                               "commands": [], "end": end, "admin": False}))
    if p.admin is not None:
        habits = HABITS[p.role]
        tgt = rng.choice([h for h in net.hosts if h.role in habits["targets"]] or net.hosts)
        cmds = [_fill(c, net, rng) for c in rng.sample(habits["remote"], 2)]
        ops.append(Op(t + 5 * MIN, tgt.name, remote_desktop, {
            "acct": p.admin, "ip": ip, "client": client, "commands": cmds, "end": t + 40 * MIN}))


def _plan_admin_day(net: Network, rng: random.Random, ops: list[Op], p: Person, day: int,
                    hab: random.Random) -> None:
    """1-3 work sessions in the admin's own hours: RDP to their servers or their own console.

    A third of the RDP sessions go through the jump server where there is one; now and
    then a server admin's session lands on a domain controller.
    """
    habits, ws = HABITS[p.role], net.host(p.workstation)
    targets = [h for h in net.hosts if h.role in habits["targets"] and h is not ws] or [ws]
    names = {h.name for h in net.hosts}
    jumps = net.by_role(JUMP)
    for k in range(rng.randint(1, 3)):
        t = net.at(day, rng.uniform(p.start_hour + 0.3, p.end_hour - 1.0))
        if k == 0 or rng.random() < 0.65:
            picked = rng.sample(habits["remote"], rng.randint(2, 6))
            if k == 0:  # each admin's signature tool shows up every workday
                sig = [c for c in habits["remote"] if c.startswith(SIGNATURE[p.role])]
                picked[0] = rng.choice(sig)
            cmds = [_fill(c, net, rng) for c in picked]
            target = rng.choice(targets)
            if p.role != "dc_admin" and hab.random() < 0.08:
                target = hab.choice(net.by_role(DC))
            jump = jumps[0] if jumps and target is not ws and hab.random() < 0.35 else None
            _rdp(ops, t, p, ws, target, cmds, rng.randrange(8, 50), jump)
            continue
        local = habits["local"]
        cmds = [_fill(c, net, rng) for c in rng.sample(local, rng.randint(1, len(local)))]
        ops.append(Op(t, ws.name, admin_console, {"person": p, "commands": cmds}))
        for c in cmds:  # the hosts those commands reach see a network logon
            for tok in ("/node:", "/server:"):
                name = c.split(tok, 1)[1].split()[0] if tok in c else ""
                if name in names and "process call create" in c:
                    inner = c.split("call create ", 1)[1].strip('"')
                    kw = {"acct": p.admin, "src_ip": ws.ip, "inner": inner}
                    ops.append(Op(t + 12 * SEC, name, wmi_exec_target, kw))
                elif name in names:
                    kw = {"acct": p.admin, "ip": ws.ip, "seconds": 5}
                    ops.append(Op(t + 12 * SEC, name, remote_logon, kw))
        if p.role == "helpdesk" and rng.random() < 0.3:  # a new hire's account (4720)
            sam = rng.choice("abcdefghjkmnprstw") + rng.choice(("ortiz", "kim", "haas", "boyd"))
            sid = f"{net.domain_sid}-{rng.randrange(2000, 3000)}"
            kw = {"acct": p.admin, "ip": ws.ip, "seconds": 3,
                  "new_user": Account(sam, net.netbios, sid, "New hire")}
            ops.append(Op(t + 20 * SEC, net.by_role(DC)[0].name, remote_logon, kw))


def _plan_lookalikes(net: Network, rng: random.Random, ops: list[Op]) -> list[dict]:
    """Benign events that match the actor's indicators, each by the admin who would do it."""
    notables: list[dict] = []
    workdays = [d for d in range(net.days) if net.is_workday(d)] or [0]
    subnet = net.hosts[0].ip.rsplit(".", 2)[0]
    query = ("PS Get-WinEvent -FilterHashtable "
             "@{LogName='Security';Id=4624;StartTime=(Get-Date).AddHours(-8)}"
             " | Where-Object {$_.Properties[5].Value -eq '" + net.people[-1].account.sam + "'}"
             " | Select-Object TimeCreated -First 20")
    for role, chance, host, commands, what in (
        ("dc_admin", 0.5, net.by_role(DC)[-1],
         ['ntdsutil "activate instance ntds" ifm "create sysvol full C:\\IFM" quit quit'],
         "ntdsutil IFM for a new domain controller"),
        ("network_admin", 0.5, next(iter(net.by_role(MON)), net.by_role(WEB)[0]),
         ["netsh interface portproxy add v4tov4 listenport=8443 listenaddress=0.0.0.0 "
          "connectport=443 "
          f"connectaddress={subnet}.0.5", "netsh interface portproxy show all"],
         "port proxy to the management appliance"),
        ("helpdesk", 0.6, net.by_role(DC)[0], [query],
         "PowerShell query of 4624 logons for a locked-out user"),
    ):
        person = net.person(role)
        if person is None or rng.random() >= chance:
            continue
        ws = net.host(person.workstation)
        t = net.at(rng.choice(workdays), rng.uniform(person.start_hour + 1, person.end_hour - 1.5))
        _rdp(ops, t, person, ws, host, commands, 20)
        notables.append({"what": what, "host": host.name, "account": person.admin.qualified,
                         "time": t, "until": t + 25 * MIN, "commands": commands})
    return notables


def _vpn_client(rng: random.Random, net: Network) -> tuple[str, str]:
    ip = net.vpn_pool + str(rng.randrange(10, 250))
    return ip, "LAPTOP-" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(7))


def _plan_habits(net: Network, hab: random.Random, ops: list[Op], notables: list[dict]) -> None:
    """PsExec and wmic against servers, the owner's own console, night work: a few a day."""
    workdays = [d for d in range(net.days) if net.is_workday(d)] or [0]
    nights = 0
    for day in range(net.days):
        for p in net.admins:
            habits, ws = HABITS[p.role], net.host(p.workstation)
            lo, hi = p.start_hour + 0.3, p.end_hour - 1.0
            if net.is_workday(day) and hab.random() < 0.45:  # PsExec to one of their servers
                pool = net.by_role(DC) if p.role == "dc_admin" else [
                    h for h in net.hosts if h.role in habits["targets"] and h is not ws]
                target = hab.choice(pool or net.by_role(DC))
                cmd = _fill(hab.choice(habits["psexec"]), net, hab)
                t = net.at(day, hab.uniform(lo, hi))
                ops.append(Op(t, ws.name, psexec_client, {"person": p, "target": target.name,
                                                          "target_ip": target.ip, "cmd": cmd}))
                ops.append(Op(t + 9 * SEC + 400_000, target.name, psexec_target, {
                    "acct": p.admin, "src_ip": ws.ip, "src_name": ws.name.upper(),
                    "inner": f'cmd /c "{cmd}"', "tools": [cmd]}))
            own = p.role == "network_admin"
            if net.is_workday(day) and ws.owner == p.account.sam and (
                hab.random() < (0.6 if own else 0.2) or (own and day == workdays[0])
            ):
                picked = hab.sample(habits["own"], hab.randint(1, len(habits["own"])))
                if own:  # their own PuTTY sessions, which the actor's recon also reads
                    picked = [habits["own"][0]] + [c for c in picked if c != habits["own"][0]]
                cmds = [_fill(c, net, hab) for c in picked]
                t = net.at(day, hab.uniform(lo, hi))
                ops.append(Op(t, ws.name, own_console, {"commands": cmds}))
                if own:
                    notables.append({"what": "network admin lists their own PuTTY sessions",
                                     "host": ws.name, "account": p.account.qualified, "time": t,
                                     "until": t + 10 * MIN, "commands": cmds})
            last = day == net.days - 1 and p is net.admins[-1] and nights == 0
            if hab.random() < 0.12 or last:  # night work over VPN: maintenance, an alert
                nights += 1
                ip, client = _vpn_client(hab, net)
                pool = [h for h in net.hosts if h.role in habits["targets"]] or net.hosts
                target = hab.choice(pool)
                t = net.at(day, hab.uniform(22.5, 26.0))
                if t + 75 * MIN > net.at(net.days, net.tz_offset):  # past the collection
                    t = net.at(day, hab.uniform(0.5, 4.0))
                cmds = [_fill(c, net, hab) for c in hab.sample(habits["remote"], hab.randint(1, 3))]
                ops.append(Op(t, target.name, remote_desktop, {
                    "acct": p.admin, "ip": ip, "client": client, "commands": cmds,
                    "end": t + hab.randrange(15, 70) * MIN}))


def _plan_services(net: Network, hab: random.Random, ops: list[Op]) -> None:
    """Service accounts keep steady habits: the web app binds to each DC every 15 minutes."""
    web = net.by_role(WEB)[0]
    for day in range(net.days):
        for dc in net.by_role(DC):
            t0 = net.at(day, net.tz_offset) + hab.randrange(0, 15 * 60) * SEC  # UTC midnight
            ops.append(Op(t0, dc.name, service_schedule, {
                "acct": net.services["web"], "ip": web.ip, "every": 15,
                "until": net.at(day + 1, net.tz_offset)}))


def _plan_clears(net: Network, hab: random.Random, ops: list[Op],
                 notables: list[dict]) -> dict[str, dict[int, int]]:
    """Logs an administrator clears in Event Viewer: a noisy Application log on a server
    (104) about every few days, and a full Security log on a user's PC (1102) once.

    They land where the actor never goes (the Application log is never the actor's; the
    PC is not one its recon targets), so a benign clear never erases the actor's trail.
    """
    clears: dict[str, dict[int, int]] = {}
    workdays = [d for d in range(net.days) if net.is_workday(d)] or [0]
    servers = [h for h in net.hosts if h.role not in (DC, WS)]
    admin = net.person("server_admin") or net.admins[0]
    helpdesk = net.person("helpdesk") or net.admins[0]
    admins_pcs = {p.workstation for p in net.admins}  # the actor's recon PC is one of them
    plain = [h for h in net.by_role(WS) if h.name not in admins_pcs]
    plan = [(APPLICATION, "Application", admin, hab.choice(servers),
             "cleared a noisy Application log after fixing the failing service")
            for _ in range(1 + (net.days - 1) // 4)]
    if plain and (net.days >= 2 or hab.random() < 0.5):
        plan.append((SECURITY, "Security", helpdesk, hab.choice(plain),
                     "cleared a full Security log on a user's PC"))
    for ch, name, person, host, what in plan:
        ws = net.host(person.workstation)
        if host is ws:
            continue
        day = hab.choice(workdays)
        t = net.at(day, hab.uniform(person.start_hour + 0.5, person.end_hour - 1.0))
        clear_at = t + hab.randrange(2, 10) * MIN
        ops.append(Op(t, ws.name, rdp_client, {"target": host.name, "target_ip": host.ip,
                                               "acct": person.admin}))
        ops.append(Op(t + 3 * SEC, host.name, clear_log, {
            "acct": person.admin, "ip": ws.ip, "client": ws.name.upper(), "channel": name,
            "clear_at": clear_at}))
        clears.setdefault(host.name, {})[ch] = max(clear_at, clears.get(host.name, {}).get(ch, 0))
        notables.append({"what": what, "host": host.name, "account": person.admin.qualified,
                         "time": t, "until": clear_at + 10 * MIN, "channel": name,
                         "cleared": clear_at})
    return clears

"""Per-host machine chatter, drawn hour by hour: what ``events=`` scales.

Service logons, scheduled tasks, WMI, Kerberos and SYSVOL on DCs, share access on file
servers, browsers on PCs, the monitoring probe, the web app, SQL clients: the bulk of a
real estate's logs and the background every rule and baseline is measured against.
Service accounts log on only from the host they run on.
"""

from __future__ import annotations

import random

from lotlhunt.simulate.host import HOUR, SEC, Logon, Proc
from lotlhunt.simulate.inventory import SYS32, TOOLS
from lotlhunt.simulate.network import (
    DC,
    FILE,
    JUMP,
    MON,
    NETWORK_SERVICE,
    SQL,
    SYSTEM,
    WEB,
    WS,
    Account,
    Network,
)
from lotlhunt.simulate.sessions import cmdlets
from lotlhunt.simulate.state import HostState

ME_HOME = "C:\\ManageEngine\\ADSelfService Plus"
APPPOOL = Account(
    "DefaultAppPool",
    "IIS APPPOOL",
    "S-1-5-82-3006700770-424185619-1745488364-794895919-4004696415",
    kind="builtin",
)
INTERNET = ("52.96.", "13.107.", "142.250.", "20.190.", "23.45.", "104.18.", "151.101.")


def ext_ip(rng: random.Random) -> str:
    return rng.choice(INTERNET) + f"{rng.randrange(1, 255)}.{rng.randrange(1, 255)}"


_DEF = "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.24010.12-0\\"
_TASKS = [
    (SYS32 + "taskhostw.exe", "taskhostw.exe Install $(Arg0)"),
    (SYS32 + "compattelrunner.exe", "C:\\Windows\\system32\\compattelrunner.exe -maintenance"),
    (_DEF + "MpCmdRun.exe", f'"{_DEF}MpCmdRun.exe" -IdleTask -TaskName WdCacheMaintenance'),
    (SYS32 + "sc.exe", "C:\\Windows\\system32\\sc.exe start pushtoinstall registration"),
    (SYS32 + "usoclient.exe", "C:\\Windows\\system32\\usoclient.exe StartScan"),
    (SYS32 + "defrag.exe", "C:\\Windows\\system32\\defrag.exe -c -h -o -$"),
    (
        SYS32 + "rundll32.exe",
        "C:\\Windows\\system32\\rundll32.exe C:\\Windows\\system32\\Startupscan.dll,SusRunTask",
    ),
    (SYS32 + "sppsvc.exe", "C:\\Windows\\system32\\sppsvc.exe"),
    (
        SYS32 + "backgroundTaskHost.exe",
        "C:\\Windows\\system32\\backgroundTaskHost.exe "
        "-ServerName:BackgroundTaskHost.WebAccountProvider",
    ),
]
_SERVICES = [
    tuple(x.split("|"))
    for x in (
        "Windows Modules Installer|TrustedInstaller",
        "Background Intelligent Transfer Service|BITS",
        "WinHTTP Web Proxy Auto-Discovery Service|WinHttpAutoProxySvc",
        "Windows Update|wuauserv",
        "Software Protection|sppsvc",
        "Device Setup Manager|DsmSvc",
        "Delivery Optimization|DoSvc",
        "Windows Error Reporting Service|WerSvc",
        "Update Orchestrator Service|UsoSvc",
        "Microsoft Store Install Service|InstallService",
        "Network Setup Service|NetSetupSvc",
    )
]
_FILES = [
    "C:\\Windows\\Prefetch\\{x}.EXE-{h}.pf",
    "C:\\Windows\\Temp\\{g}.tmp",
    "C:\\ProgramData\\Microsoft\\Windows Defender\\Scans\\History\\CacheManager\\{h}-0.bin",
    "C:\\Windows\\ServiceProfiles\\NetworkService\\AppData\\Local\\Microsoft\\Windows\\"
    "DeliveryOptimization\\Logs\\dosvc.{n}.etl",
    "C:\\Windows\\System32\\Tasks\\Microsoft\\Windows\\UpdateOrchestrator\\Schedule Scan",
]
_REGS = [
    (
        "HKLM\\System\\CurrentControlSet\\Services\\bam\\State\\UserSettings\\S-1-5-18\\"
        "\\Device\\HarddiskVolume2\\Windows\\System32\\{x}.exe",
        "Binary Data",
    ),
    (
        "HKLM\\SOFTWARE\\Microsoft\\Windows Defender\\Signature Updates\\SignaturesLastUpdated",
        "Binary Data",
    ),
    (
        "HKLM\\System\\CurrentControlSet\\Services\\W32Time\\Config\\LastKnownGoodTime",
        "QWORD (0x01dc6a4b-0x{h8})",
    ),
    (
        "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Auto Update\\"
        "LastOnlineScanTimeForAppCategory\\{G}",
        "{d}",
    ),
]
_EXE = ["SVCHOST", "TASKHOSTW", "CONHOST", "WMIPRVSE", "DLLHOST", "MPCMDRUN", "SEARCHPROTOCOLHOST"]
DBS = [
    ("svchost", "SRUJet: ", "C:\\Windows\\system32\\SRU\\SRUDB.dat"),
    (
        "svchost",
        "",
        "C:\\Windows\\system32\\CatRoot2\\{F750E6C3-38EE-11D1-85E5-00C04FC295EE}\\catdb",
    ),
    (
        "svchost",
        "SUS20ClientDataStore: ",
        "C:\\Windows\\SoftwareDistribution\\DataStore\\DataStore.edb",
    ),
]
_SHARES = [
    "Finance\\Budget 2026\\Q1 forecast.xlsx",
    "HR\\Policies\\Handbook 2026.docx",
    "Engineering\\SCADA\\Pump station 4 wiring.pdf",
    "Operations\\Shift logs\\{d}.xlsx",
    "Projects\\Main St lift station\\drawings\\P-101.dwg",
    "Public\\Templates\\Letterhead.dotx",
    "IT\\Inventory\\assets.csv",
]
_OFFICE = "C:\\Program Files\\Microsoft Office\\root\\Office16\\"
_CHROME = "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe"
_EDGE = "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe"
_APPS: list[tuple[str, str]] = [
    (_CHROME, f'"{_CHROME}" '),
    (_EDGE, f'"{_EDGE}" --profile-directory=Default'),
    (_OFFICE + "OUTLOOK.EXE", f'"{_OFFICE}OUTLOOK.EXE" '),
    (
        _OFFICE + "WINWORD.EXE",
        f'"{_OFFICE}WINWORD.EXE" /n "C:\\Users\\{{u}}\\Documents\\Report.docx" /o ""',
    ),
    (
        _OFFICE + "EXCEL.EXE",
        f'"{_OFFICE}EXCEL.EXE" "\\\\fs01\\Shares\\Operations\\Shift logs\\week.xlsx"',
    ),
]
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
_ME_JAVA = (
    f'"{ME_HOME}\\jre\\bin\\java.exe" -Dserver.home=.. -Dserver.stats=1000 '
    "-Djava.util.logging.config.file=../conf/logging.properties -Xms64m -Xmx2048m "
    "-Djava.library.path=../lib/native -cp ../lib/AdventNetNPrevalent.jar;"
    "../lib/tomcat/tomcat-juli.jar com.adventnet.mfw.Starter"
)
_W3WP = (
    'c:\\windows\\system32\\inetsrv\\w3wp.exe -ap "DefaultAppPool" -v "v4.0" '
    '-l "webengine4.dll" '
    "-a \\\\.\\pipe\\iisipm8d4bf0a2-6d0b-4ba5-9a77-24dbcc1d0a3a -h "
    '"C:\\inetpub\\temp\\apppools\\DefaultAppPool\\DefaultAppPool.config" -w "" -m 0'
)


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
        self.netsvc = st.proc_at(
            t0,
            SYS32 + "svchost.exe",
            "C:\\Windows\\system32\\svchost.exe -k NetworkService -p",
            netsvc_logon,
        )
        self.ccm = st.proc_at(
            t0, "C:\\Windows\\CCM\\CcmExec.exe", '"C:\\Windows\\CCM\\CcmExec.exe"'
        )
        if h.role == WEB and h.web_stack == "manageengine":  # the service runs as SYSTEM
            st.web = st.proc_at(
                t0, ME_HOME + "\\jre\\bin\\java.exe", _ME_JAVA, cwd=ME_HOME + "\\bin\\"
            )
        elif h.role == WEB:
            pool = st.new_logon(APPPOOL)
            st.web = st.proc_at(
                t0,
                "C:\\Windows\\System32\\inetsrv\\w3wp.exe",
                _W3WP,
                pool,
                "High",
                "C:\\Windows\\System32\\inetsrv\\",
            )
        self.prtg: Proc | None = None
        if h.role == MON:
            probe = "C:\\Program Files (x86)\\PRTG Network Monitor\\PRTG Probe.exe"
            self.prtg = st.proc_at(t0, probe, f'"{probe}"')
        self.owner = next((p for p in net.people if p.workstation == h.name), None)
        if self.owner is not None:
            lg = st.new_logon(self.owner.account, 1)
            st.desktop = st.proc_at(
                t0, "C:\\Windows\\explorer.exe", "C:\\Windows\\Explorer.EXE", lg, "Medium"
            )
        gens = [
            (self.svc_logon, 10),
            (self.task, 8),
            (self.wmi, 4),
            (self.conn, 14),
            (self.img, 5),
            (self.files, 10),
            (self.regs, 8),
            (self.svc_state, 4),
            (self.esent, 2),
            (self.sccm, 2),
        ]
        if self.mon is not None and h.role != MON:
            gens.append((self.monitored, 8))
        gens += {
            DC: [(self.kerberos, 60), (self.sysvol, 18)],
            FILE: [(self.fileshare, 40)],
            WEB: [(self.web, 30)],
            MON: [(self.probe, 35)],
            SQL: [(self.sql, 25)],
            WS: [(self.user_app, 45)],
            JUMP: [(self.svc_logon, 20), (self.task, 10)],
        }[h.role]
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
            st.spawn(
                ts,
                st.dcom,
                SYS32 + "wbem\\WmiPrvSE.exe",
                "C:\\Windows\\system32\\wbem\\wmiprvse.exe -Embedding",
                logon=self.netsvc.logon,
            )
        else:
            st.spawn(
                ts,
                st.dcom,
                SYS32 + "dllhost.exe",
                "C:\\Windows\\system32\\DllHost.exe "
                "/Processid:{AB8902B4-09CA-4BB6-B78D-A8F59079A8D5}",
            )

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
        dll = self.st.rng.choice(
            ("wbem\\wmiutils.dll", "wbem\\fastprox.dll", "amsi.dll", "samlib.dll")
        )
        self.st.image_load(ts, self.st.wmiprvse, SYS32 + dll)

    def files(self, ts: int) -> None:
        st, rng = self.st, self.st.rng
        path = rng.choice(_FILES).format(
            x=rng.choice(_EXE), h=f"{rng.getrandbits(32):08X}", g=st.guid(), n=rng.randrange(1, 9)
        )
        st.file(ts, self.msmpeng if "Defender" in path else st.schedule, path)

    def regs(self, ts: int) -> None:
        st, rng = self.st, self.st.rng
        key, det = rng.choice(_REGS)
        st.reg(
            ts,
            self.msmpeng if "Defender" in key else st.schedule,
            key.format(x=rng.choice(_EXE).lower(), G=st.guid().upper()),
            det.format(h8=f"{rng.getrandbits(32):08x}", d=str(rng.randrange(1, 1000))),
        )

    def svc_state(self, ts: int) -> None:
        st = self.st
        disp, short = st.rng.choice(_SERVICES)
        st.service_state(ts, disp, short, True)
        st.service_state(ts + st.ri(5, 300) * SEC, disp, short, False)

    def esent(self, ts: int) -> None:
        st = self.st
        proc, inst, path = st.rng.choice(DBS)
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
        p = st.spawn(
            ts,
            self.ccm,
            TOOLS["powershell"],
            f'"{TOOLS["powershell"]}" -NoLogo -NoProfile -NonInteractive '
            "-ExecutionPolicy Bypass "
            f'-File "{script}"',
            cwd="C:\\Windows\\CCM\\SystemTemp\\",
        )
        ctx = st.ps_open(ts + 400_000, p, "Default Host")
        text = st.rng.choice(_SCCM_SCRIPTS)
        st.ps_command(ts + 700_000, ctx, text, cmdlets(text), path=script)
        st.ps_close(ts + 2 * SEC, ctx)

    def monitored(self, ts: int) -> None:
        st, mon = self.st, self.mon
        assert mon is not None  # only drawn where a monitoring server exists
        lg = st.logon(
            ts,
            self.net.services["monitoring"],
            3,
            ip=mon.ip,
            workstation=mon.name.upper(),
            auth="NTLM" if st.rand() < 0.3 else "Kerberos",
        )
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
        pol = rng.choice(
            ("{31B2F340-016D-11D2-945F-00C04FB984F9}", "{6AC1786C-016F-11D2-945F-00C04fB984F9}")
        )
        for i, f in enumerate(("gpt.ini", "Machine\\Registry.pol")):
            st.share_file(
                ts + 6000 + i * 4000,
                lg,
                src.ip,
                "SYSVOL",
                local,
                f"{self.net.domain}\\Policies\\{pol}\\{f}",
            )
        st.logoff(ts + 2 * SEC, lg, 3)

    def fileshare(self, ts: int) -> None:
        st, rng = self.st, self.st.rng
        p = rng.choice(self.net.people)
        ip = self.net.host(p.workstation).ip
        lg = st.logon(ts, p.account, 3, ip=ip)
        st.share(ts + 4000, lg, ip, "Shares", "\\??\\D:\\Shares")
        for i in range(st.ri(1, 5)):
            rel = rng.choice(_SHARES).format(d=f"2026-02-{st.ri(1, 28):02d}")
            st.share_file(
                ts + 9000 + i * 700_000, lg, ip, "Shares", "\\??\\D:\\Shares", rel, st.rand() < 0.2
            )
        st.logoff(ts + st.ri(30, 900) * SEC, lg, 3)

    def web(self, ts: int) -> None:
        st = self.st
        me = st.host.web_stack == "manageengine"
        st.conn(
            ts, st.web_proc, st.host.ip, 9251 if me else 443, src_ip=ext_ip(st.rng), initiated=False
        )
        if st.rand() < 0.4 and self.dc_ips:
            st.conn(ts + 30_000, st.web_proc, self.dc_ips[0], 389)
            if me:
                st.file(
                    ts + 50_000,
                    st.web_proc,
                    f"{ME_HOME}\\logs\\access_log_{self.net.start:%Y-%m-%d}.txt",
                )

    @property
    def probe_proc(self) -> Proc:
        if self.prtg is None:
            raise RuntimeError(f"{self.st.host.name} runs no monitoring probe")
        return self.prtg

    def probe(self, ts: int) -> None:
        tgt = self.st.rng.choice(self.peers)
        self.st.conn(
            ts,
            self.probe_proc,
            tgt.ip,
            self.st.rng.choice((135, 445, 161, 5985)),
            dst_host=tgt.fqdn,
        )

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
                st.spawn(
                    ts + 150_000 * (i + 1),
                    p,
                    image,
                    f'"{image}" --type=renderer --lang=en-US '
                    f"--renderer-client-id={st.ri(5, 90)} "
                    f"--launch-time-ticks={rng.getrandbits(36)}",
                )
            st.conn(ts + 500_000, p, ext_ip(rng), 443)
            if st.rand() < 0.2:
                doc = f"{rng.choice(('invoice', 'agenda', 'report', 'scan'))}_{st.ri(100, 999)}.pdf"
                st.file(ts + 4 * SEC, p, f"C:\\Users\\{user}\\Downloads\\{doc}")
        else:
            st.conn(ts + 900_000, p, ext_ip(rng), 443, dst_host="outlook.office365.com")


#: Outlook, which every user's day starts with.
OUTLOOK = _APPS[2]

"""The simulated organisation: hosts with roles, people with habits, service accounts.

A hunt only rehearses well against a network whose normal life looks like a real one:
admins who legitimately run ntdsutil, wmic and netsh in their own hours from their own
workstations, service accounts that log on everywhere, users on VPN in the evening.
Everything here is drawn from one seeded RNG so a seed names one organisation. The
software inventory (tool paths, version resources) lives here too: it is what the
estate has installed, and what Sysmon reports about each binary.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

DC = "domain_controller"
FILE = "file_server"
WEB = "web_server"
MON = "monitoring"
SQL = "database"
WS = "workstation"
JUMP = "jump_host"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: Events per host per day of background noise, before ``events=`` scaling. The mix of a
#: Windows estate: DCs dominate (Kerberos, SYSVOL, service logons), workstations are quiet.
NOISE_PER_DAY = {DC: 14000, FILE: 5000, WEB: 4000, MON: 6000, SQL: 4000, JUMP: 2500, WS: 2200}


@dataclass(frozen=True, slots=True)
class Account:
    """A security principal as events name it (``DOMAIN\\sam`` plus SID)."""

    sam: str
    domain: str
    sid: str
    display: str = ""
    kind: str = "user"  # user | admin | service | builtin | machine

    @property
    def qualified(self) -> str:
        return f"{self.domain}\\{self.sam}"


SYSTEM = Account("SYSTEM", "NT AUTHORITY", "S-1-5-18", kind="builtin")
NETWORK_SERVICE = Account("NETWORK SERVICE", "NT AUTHORITY", "S-1-5-20", kind="builtin")


@dataclass(slots=True)
class Host:
    """One machine and what it logs: hosts without Sysmon leave 4688 to carry detection."""

    name: str
    fqdn: str
    role: str
    ip: str
    os: str
    sysmon: bool
    audit_process: bool
    ps_logging: bool
    machine: Account
    guid_prefix: str
    owner: str | None = None
    web_stack: str | None = None
    software: tuple[str, ...] = ()
    noise_per_day: int = 0


@dataclass(slots=True)
class Person:
    """A user; admins have a separate admin account, a specialty and their own hours."""

    name: str
    account: Account
    role: str  # user | dc_admin | server_admin | network_admin | helpdesk
    workstation: str
    start_hour: float  # local time
    end_hour: float
    vpn_rate: float  # chance of an evening VPN session on a workday
    admin: Account | None = None


@dataclass
class Network:
    seed: int
    domain: str
    netbios: str
    domain_sid: str
    tz_name: str
    tz_offset: int  # hours east of UTC, standard time
    start: datetime  # UTC midnight of the first simulated day
    days: int
    hosts: list[Host]
    people: list[Person]
    services: dict[str, Account]
    vpn_pool: str  # prefix, e.g. "10.20.99."
    _by_name: dict[str, Host] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_name = {h.name: h for h in self.hosts}

    def host(self, name: str) -> Host:
        return self._by_name[name]

    def by_role(self, role: str) -> list[Host]:
        return [h for h in self.hosts if h.role == role]

    @property
    def admins(self) -> list[Person]:
        return [p for p in self.people if p.admin is not None]

    def person(self, role: str) -> Person | None:
        return next((p for p in self.people if p.role == role), None)

    def at(self, day: int, local_hour: float) -> int:
        """UTC microseconds of ``local_hour`` (organisation time zone) on simulated ``day``."""
        base = self.start + timedelta(days=day, hours=local_hour - self.tz_offset)
        return (base - _EPOCH) // timedelta(microseconds=1)

    def is_workday(self, day: int) -> bool:
        return (self.start + timedelta(days=day)).weekday() < 5

    def to_json(self) -> dict:
        hosts = [
            {"name": h.name, "fqdn": h.fqdn, "role": h.role, "ip": h.ip, "os": h.os,
             "sysmon": h.sysmon, "audit_process_creation": h.audit_process,
             "powershell_logging": h.ps_logging, "web_stack": h.web_stack, "owner": h.owner,
             "software": list(h.software)}
            for h in self.hosts
        ]  # fmt: skip
        people = [
            {"name": p.name, "account": p.account.qualified, "role": p.role,
             "admin_account": p.admin.qualified if p.admin else None,
             "workstation": p.workstation, "hours_local": [p.start_hour, p.end_hour]}
            for p in self.people
        ]  # fmt: skip
        return {
            "domain": self.domain, "netbios": self.netbios, "domain_sid": self.domain_sid,
            "timezone": self.tz_name, "utc_offset_hours": self.tz_offset,
            "start": self.start.isoformat().replace("+00:00", "Z"), "days": self.days,
            "hosts": hosts, "people": people, "vpn_pool": self.vpn_pool + "0/24",
            "service_accounts": {k: v.qualified for k, v in self.services.items()},
        }  # fmt: skip


# fmt: off
_DOMAINS = [("corp.local", "CORP"), ("ad.lakeshore-water.org", "LAKESHORE"),
            ("northgrid.local", "NORTHGRID"), ("gpws.local", "GPWS"),
            ("tricounty-energy.local", "TRICOUNTY"), ("harborport.local", "HARBOR")]
_TIMEZONES = [("America/Chicago", -6), ("America/New_York", -5), ("America/Denver", -7),
              ("America/Los_Angeles", -8), ("Pacific/Guam", 10)]
_FIRST = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Carlos Karen Daniel Lisa Matthew Nancy Anthony "
    "Betty Mark Sandra Paul Ashley Steven Emily Andrew Donna Kenneth Michelle Kevin Carol Brian "
    "Amanda Maria Wei Priya Jorge Fatima Hiroshi Olga Tomas Aisha Raj"
).split()
_LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
    "Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Chen Patel Kowal"
).split()
_ADMIN_ROLES = ["dc_admin", "server_admin", "network_admin", "helpdesk"]
#: Local working hours per admin specialty; jittered per seed.
_ADMIN_HOURS = {"dc_admin": (7.0, 16.0), "server_admin": (8.5, 17.5),
                "network_admin": (10.0, 19.0), "helpdesk": (7.5, 16.5)}
# fmt: on


def _sid(rng: random.Random) -> str:
    return "S-1-5-21-" + "-".join(str(rng.randrange(10**9, 4 * 10**9)) for _ in range(3))


def plan_roles(n: int) -> list[tuple[str, str]]:
    """Role and name per host: a small utility's estate grows servers as it grows."""
    roles = [(DC, "dc01")] + ([(DC, "dc02")] if n >= 8 else []) + [(FILE, "fs01")]
    roles += [(FILE, "fs02")] if n >= 16 else []
    roles.append((WEB, ""))  # named after its stack
    roles += ([(MON, "prtg01")] if n >= 7 else []) + ([(SQL, "sql01")] if n >= 10 else [])
    roles += [(JUMP, "jump01")] if n >= 12 else []  # the admins' RDP jump server
    return roles + [(WS, f"ws{i + 1:02d}") for i in range(max(1, n - len(roles)))]


def build_network(seed: int, n_hosts: int, days: int) -> Network:
    """The organisation for ``seed``: at least 4 hosts (DC, file server, web server, PC)."""
    rng = random.Random(f"network:{seed}")
    domain, netbios = rng.choice(_DOMAINS)
    tz_name, tz_offset = rng.choice(_TIMEZONES)
    domain_sid = _sid(rng)
    start = datetime(2026, 2, 2, tzinfo=UTC) + timedelta(days=7 * (seed % 4))  # a Monday
    net_a = rng.choice([10, 20, 30, 40, 110])
    web_stack = rng.choice(["manageengine", "manageengine", "iis"])
    rid = [1104]

    def account(sam: str, display: str, kind: str) -> Account:
        rid[0] += rng.randrange(1, 9)
        return Account(sam, netbios, f"{domain_sid}-{rid[0]}", display, kind)

    roles = plan_roles(max(4, n_hosts))
    ws_names = [name for role, name in roles if role == WS]
    # Coverage gaps are part of the rehearsal: the file server (or the monitoring box) and
    # some PCs have no Sysmon, a PC or two does not audit process creation.
    no_sysmon = {"fs01"} if rng.random() < 0.7 or n_hosts < 7 else {"prtg01"}
    no_sysmon |= {w for w in ws_names[1:] if rng.random() < 0.25}
    if len(ws_names) >= 3 and not any(w in no_sysmon for w in ws_names):
        no_sysmon.add(ws_names[-1])
    if "sql01" in [n for _, n in roles] and rng.random() < 0.5:
        no_sysmon.add("sql01")
    no_audit = {w for w in ws_names if w not in no_sysmon and rng.random() < 0.15}
    if len(ws_names) >= 4 and not no_audit:
        no_audit = {next(w for w in ws_names if w not in no_sysmon)}

    hosts: list[Host] = []
    for i, (role, name) in enumerate(roles):
        name = name or ("adssp01" if web_stack == "manageengine" else "web01")
        if role == WS:
            ip = f"10.{net_a}.20.{50 + i}"
            os_name = rng.choice(["Windows 10 Enterprise 22H2", "Windows 11 Enterprise 23H2"])
        else:
            ip = f"10.{net_a}.{50 if role == WEB else 1}.{10 + i}"
            os_name = f"Windows Server {2019 if role == DC else 2016} Standard"
        machine = Account(name.upper() + "$", netbios, f"{domain_sid}-{1000 + i}", "", "machine")
        hosts.append(
            Host(name, f"{name}.{domain}", role, ip, os_name, sysmon=name not in no_sysmon,
                 audit_process=role != WS or name not in no_audit,
                 ps_logging=role != WS or rng.random() < 0.6, machine=machine,
                 guid_prefix=f"{rng.getrandbits(32):08X}",
                 web_stack=web_stack if role == WEB else None,
                 software=() if role == WS else ("7zip", "prtg") if role == MON else ("7zip",),
                 noise_per_day=int(NOISE_PER_DAY[role] * rng.uniform(0.75, 1.3)))
        )  # fmt: skip

    firsts, lasts = _FIRST[:], _LAST[:]
    rng.shuffle(firsts)
    rng.shuffle(lasts)
    style = rng.choice(["initial", "dotted"])
    adm_style = rng.choice(["adm-{}", "{}.adm", "a-{}"])
    ws_hosts = [h for h in hosts if h.role == WS]
    n_admins = max(2, min(4, len(ws_hosts)))
    people: list[Person] = []
    for i, ws in enumerate(ws_hosts if len(ws_hosts) >= n_admins else ws_hosts * n_admins):
        first, last = firsts[i % len(firsts)], lasts[i % len(lasts)]
        sam = (first[0] + last).lower() if style == "initial" else f"{first}.{last}".lower()
        admin = None
        if i < n_admins:
            role = _ADMIN_ROLES[i]
            lo, hi = _ADMIN_HOURS[role]
            jitter = rng.choice([-0.5, 0.0, 0.0, 0.5])
            lo, hi = lo + jitter, hi + jitter
            admin = account(adm_style.format(sam), f"{first} {last} (admin)", "admin")
            if role == "network_admin":
                ws.software = ("7zip", "putty", "openssh", "firefox")
        else:
            role = "user"
            lo = rng.choice([7.0, 7.5, 8.0, 8.5, 9.0])
            hi = lo + rng.choice([8.5, 9.0, 9.5])
        vpn = 0.35 if admin else rng.choice([0.0, 0.05, 0.15])
        person_acct = account(sam, f"{first} {last}", "user")
        people.append(Person(f"{first} {last}", person_acct, role, ws.name, lo, hi, vpn, admin))
        ws.owner = ws.owner or sam

    services = {"backup": account("svc_backup", "Backup service", "service")}
    if any(h.role == MON for h in hosts):
        services["monitoring"] = account("svc_prtg", "PRTG probe", "service")
    if any(h.role == SQL for h in hosts):
        services["sql"] = account("svc_sql", "SQL Server", "service")
    web_svc = "svc_adssp" if web_stack == "manageengine" else "svc_webapp"
    services["web"] = account(web_svc, "Web app", "service")
    services["sccm"] = account("svc_sccm", "Configuration Manager", "service")
    return Network(seed, domain, netbios, domain_sid, tz_name, tz_offset, start, days, hosts,
                   people, services, f"10.{net_a}.99.")  # fmt: skip


# ---- what the estate runs ----------------------------------------------------------------
SYS32 = "C:\\Windows\\System32\\"
_MSP, _MSC = "Microsoft® Windows® Operating System", "Microsoft Corporation"
# fmt: off
#: Where command-line tools live; a bare name in a command resolves through this.
TOOLS = {n: SYS32 + n + ".exe" for n in (
    "cmd conhost ntdsutil netsh reg net net1 nltest dnscmd ldifde quser whoami ipconfig arp "
    "netstat systeminfo tasklist ping curl vssadmin repadmin dcdiag w32tm gpupdate gpresult "
    "route tracert nslookup sc wevtutil makecab mstsc xcopy findstr schtasks rundll32 pcwrun "
    "hostname shutdown wbadmin runas").split()}
TOOLS.update({"wmic": SYS32 + "wbem\\WMIC.exe", "7z": "C:\\Program Files\\7-Zip\\7z.exe",
              "powershell": SYS32 + "WindowsPowerShell\\v1.0\\powershell.exe"})
#: Version resources of Microsoft binaries: basename -> (Description, OriginalFileName).
PE_MS = {k: tuple(v.split("|")) for k, v in {
    "cmd.exe": "Windows Command Processor|Cmd.Exe",
    "conhost.exe": "Console Window Host|CONHOST.EXE",
    "wmic.exe": "WMI Commandline Utility|wmic.exe",
    "wmiprvse.exe": "WMI Provider Host|Wmiprvse.exe",
    "ntdsutil.exe": "NT5DS|ntdsutil.exe", "netsh.exe": "Network Command Shell|netsh.exe",
    "reg.exe": "Registry Console Tool|reg.exe", "net.exe": "Net Command|net.exe",
    "net1.exe": "Net Command|net1.exe",
    "nltest.exe": "Microsoft® Logon Server Test Utility|nltestrk.exe",
    "dnscmd.exe": "DNS Server Troubleshooting Tool|dnscmd.exe",
    "ldifde.exe": "LDAP Directory Import/Export|ldifde.exe",
    "quser.exe": "Query User Utility|quser.exe",
    "qwinsta.exe": "Query Session Utility|qwinsta.exe",
    "mmc.exe": "Microsoft Management Console|mmc.exe",
    "whoami.exe": "whoami - displays logged on user information|whoami.exe",
    "ipconfig.exe": "IP Configuration Utility|ipconfig.exe",
    "arp.exe": "TCP/IP Arp Command|arp.exe",
    "netstat.exe": "TCP/IP Netstat Command|netstat.exe",
    "systeminfo.exe": "Displays system information|sysinfo.exe",
    "tasklist.exe": "Lists the current running tasks|tasklist.exe",
    "ping.exe": "TCP/IP Ping Command|ping.exe",
    "curl.exe": "cURL executable|curl.exe",
    "vssadmin.exe": "Command Line Interface for Microsoft® Volume Shadow Copy Service "
        "|VSSADMIN.EXE",
    "repadmin.exe": "Replication Diagnosis Tool|repadmin.exe",
    "dcdiag.exe": "Domain Controller Diagnosis|dcdiag.exe",
    "w32tm.exe": "Time Service Diagnostic Tool|w32tm.exe",
    "gpupdate.exe": "Microsoft® Windows Group Policy Update Utility|GPUpdate.exe",
    "gpresult.exe": "Query Group Policy RSOP Data|gprslt.exe",
    "route.exe": "TCP/IP Route Command|route.exe",
    "nslookup.exe": "nslookup|nslookup.exe",
    "sc.exe": "Service Control Manager Configuration Tool|sc.exe",
    "powershell.exe": "Windows PowerShell|PowerShell.EXE",
    "wevtutil.exe": "Eventing Command Line Utility|wevtutil.exe",
    "makecab.exe": "Microsoft® Cabinet Maker|makecab.exe",
    "mstsc.exe": "Remote Desktop Connection|mstsc.exe",
    "findstr.exe": "Find String (QGREP) Utility|FINDSTR.EXE",
    "schtasks.exe": "Task Scheduler Configuration Tool|schtasks.exe",
    "pcwrun.exe": "Program Compatibility Troubleshooter Helper|PCWRUN.EXE",
    "svchost.exe": "Host Process for Windows Services|svchost.exe",
    "taskhostw.exe": "Host Process for Windows Tasks|taskhostw.exe",
    "explorer.exe": "Windows Explorer|EXPLORER.EXE",
    "userinit.exe": "Userinit Logon Application|USERINIT.EXE",
    "rdpclip.exe": "RDP Clipboard Monitor|rdpclip.exe",
    "dllhost.exe": "COM Surrogate|dllhost.exe",
    "backgroundtaskhost.exe": "Background Task Host|backgroundTaskHost.exe",
    "tiworker.exe": "Windows Modules Installer Worker|TiWorker.exe",
    "mousocoreworker.exe": "MoUSO Core Worker Process|MoUsoCoreWorker.exe",
    "compattelrunner.exe": "Microsoft Compatibility Telemetry|CompatTelRunner.exe",
    "mpcmdrun.exe": "Microsoft Malware Protection Command Line Utility|MpCmdRun.exe",
    "msiexec.exe": "Windows® installer|msiexec.exe",
    "csc.exe": "Visual C# Command Line Compiler|csc.exe",
    "defrag.exe": "Disk Defragmenter Module|Defrag.EXE", "runas.exe": "Run As Utility|RUNAS.EXE",
    "wbadmin.exe": "Command Line Interface for Microsoft® BlockLevel Backup Engine|WBADMIN.EXE",
    "w3wp.exe": "IIS Worker Process|w3wp.exe",
    "rundll32.exe": "Windows host process (Rundll32)|RUNDLL32.EXE",
    "sppsvc.exe": "Microsoft Software Protection Platform Service|sppsvc.exe",
    "usoclient.exe": "UsoClient|UsoClient.exe",
}.items()}
#: Third-party binaries: basename -> (Description, OriginalFileName, Product, Company, Version).
PE_3P = {k: tuple(v.split("|")) for k, v in {
    "7z.exe": "7-Zip Console|7z.exe|7-Zip|Igor Pavlov|23.01",
    "rar.exe": "Command line RAR|Rar.exe|WinRAR|Alexander Roshal|6.24.0",
    "psexec.exe": "Execute processes remotely|psexec.c|Sysinternals PsExec"
        "|Sysinternals - www.sysinternals.com|2.43",
    "psexesvc.exe": "PsExec Service|psexesvc.exe|Sysinternals PsExec|Sysinternals|2.43",
    "java.exe": "Java(TM) Platform SE binary|java.exe|Java(TM) Platform SE 8|Oracle Corporation"
        "|8.0.3810.9",
    "wrapper.exe": "Java Service Wrapper Community|wrapper.exe|Java Service Wrapper"
        "|Tanuki Software, Ltd.|3.5.51",
    "chrome.exe": "Google Chrome|chrome.exe|Google Chrome|Google LLC|122.0.6261.95",
    "msedge.exe": f"Microsoft Edge|msedge.exe|Microsoft Edge|{_MSC}|122.0.2365.66",
    "outlook.exe": f"Microsoft Outlook|Outlook.exe|Microsoft Outlook|{_MSC}|16.0.17231.20236",
    "winword.exe": f"Microsoft Word|WinWord.exe|Microsoft Office|{_MSC}|16.0.17231.20236",
    "excel.exe": f"Microsoft Excel|Excel.exe|Microsoft Office|{_MSC}|16.0.17231.20236",
    "ms-teams.exe": f"Microsoft Teams|ms-teams.exe|Microsoft Teams|{_MSC}|24004.1307.2669.7070",
    "putty.exe": "SSH, Telnet, Rlogin, and SUPDUP client|PuTTY|PuTTY suite|Simon Tatham"
        "|Release 0.80",
    "prtg probe.exe": "PRTG Probe|PRTG Probe.exe|PRTG Network Monitor|Paessler AG|24.1.92.1554",
    "msmpeng.exe": f"Antimalware Service Executable|MsMpEng.exe|{_MSP}|{_MSC}|4.18.24010.12",
}.items()}
# fmt: on

#: What each admin specialty does, in their own words. ``targets``: host roles they RDP to;
#: ``remote``: commands typed into a console there (``PS `` = PowerShell); ``local``:
#: commands from their own workstation that touch another host (``{peer}`` etc. filled in).
#: Several are exact look-alikes of the actor's discovery commands on purpose.
# fmt: off
HABITS: dict[str, dict[str, list]] = {
    "dc_admin": {"targets": [DC], "remote": [
        "repadmin /replsummary", "repadmin /showrepl {dc}", "dcdiag /test:dns /v", "dcdiag /q",
        'ntdsutil "activate instance ntds" snapshot "create" quit quit',
        'ntdsutil "ac i ntds" "snapshot" "list all" q q',
        'ntdsutil "metadata cleanup" "connections" "connect to server {dc}" quit '
        '"select operation target" "list sites" quit quit quit',
        'ntdsutil "activate instance ntds" files info quit quit',
        "dnscmd . /enumzones", "dnscmd {dc} /zoneinfo {domain}", "nltest /dsgetdc:{domain}",
        "nltest /DOMAIN_TRUSTS", 'net group "Domain Admins" /domain', "w32tm /query /status",
        "PS Get-ADReplicationFailure -Target {dc}",
        "PS Get-ADDomainController -Filter * | Select-Object Name,IPv4Address,OperatingSystem",
        "PS Get-ADComputer -Filter * -Properties LastLogonDate | Where-Object LastLogonDate -lt "
        "(Get-Date).AddDays(-90)"],
        "local": ["wmic /node:{dc} service where \"name='NTDS'\" get state",
                  "nltest /sc_query:{domain}"],
        "psexec": ["repadmin /syncall /AdeP", "w32tm /resync", "ipconfig /registerdns"],
        "own": ["whoami /groups"]},
    "server_admin": {"targets": [FILE, WEB, SQL, MON], "remote": [
        "wmic logicaldisk get caption,freespace,size", "wmic qfe list brief",
        "wmic service where \"state='stopped' and startmode='auto'\" get name,displayname",
        "wmic product list brief",
        'reg query "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall" /s',
        "reg query HKLM\\SYSTEM\\CurrentControlSet\\Services\\LanmanServer\\Parameters",
        'reg add "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\WindowsUpdate\\AU" '
        "/v NoAutoRebootWithLoggedOnUsers /t REG_DWORD /d 1 /f",
        '"C:\\Program Files\\7-Zip\\7z.exe" a -tzip D:\\Archive\\logs_{ym}.zip '
        "C:\\Windows\\Logs\\CBS\\*.log",
        "tasklist /svc", "sc query type= service state= all", "net start",
        "netstat -ano | findstr :443",
        "systeminfo", "ipconfig /all", "whoami", "vssadmin list shadows", "vssadmin list writers",
        'schtasks /create /tn "Cleanup temp" /tr "powershell.exe -NoProfile -File '
        'D:\\Scripts\\cleanup.ps1" /sc daily /st 03:00 /ru SYSTEM',
        "PS Get-Service | Where-Object Status -eq Stopped",
        "PS Get-HotFix | Sort-Object InstalledOn -Descending | Select-Object -First 5",
        "PS Get-EventLog -LogName System -Newest 50 -EntryType Error",
        "netsh advfirewall show allprofiles", "netsh advfirewall show currentprofile"],
        "local": ["wmic /node:{server} logicaldisk get caption,freespace,size",
                  "wmic /node:{server} qfe list brief",
                  'wmic /node:{server} process call create "cmd.exe /c gpupdate /force"'],
        "psexec": ["ipconfig /all", "gpupdate /force", "sc query wuauserv", "qwinsta",
                   "netsh advfirewall show allprofiles"],
        "own": ["ipconfig /all"]},
    "network_admin": {"targets": [MON, WEB, FILE], "remote": [
        "netsh interface portproxy show all", "netsh advfirewall firewall show rule name=all",
        "netsh advfirewall show allprofiles", "netsh interface ipv4 show config", "ipconfig /all",
        "arp -a", "route print", "tracert -d 8.8.8.8", "ping -n 4 {peer}",
        "nslookup {peer}.{domain}",
        "netstat -ano", "PS Test-NetConnection {peer} -Port 443",
        "PS Get-NetTCPConnection -State Listen | Sort-Object LocalPort"],
        "local": ['"C:\\Program Files\\PuTTY\\putty.exe" -ssh netadmin@{gw}', "ping -n 1 -a {peer}",
                  "netsh interface portproxy show v4tov4", "quser /server:{server}",
                  "netsh advfirewall show currentprofile"],
        "psexec": ["ipconfig /all", "route print", "netsh advfirewall show allprofiles"],
        # their own PuTTY sessions, as themselves: the actor's credential recon, by its owner
        "own": ["reg query HKCU\\Software\\SimonTatham\\PuTTY\\Sessions",
                'reg query "HKCU\\Software\\SimonTatham\\PuTTY\\Sessions\\core-sw01"',
                "ping -n 2 {gw}"]},
    "helpdesk": {"targets": [WS], "remote": [
        "quser", "net user {user} /domain", "net localgroup administrators", "gpresult /r",
        "whoami /groups", "gpupdate /force", "ipconfig /flushdns",
        "PS Get-ADUser {user} -Properties LockedOut,BadLogonCount,LastBadPasswordAttempt",
        "PS Unlock-ADAccount -Identity {user}",
        "PS Get-EventLog -LogName Security -InstanceId 4740 -Newest 20"],
        "local": ["quser /server:{ws}", "net user {user} /domain",
                  "PS Unlock-ADAccount -Identity {user}"],
        "psexec": ["gpupdate /force", "ipconfig /flushdns", "qwinsta"],
        "own": ["whoami"]},
}
#: The tool each admin specialty reaches for daily (and the actor abuses).
SIGNATURE = {"dc_admin": "ntdsutil", "server_admin": "wmic", "network_admin": "netsh",
             "helpdesk": "net "}
# fmt: on

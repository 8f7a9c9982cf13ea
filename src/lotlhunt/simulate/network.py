"""The simulated organisation: hosts with roles, people with habits, service accounts.

A hunt only rehearses well against a network whose normal life looks like a real one:
admins who legitimately run ntdsutil, wmic and netsh in their own hours from their own
workstations, service accounts that log on from where they run, users on VPN in the
evening. Everything here is drawn from one seeded RNG so a seed names one organisation.
What the estate has installed is in ``inventory``; what admins type, in ``habits``.
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

    @property
    def admin_account(self) -> Account:
        """The separate admin account (only administrators have one)."""
        if self.admin is None:
            raise ValueError(f"{self.name} has no admin account")
        return self.admin


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
            {
                "name": h.name,
                "fqdn": h.fqdn,
                "role": h.role,
                "ip": h.ip,
                "os": h.os,
                "sysmon": h.sysmon,
                "audit_process_creation": h.audit_process,
                "powershell_logging": h.ps_logging,
                "web_stack": h.web_stack,
                "owner": h.owner,
                "software": list(h.software),
            }
            for h in self.hosts
        ]
        people = [
            {
                "name": p.name,
                "account": p.account.qualified,
                "role": p.role,
                "admin_account": p.admin.qualified if p.admin else None,
                "workstation": p.workstation,
                "hours_local": [p.start_hour, p.end_hour],
            }
            for p in self.people
        ]
        return {
            "domain": self.domain,
            "netbios": self.netbios,
            "domain_sid": self.domain_sid,
            "timezone": self.tz_name,
            "utc_offset_hours": self.tz_offset,
            "start": self.start.isoformat().replace("+00:00", "Z"),
            "days": self.days,
            "hosts": hosts,
            "people": people,
            "vpn_pool": self.vpn_pool + "0/24",
            "service_accounts": {k: v.qualified for k, v in self.services.items()},
        }


_DOMAINS = [
    ("corp.local", "CORP"),
    ("ad.lakeshore-water.org", "LAKESHORE"),
    ("northgrid.local", "NORTHGRID"),
    ("gpws.local", "GPWS"),
    ("tricounty-energy.local", "TRICOUNTY"),
    ("harborport.local", "HARBOR"),
]
_TIMEZONES = [
    ("America/Chicago", -6),
    ("America/New_York", -5),
    ("America/Denver", -7),
    ("America/Los_Angeles", -8),
    ("Pacific/Guam", 10),
]
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
_ADMIN_HOURS = {
    "dc_admin": (7.0, 16.0),
    "server_admin": (8.5, 17.5),
    "network_admin": (10.0, 19.0),
    "helpdesk": (7.5, 16.5),
}


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
            Host(
                name,
                f"{name}.{domain}",
                role,
                ip,
                os_name,
                sysmon=name not in no_sysmon,
                audit_process=role != WS or name not in no_audit,
                ps_logging=role != WS or rng.random() < 0.6,
                machine=machine,
                guid_prefix=f"{rng.getrandbits(32):08X}",
                web_stack=web_stack if role == WEB else None,
                software=() if role == WS else ("7zip", "prtg") if role == MON else ("7zip",),
                noise_per_day=int(NOISE_PER_DAY[role] * rng.uniform(0.75, 1.3)),
            )
        )

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
    return Network(
        seed,
        domain,
        netbios,
        domain_sid,
        tz_name,
        tz_offset,
        start,
        days,
        hosts,
        people,
        services,
        f"10.{net_a}.99.",
    )

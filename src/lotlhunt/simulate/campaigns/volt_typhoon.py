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

from lotlhunt.simulate.campaigns.plan import CampaignPlan, Timeline, rand_text, summarise
from lotlhunt.simulate.campaigns.volt_typhoon_access import credentials_window, edge_window
from lotlhunt.simulate.campaigns.volt_typhoon_actor import Actor
from lotlhunt.simulate.campaigns.volt_typhoon_sheet import (
    FRP_NAMES,
    FRP_PORTS,
    FRP_SHA256,
    IFM_VARIANTS,
    MS_FRP,
    SOHO,
)
from lotlhunt.simulate.campaigns.volt_typhoon_staging import cleanup_window, staging_window
from lotlhunt.simulate.network import DC, FILE, MON, SQL, WEB, Network


def _choose(net: Network, seed: int) -> Actor:
    rng = random.Random(f"campaign:{seed}")
    web, dc, fs = net.by_role(WEB)[0], rng.choice(net.by_role(DC)), rng.choice(net.by_role(FILE))
    relay_hosts = net.by_role(MON) + net.by_role(SQL) + net.by_role(FILE)  # PRTG box first
    pp_host = relay_hosts[0] if net.by_role(MON) and rng.random() < 0.7 else rng.choice(relay_hosts)
    netadmin = net.person("network_admin") or net.admins[-1]
    word = rng.choice(["Spring", "Winter", "Pump", "Grid", "Water"])
    pw = f"{word}{rng.randrange(2019, 2026)}{rng.choice('!#$@')}"
    relays = [
        rng.choice(SOHO) + ".".join(str(rng.randrange(2, 254)) for _ in range(3)) for _ in range(3)
    ]
    frp = rng.choice(FRP_NAMES)
    bat = None
    if rng.random() < 0.3:
        bat = f"C:\\Windows\\Temp\\{rand_text(rng, 6, 'abcdefghijklmnopqrstuvwxyz')}.bat"
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
    return Actor(
        net,
        rng,
        web,
        dc,
        fs,
        pp_host,
        net.host(netadmin.workstation),
        netadmin.account.sam,
        (net.person("dc_admin") or net.admins[0]).admin_account,
        pw,
        "DESKTOP-" + rand_text(rng, 7),
        relays,
        rng.choice(FRP_PORTS),
        frp,
        FRP_SHA256.get(frp.lower(), rng.choice(MS_FRP)),
        bat,
        cred,
        rng.choice(list(IFM_VARIANTS)),
        rng.choice(["7z", "rar"] + (["makecab"] if me else [])),
        rdp_ip,
        dc_logs,
        web_logs,
        rng.choice(["wevtutil", "ps"]),
        pp,
    )


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

    W = Timeline(rng)
    W.open(window_start(0))
    shell = edge_window(a, W, end=net.at(net.days, net.tz_offset))
    W.open(window_start(1))
    credentials_window(a, W)
    W.open(window_start(2))
    staging_window(a, W, days[2])
    W.open(window_start(3))
    clears = cleanup_window(a, W)

    variants: dict[str, object] = {
        "web_stack": a.web.web_stack,
        "webshell": shell,
        "rdp_via": "frp" if a.rdp_ip == a.web.ip else "vpn",
        "frp": {
            "image": "C:\\Windows\\Temp\\" + a.frp,
            "c2": a.relays[0],
            "port": a.port,
            "launcher": a.bat or "powershell start-process",
        },
        "actor_client": a.client,
        "compromised_account": a.da.qualified,
        "credential_dump": a.cred,
        "ifm_dir": a.ifm_dir,
        "staging": a.stage,
        "domain_controller": a.dc.name,
        "file_server": a.fs.name,
        "portproxy": {
            "host": a.pp_host.name,
            "listenport": a.pp[0],
            "connect": f"{a.pp[1]}:{a.pp[2]}",
        },
        "logs_cleared": {a.dc.name: a.dc_logs, a.web.name: a.web_logs},
        "log_clear_via": a.clear_via,
        "recon_workstation": a.recon_ws.name,
    }
    return summarise(net, W, clears, variants, a.web)

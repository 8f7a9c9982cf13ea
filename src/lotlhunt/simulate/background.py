"""The network's benign life as a plan: people's days, admins' habits, schedules.

Planned activity is fixed by the seed (not scaled by ``events=``) and includes deliberate
look-alikes of the actor's commands; per-host chatter is drawn separately (``noise``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from lotlhunt.simulate.habits import HABITS, SIGNATURE
from lotlhunt.simulate.host import MIN, SEC, Op
from lotlhunt.simulate.network import DC, FILE, JUMP, MON, WEB, WS, Account, Host, Network, Person
from lotlhunt.simulate.remote import psexec_target, wmi_exec_target
from lotlhunt.simulate.routine import (
    admin_console,
    backup_job,
    clear_log,
    jump_session,
    own_console,
    psexec_client,
    rdp_client,
    remote_desktop,
    remote_logon,
    service_schedule,
    user_day,
    windows_update,
)
from lotlhunt.simulate.templates import APPLICATION, SECURITY


def _fill(template: str, net: Network, rng: random.Random) -> str:
    servers = [h for h in net.hosts if h.role != WS]
    return template.format(
        dc=rng.choice(net.by_role(DC)).name,
        domain=net.domain,
        peer=rng.choice(net.hosts).name,
        server=rng.choice(servers).name,
        ws=rng.choice(net.by_role(WS)).name,
        user=rng.choice(net.people).account.sam,
        gw=net.hosts[0].ip.rsplit(".", 2)[0] + ".0.1",
        ym=net.start.strftime("%Y%m"),
        dn=",".join("DC=" + p for p in net.domain.split(".")),
    )


def _rdp(
    ops: list[Op],
    t: int,
    admin: Person,
    src: Host,
    target: Host,
    commands: list[str],
    minutes: int,
    jump: Host | None = None,
) -> None:
    """An admin's RDP from their own PC (through the jump server if given), as Ops per host."""
    first = jump or target
    ops.append(
        Op(
            t,
            src.name,
            rdp_client,
            {"target": first.name, "target_ip": first.ip, "acct": admin.admin},
        )
    )
    if jump is not None:
        ops.append(
            Op(
                t + 3 * SEC,
                jump.name,
                jump_session,
                {
                    "acct": admin.admin,
                    "ip": src.ip,
                    "client": src.name.upper(),
                    "target": target.name,
                    "target_ip": target.ip,
                    "end": t + (minutes + 5) * MIN,
                },
            )
        )
        src, t = jump, t + 2 * MIN
    ops.append(
        Op(
            t + 3 * SEC,
            target.name,
            remote_desktop,
            {
                "acct": admin.admin,
                "ip": src.ip,
                "client": src.name.upper(),
                "commands": commands,
                "end": t + minutes * MIN,
            },
        )
    )


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
                kw = {
                    "acct": net.services["backup"],
                    "date": f"{net.start:%Y%m}{day + 2:02d}",
                    "pw": f"Bkp{seed % 97}!{net.netbios.title()}",
                }
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
        kw = {
            "person": p,
            "end": net.at(day, p.end_hour + rng.uniform(-0.3, 0.5)),
            "typo": rng.random() < 0.2,
            "lunch": net.at(day, 12.5 + rng.uniform(0, 1)),
        }
        ops.append(Op(net.at(day, p.start_hour + rng.uniform(-0.3, 0.4)), ws.name, user_day, kw))
    if rng.random() >= (p.vpn_rate if workday else p.vpn_rate / 3):
        return
    t = net.at(day, rng.uniform(19.0, 22.0))
    ip = net.vpn_pool + str(rng.randrange(10, 250))
    client = "LAPTOP-" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(7))
    end = t + rng.randrange(10, 60) * MIN
    ops.append(
        Op(
            t,
            ws.name,
            remote_desktop,
            {
                "acct": p.account,
                "ip": ip,
                "client": client,
                "commands": [],
                "end": end,
                "admin": False,
            },
        )
    )
    if p.admin is not None:
        habits = HABITS[p.role]
        tgt = rng.choice([h for h in net.hosts if h.role in habits["targets"]] or net.hosts)
        cmds = [_fill(c, net, rng) for c in rng.sample(habits["remote"], 2)]
        ops.append(
            Op(
                t + 5 * MIN,
                tgt.name,
                remote_desktop,
                {
                    "acct": p.admin,
                    "ip": ip,
                    "client": client,
                    "commands": cmds,
                    "end": t + 40 * MIN,
                },
            )
        )


def _plan_admin_day(
    net: Network, rng: random.Random, ops: list[Op], p: Person, day: int, hab: random.Random
) -> None:
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
                    kw: dict[str, Any] = {"acct": p.admin, "src_ip": ws.ip, "inner": inner}
                    ops.append(Op(t + 12 * SEC, name, wmi_exec_target, kw))
                elif name in names:
                    kw = {"acct": p.admin, "ip": ws.ip, "seconds": 5}
                    ops.append(Op(t + 12 * SEC, name, remote_logon, kw))
        if p.role == "helpdesk" and rng.random() < 0.3:  # a new hire's account (4720)
            sam = rng.choice("abcdefghjkmnprstw") + rng.choice(("ortiz", "kim", "haas", "boyd"))
            sid = f"{net.domain_sid}-{rng.randrange(2000, 3000)}"
            kw = {
                "acct": p.admin,
                "ip": ws.ip,
                "seconds": 3,
                "new_user": Account(sam, net.netbios, sid, "New hire"),
            }
            ops.append(Op(t + 20 * SEC, net.by_role(DC)[0].name, remote_logon, kw))


def _plan_lookalikes(net: Network, rng: random.Random, ops: list[Op]) -> list[dict]:
    """Benign events that match the actor's indicators, each by the admin who would do it."""
    notables: list[dict] = []
    workdays = [d for d in range(net.days) if net.is_workday(d)] or [0]
    subnet = net.hosts[0].ip.rsplit(".", 2)[0]
    query = (
        "PS Get-WinEvent -FilterHashtable "
        "@{LogName='Security';Id=4624;StartTime=(Get-Date).AddHours(-8)}"
        " | Where-Object {$_.Properties[5].Value -eq '" + net.people[-1].account.sam + "'}"
        " | Select-Object TimeCreated -First 20"
    )
    for role, chance, host, commands, what in (
        (
            "dc_admin",
            0.5,
            net.by_role(DC)[-1],
            ['ntdsutil "activate instance ntds" ifm "create sysvol full C:\\IFM" quit quit'],
            "ntdsutil IFM for a new domain controller",
        ),
        (
            "network_admin",
            0.5,
            next(iter(net.by_role(MON)), net.by_role(WEB)[0]),
            [
                "netsh interface portproxy add v4tov4 listenport=8443 listenaddress=0.0.0.0 "
                "connectport=443 "
                f"connectaddress={subnet}.0.5",
                "netsh interface portproxy show all",
            ],
            "port proxy to the management appliance",
        ),
        (
            "helpdesk",
            0.6,
            net.by_role(DC)[0],
            [query],
            "PowerShell query of 4624 logons for a locked-out user",
        ),
    ):
        person = net.person(role)
        if person is None or rng.random() >= chance:
            continue
        ws = net.host(person.workstation)
        t = net.at(rng.choice(workdays), rng.uniform(person.start_hour + 1, person.end_hour - 1.5))
        _rdp(ops, t, person, ws, host, commands, 20)
        notables.append(
            {
                "what": what,
                "host": host.name,
                "account": person.admin_account.qualified,
                "time": t,
                "until": t + 25 * MIN,
                "commands": commands,
            }
        )
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
                pool = (
                    net.by_role(DC)
                    if p.role == "dc_admin"
                    else [h for h in net.hosts if h.role in habits["targets"] and h is not ws]
                )
                target = hab.choice(pool or net.by_role(DC))
                cmd = _fill(hab.choice(habits["psexec"]), net, hab)
                t = net.at(day, hab.uniform(lo, hi))
                ops.append(
                    Op(
                        t,
                        ws.name,
                        psexec_client,
                        {"person": p, "target": target.name, "target_ip": target.ip, "cmd": cmd},
                    )
                )
                ops.append(
                    Op(
                        t + 9 * SEC + 400_000,
                        target.name,
                        psexec_target,
                        {
                            "acct": p.admin,
                            "src_ip": ws.ip,
                            "src_name": ws.name.upper(),
                            "inner": f'cmd /c "{cmd}"',
                            "tools": [cmd],
                        },
                    )
                )
            own = p.role == "network_admin"
            if (
                net.is_workday(day)
                and ws.owner == p.account.sam
                and (hab.random() < (0.6 if own else 0.2) or (own and day == workdays[0]))
            ):
                picked = hab.sample(habits["own"], hab.randint(1, len(habits["own"])))
                if own:  # their own PuTTY sessions, which the actor's recon also reads
                    picked = [habits["own"][0]] + [c for c in picked if c != habits["own"][0]]
                cmds = [_fill(c, net, hab) for c in picked]
                t = net.at(day, hab.uniform(lo, hi))
                ops.append(Op(t, ws.name, own_console, {"commands": cmds}))
                if own:
                    notables.append(
                        {
                            "what": "network admin lists their own PuTTY sessions",
                            "host": ws.name,
                            "account": p.account.qualified,
                            "time": t,
                            "until": t + 10 * MIN,
                            "commands": cmds,
                        }
                    )
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
                ops.append(
                    Op(
                        t,
                        target.name,
                        remote_desktop,
                        {
                            "acct": p.admin,
                            "ip": ip,
                            "client": client,
                            "commands": cmds,
                            "end": t + hab.randrange(15, 70) * MIN,
                        },
                    )
                )


def _plan_services(net: Network, hab: random.Random, ops: list[Op]) -> None:
    """Service accounts keep steady habits: the web app binds to each DC every 15 minutes."""
    web = net.by_role(WEB)[0]
    for day in range(net.days):
        for dc in net.by_role(DC):
            t0 = net.at(day, net.tz_offset) + hab.randrange(0, 15 * 60) * SEC  # UTC midnight
            ops.append(
                Op(
                    t0,
                    dc.name,
                    service_schedule,
                    {
                        "acct": net.services["web"],
                        "ip": web.ip,
                        "every": 15,
                        "until": net.at(day + 1, net.tz_offset),
                    },
                )
            )


def _plan_clears(
    net: Network, hab: random.Random, ops: list[Op], notables: list[dict]
) -> dict[str, dict[int, int]]:
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
    plan = [
        (
            APPLICATION,
            "Application",
            admin,
            hab.choice(servers),
            "cleared a noisy Application log after fixing the failing service",
        )
        for _ in range(1 + (net.days - 1) // 4)
    ]
    if plain and (net.days >= 2 or hab.random() < 0.5):
        plan.append(
            (
                SECURITY,
                "Security",
                helpdesk,
                hab.choice(plain),
                "cleared a full Security log on a user's PC",
            )
        )
    for ch, name, person, host, what in plan:
        ws = net.host(person.workstation)
        if host is ws:
            continue
        day = hab.choice(workdays)
        t = net.at(day, hab.uniform(person.start_hour + 0.5, person.end_hour - 1.0))
        clear_at = t + hab.randrange(2, 10) * MIN
        ops.append(
            Op(
                t,
                ws.name,
                rdp_client,
                {"target": host.name, "target_ip": host.ip, "acct": person.admin},
            )
        )
        ops.append(
            Op(
                t + 3 * SEC,
                host.name,
                clear_log,
                {
                    "acct": person.admin,
                    "ip": ws.ip,
                    "client": ws.name.upper(),
                    "channel": name,
                    "clear_at": clear_at,
                },
            )
        )
        clears.setdefault(host.name, {})[ch] = max(clear_at, clears.get(host.name, {}).get(ch, 0))
        notables.append(
            {
                "what": what,
                "host": host.name,
                "account": person.admin_account.qualified,
                "time": t,
                "until": clear_at + 10 * MIN,
                "channel": name,
                "cleared": clear_at,
            }
        )
    return clears

"""The administrators' and service accounts' steady habits in the background plan:
PsExec and wmic against servers, their own consoles, night work from VPN, the web
application binding to every DC. Drawn from their own random stream, so adding a habit
leaves the rest of the seed's day as it was."""

from __future__ import annotations

import random

from lotlhunt.simulate.background_ops import fill_command, vpn_client
from lotlhunt.simulate.habits import HABITS
from lotlhunt.simulate.host import MIN, SEC, Op
from lotlhunt.simulate.network import DC, WEB, Network
from lotlhunt.simulate.remote import psexec_target
from lotlhunt.simulate.routine import own_console, psexec_client, remote_desktop, service_schedule


def plan_habits(net: Network, hab: random.Random, ops: list[Op], notables: list[dict]) -> None:
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
                cmd = fill_command(hab.choice(habits["psexec"]), net, hab)
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
                cmds = [fill_command(c, net, hab) for c in picked]
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
                ip, client = vpn_client(hab, net)
                pool = [h for h in net.hosts if h.role in habits["targets"]] or net.hosts
                target = hab.choice(pool)
                t = net.at(day, hab.uniform(22.5, 26.0))
                if t + 75 * MIN > net.at(net.days, net.tz_offset):  # past the collection
                    t = net.at(day, hab.uniform(0.5, 4.0))
                cmds = [
                    fill_command(c, net, hab)
                    for c in hab.sample(habits["remote"], hab.randint(1, 3))
                ]
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


def plan_services(net: Network, hab: random.Random, ops: list[Op]) -> None:
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

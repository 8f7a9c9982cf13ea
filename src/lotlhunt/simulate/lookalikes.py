"""Benign events that look like the actor's, planned on purpose and listed in
scenario.json: an admin's own IFM, a real port proxy, a helpdesk query of 4624s, logs
cleared in Event Viewer. A hunt that flags them is flagging the administrators; the
list lets it tell a true false positive from a miss."""

from __future__ import annotations

import random

from lotlhunt.simulate.background_ops import admin_rdp
from lotlhunt.simulate.host import MIN, SEC, Op
from lotlhunt.simulate.network import DC, MON, WEB, WS, Network
from lotlhunt.simulate.routine import clear_log, rdp_client
from lotlhunt.simulate.templates import APPLICATION, SECURITY


def plan_lookalikes(net: Network, rng: random.Random, ops: list[Op]) -> list[dict]:
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
        admin_rdp(ops, t, person, ws, host, commands, 20)
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


def plan_clears(
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

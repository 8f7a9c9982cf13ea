"""The network's benign life as a plan: people's days, admins' habits, schedules.

Planned activity is fixed by the seed (not scaled by ``events=``) and includes deliberate
look-alikes of the actor's commands; per-host chatter is drawn separately (``noise``).
People's days are planned here; the administrators' steady habits in
:mod:`~lotlhunt.simulate.background_habits`, the look-alikes and benign log clears in
:mod:`~lotlhunt.simulate.lookalikes`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from lotlhunt.simulate.background_habits import plan_habits, plan_services
from lotlhunt.simulate.background_ops import admin_rdp, fill_command
from lotlhunt.simulate.habits import HABITS, SIGNATURE
from lotlhunt.simulate.host import MIN, SEC, Op
from lotlhunt.simulate.lookalikes import plan_clears, plan_lookalikes
from lotlhunt.simulate.network import DC, FILE, JUMP, WS, Account, Network, Person
from lotlhunt.simulate.remote import wmi_exec_target
from lotlhunt.simulate.routine import (
    admin_console,
    backup_job,
    remote_desktop,
    remote_logon,
    user_day,
    windows_update,
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
    lookalikes = plan_lookalikes(net, rng, ops)
    plan_habits(net, hab, ops, lookalikes)
    plan_services(net, hab, ops)
    clears = plan_clears(net, hab, ops, lookalikes)
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
        cmds = [fill_command(c, net, rng) for c in rng.sample(habits["remote"], 2)]
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
            cmds = [fill_command(c, net, rng) for c in picked]
            target = rng.choice(targets)
            if p.role != "dc_admin" and hab.random() < 0.08:
                target = hab.choice(net.by_role(DC))
            jump = jumps[0] if jumps and target is not ws and hab.random() < 0.35 else None
            admin_rdp(ops, t, p, ws, target, cmds, rng.randrange(8, 50), jump)
            continue
        local = habits["local"]
        cmds = [fill_command(c, net, rng) for c in rng.sample(local, rng.randint(1, len(local)))]
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

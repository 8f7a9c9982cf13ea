"""Pieces the background plans share: a habit's command filled in for this network, an
administrator's RDP session as Ops per host, a VPN client."""

from __future__ import annotations

import random

from lotlhunt.simulate.host import MIN, SEC, Op
from lotlhunt.simulate.network import DC, WS, Host, Network, Person
from lotlhunt.simulate.routine import jump_session, rdp_client, remote_desktop


def fill_command(template: str, net: Network, rng: random.Random) -> str:
    """A habit's command with its ``{dc}``, ``{peer}``, ``{user}``... filled in from the
    network."""
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


def admin_rdp(
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


def vpn_client(rng: random.Random, net: Network) -> tuple[str, str]:
    """A VPN pool address and the laptop name that connects from it."""
    ip = net.vpn_pool + str(rng.randrange(10, 250))
    return ip, "LAPTOP-" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(7))

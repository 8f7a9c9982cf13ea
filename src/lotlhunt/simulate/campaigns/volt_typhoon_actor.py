"""What the Volt Typhoon campaign chose for a seed (:class:`Actor`), and the few moves
every hands-on-keyboard window repeats: RDP in to the domain controller, remote WMIC with
the stolen credentials."""

from __future__ import annotations

import random
from dataclasses import dataclass

from lotlhunt.simulate.actions import a_net, a_rdp_open
from lotlhunt.simulate.campaigns.plan import Timeline
from lotlhunt.simulate.campaigns.volt_typhoon_sheet import IFM_DIRS
from lotlhunt.simulate.network import Account, Host, Network


@dataclass
class Actor:
    """The seed's choices: hosts, accounts, infrastructure and tradecraft variants."""

    net: Network
    rng: random.Random
    web: Host
    dc: Host
    fs: Host
    pp_host: Host
    recon_ws: Host
    recon_user: str
    da: Account
    pw: str
    client: str
    relays: list[str]
    port: int
    frp: str
    sha: str
    bat: str | None
    cred: list[str]
    ifm_key: str
    stage: str
    rdp_ip: str
    dc_logs: list[str]
    web_logs: list[str]
    clear_via: str
    pp: tuple[int, str, int]

    @property
    def me(self) -> bool:
        return self.web.web_stack == "manageengine"

    @property
    def ifm_dir(self) -> str:
        return IFM_DIRS[self.ifm_key]


def rdp_in(a: Actor, W: Timeline) -> None:
    """The actor's RDP logon to the chosen domain controller (through the tunnel when
    the edge server relays it)."""
    t = W.step()
    if a.rdp_ip == a.web.ip:  # RDP through the FRP tunnel arrives from the edge server
        W.add(a.web, t - 300_000, "lateral_rdp", "T1021.001", a_net, dst=a.dc.ip, port=3389)
    W.add(a.dc, t, "lateral_rdp", "T1021.001", a_rdp_open, acct=a.da, ip=a.rdp_ip, client=a.client)


def wmic_creds(a: Actor, target: Host) -> str:
    """``wmic /node:`` with the stolen domain admin's user name and password."""
    return f"wmic /node:{target.name} /user:{a.net.netbios}\\{a.da.sam} /password:{a.pw}"


def wmic_node(a: Actor, target: Host, inner: str) -> str:
    """A remote ``wmic process call create`` of ``inner`` on ``target``."""
    return f'{wmic_creds(a, target)} process call create "{inner}"'

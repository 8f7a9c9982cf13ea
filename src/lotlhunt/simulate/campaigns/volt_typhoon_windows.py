"""Volt Typhoon's four hands-on-keyboard windows: the edge server, credentials, staging
and lateral movement, cleanup. Each adds the actor's actions per host to the timeline,
step and ATT&CK technique labelled, from the choices in :class:`Actor`."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from lotlhunt.simulate.actions import (
    a_clear,
    a_cmd,
    a_compile,
    a_file,
    a_frp,
    a_net,
    a_pcwrun,
    a_ps,
    a_psexec_src,
    a_psexec_target,
    a_rdp_close,
    a_rdp_open,
    a_relay,
    a_remote_target,
    a_shell,
    a_smb,
    a_smb_browse,
    a_vss_copy,
    a_wmic_chain,
    a_wmic_remote_src,
    a_wmiexec,
)
from lotlhunt.simulate.campaigns.plan import Timeline, rand_text
from lotlhunt.simulate.campaigns.volt_typhoon_sheet import (
    CRED_RECON,
    DC_DISCOVERY,
    EDGE_DISCOVERY,
    FRP_PORTS,
    IFM_DIRS,
    IFM_VARIANTS,
    MS_FRP,
)
from lotlhunt.simulate.host import MIN, SEC
from lotlhunt.simulate.inventory import TOOLS
from lotlhunt.simulate.network import Account, Host, Network
from lotlhunt.simulate.noise import ME_HOME
from lotlhunt.simulate.remote import wmic_inner
from lotlhunt.simulate.templates import SECURITY, SYSTEM_LOG, WINDOWS_POWERSHELL


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


def edge_window(a: Actor, W: Timeline, end: int) -> str:
    """Window 0: exploit the edge server, web shell, discovery, FRP (rows 1, 4, 9, 18-22, 34)."""
    rng, web = a.rng, a.web
    if a.me:
        W.now(
            web,
            "initial_access",
            "T1190",
            a_file,
            paths=[ME_HOME + "\\webapps\\adssp\\html\\error.jsp"],
        )
        rel = rng.choice(["html\\promotion\\selfsdp", "AuditReport"])
        jsp = f"{ME_HOME}\\work\\Catalina\\localhost\\ROOT\\org\\apache\\jsp\\{rel}_jspx"
        paths = [f"{ME_HOME}\\webapps\\adssp\\{rel}.jspx", jsp + ".java", jsp + ".class"]
        if rng.random() < 0.35:  # the backdoored Tomcat library variant (S8)
            paths += ["C:\\users\\public\\tomcat-websocket.jar", "C:\\users\\public\\tmp.log"]
        W.now(web, "webshell", "T1505.003", a_file, 5, 40, paths=paths)
    else:
        # The exploited IIS application leaves the exploit itself in web logs only (row 1);
        # what the host logs is w3wp writing the shell (S5's iisstart.aspx), then compiling it.
        paths = ["C:\\inetpub\\wwwroot\\iisstart.aspx"]
        W.now(web, "webshell", "T1505.003", a_file, paths=paths)
        W.now(web, "webshell", "T1505.003", a_compile, 2, 10)
    for cmd, tech in rng.sample(EDGE_DISCOVERY, rng.randint(9, 15)):
        W.now(web, "discovery_edge", tech, a_shell, 8, 75, cmd=cmd.format(dc_ip=a.dc.ip))
    W.now(
        web,
        "discovery_edge",
        "T1082",
        a_shell,
        cmd="systeminfo > C:\\Users\\Public\\Documents\\systeminfo.dat",
    )
    t = W.step()
    beacons, b = [], t + rng.randrange(2, 6) * 3600 * SEC
    while b < end:
        beacons.append(b)
        b += rng.randrange(3, 9) * 3600 * SEC
    W.add(
        web,
        t,
        "proxy_frp",
        "T1090",
        a_frp,
        image="C:\\Windows\\Temp\\" + a.frp,
        c2=a.relays[0],
        port=a.port,
        bat=a.bat,
        beacons=beacons,
        sha=a.sha,
    )
    return paths[0]


def _rdp_in(a: Actor, W: Timeline) -> None:
    t = W.step()
    if a.rdp_ip == a.web.ip:  # RDP through the FRP tunnel arrives from the edge server
        W.add(a.web, t - 300_000, "lateral_rdp", "T1021.001", a_net, dst=a.dc.ip, port=3389)
    W.add(a.dc, t, "lateral_rdp", "T1021.001", a_rdp_open, acct=a.da, ip=a.rdp_ip, client=a.client)


def _wmic_creds(a: Actor, target: Host) -> str:
    return f"wmic /node:{target.name} /user:{a.net.netbios}\\{a.da.sam} /password:{a.pw}"


def _wmic_node(a: Actor, target: Host, inner: str) -> str:
    return f'{_wmic_creds(a, target)} process call create "{inner}"'


def credentials_window(a: Actor, W: Timeline) -> None:
    """Window 1: RDP to a DC, discovery, Security-log recon, ntds.dit, hives (rows 6-26)."""
    rng, dc, web, net = a.rng, a.dc, a.web, a.net
    if rng.random() < 0.6:  # S8: remote wmic discovery with stolen credentials, output to %TEMP%
        home = f"C:\\Users\\{a.da.sam}\\AppData\\Local\\"
        for inner, tech in (
            (f"cmd /c nltest /DOMAIN_TRUSTS >>{home}{rand_text(rng, 5)}.tmp", "T1482"),
            (f"cmd /c Dnscmd . /EnumZones >>{home}Temp\\{rand_text(rng, 5)}.tmp", "T1018"),
        ):
            t = W.now(
                web,
                "discovery_remote_wmic",
                "T1047",
                a_wmic_remote_src,
                via="web",
                cmd=_wmic_node(a, dc, inner),
                target=dc.name,
                target_ip=dc.ip,
                acct=a.da,
            )
            W.add(
                dc,
                t + 1_500_000,
                "discovery_remote_wmic",
                tech,
                a_remote_target,
                acct=a.da,
                src_ip=web.ip,
                inner=inner,
            )
    _rdp_in(a, W)
    for cmd, tech in rng.sample(DC_DISCOVERY, rng.randint(5, 8)):
        W.now(dc, "discovery_dc", tech, a_cmd, 15, 90, cmd=cmd.format(domain=net.domain))
    since = net.start.date().isoformat()
    if rng.random() < 0.65:
        out = "C:\\users\\public\\documents\\user.dat"
        W.now(
            dc,
            "security_log_recon",
            "T1654",
            a_ps,
            out_file=out,
            text=f"Get-EventLog security -instanceid 4624 -after {since} | fl * | Out-File '{out}'",
        )
    else:
        W.now(
            dc,
            "security_log_recon",
            "T1654",
            a_cmd,
            cmd="wevtutil qe security /rd:true /f:text /q:*[System[(EventID=4624) and TimeCreated"
            f"[@SystemTime>='{since}T00:00:00']] and EventData[Data='{a.da.sam}']]",
        )
    if rng.random() < 0.3:
        W.now(
            dc,
            "proxy_frp",
            "T1218",
            a_pcwrun,
            c2=a.relays[2],
            port=rng.choice(FRP_PORTS),
            sha=rng.choice(MS_FRP),
        )
    for variant in a.cred:
        if variant == "wmic_local":
            cmd = IFM_VARIANTS[a.ifm_key]
            cmd = '"cmd.exe" /c ' + cmd if a.ifm_key == "McAfee_Logs" else cmd
            W.now(dc, "credential_dump_ntds", "T1003.003", a_wmic_chain, console_cmd=cmd)
        elif variant == "wmic_remote":
            wm = IFM_VARIANTS[a.ifm_key].replace("wmic ", _wmic_creds(a, dc) + " ", 1)
            t = W.now(
                web,
                "credential_dump_ntds",
                "T1047",
                a_wmic_remote_src,
                cmd=wm,
                target=dc.name,
                target_ip=dc.ip,
                acct=a.da,
                via="web",
            )
            W.add(
                dc,
                t + 1_200_000,
                "credential_dump_ntds",
                "T1003.003",
                a_remote_target,
                acct=a.da,
                src_ip=web.ip,
                inner=wmic_inner(wm),
            )
        elif variant == "wmiexec":
            epoch = f"{W.t // SEC}.{rng.randrange(10**6):06d}"
            t = W.now(web, "credential_dump_ntds", "T1047", a_net, dst=dc.ip, port=135)
            ifm = IFM_VARIANTS["tmp" if a.ifm_key == "McAfee_Logs" else a.ifm_key]
            W.add(
                dc,
                t + 200_000,
                "credential_dump_ntds",
                "T1003.003",
                a_wmiexec,
                acct=a.da,
                src_ip=web.ip,
                epoch=epoch,
                commands=["cd \\", 'net group "domain admins" /dom', ifm],
            )
            W.step(120, 300)
        else:  # vssadmin, copy out of the shadow, then ntdsutil against it (AA24-038A)
            tmp = rand_text(rng, 8, "abcdef0123456789")
            W.now(
                dc,
                "credential_dump_ntds",
                "T1006",
                a_cmd,
                inner=["vssadmin create shadow /for=C:"],
                cmd=f"cmd /c vssadmin create shadow /for=C: > C:\\Windows\\Temp\\{tmp}.tmp",
            )
            W.now(dc, "credential_dump_ntds", "T1003.003", a_vss_copy, 20, 60, tmp=tmp)
            W.now(
                dc,
                "credential_dump_ntds",
                "T1003.003",
                a_wmic_chain,
                60,
                120,
                console_cmd='wmic process call create "ntdsutil \\"ac i ntds\\" ifm '
                '\\"create full C:\\Windows\\Temp\\"',
            )
        W.step(30, 90)
    hives = ["reg save hklm\\sam ss.dat", "reg save hklm\\system sy.dat"]
    if rng.random() < 0.5:
        hives.append("reg save hklm\\security se.dat")  # SECURITY: asked for, not in the sheet
    for h in hives:
        W.now(dc, "credential_dump_hives", "T1003.002", a_cmd, 10, 40, cmd=h)
    W.now(dc, "lateral_rdp", "T1021.001", a_rdp_close, 30, 120)


def staging_window(a: Actor, W: Timeline, stamp_day: int) -> None:
    """Window 2: archive, SMB pull, port proxy, share discovery, credential recon (rows 15-33)."""
    rng, dc, web, fs, net = a.rng, a.dc, a.web, a.fs, a.net
    ifm_dir = IFM_DIRS["tmp"] if a.cred == ["wmiexec"] and a.ifm_key == "McAfee_Logs" else a.ifm_dir
    _rdp_in(a, W)
    apw = rand_text(rng, 10, "abcdefghijkmnpqrstuvwxyz23456789")
    temp = "c:\\windows\\temp"
    src = temp + "\\*" if ifm_dir.lower().startswith(temp) else ifm_dir + "\\*"
    if rng.random() < 0.4:
        W.now(
            dc,
            "staging_archive",
            "T1036.008",
            a_cmd,
            files=[ifm_dir + "\\ntds.dit.gif"],
            cmd=f'cmd /c copy "{ifm_dir}\\Active Directory\\ntds.dit" {ifm_dir}\\ntds.dit.gif',
        )
    pulled = ""
    if a.stage == "7z":
        archive = f"{temp}\\{rand_text(rng, 6, 'abcdefghijklmnopqrstuvwxyz')}.7z"
        W.now(
            dc,
            "staging_archive",
            "T1560.001",
            a_cmd,
            cmd=f'"{TOOLS["7z"]}" a -p{apw} -v100m {archive} {src}',
        )
        pulled = archive.split(":\\", 1)[1] + ".001"
    elif a.stage == "rar":
        W.now(
            dc,
            "staging_archive",
            "T1560.001",
            a_cmd,
            pe_as="rar.exe",
            cmd=f"C:\\Windows\\Temp\\ronf.exe a -hp{apw} c:\\Windows\\temp\\DMBC2C61.tmp {src}",
        )
        pulled = "Windows\\temp\\DMBC2C61.tmp"
    if pulled:
        t = W.now(web, "exfiltration_smb", "T1048", a_net, dst=dc.ip, port=445)
        W.add(
            dc,
            t + 300_000,
            "exfiltration_smb",
            "T1048",
            a_smb,
            acct=a.da,
            src_ip=web.ip,
            share="C$",
            local="\\??\\C:\\",
            files=[pulled],
        )
    listen, to, port = a.pp
    add = "cmd.exe /c netsh interface portproxy add v4tov4"
    inner = (
        f"{add} listenaddress=0.0.0.0 listenport={listen} connectaddress={to} "
        f"connectport={port} protocol=tcp"
        if listen == 9999
        else f"{add} listenport={listen} listenaddress=0.0.0.0 connectport={port} "
        f"connectaddress={to}"
    )
    pp = a.pp_host
    t = W.now(
        dc,
        "proxy_portproxy",
        "T1047",
        a_wmic_remote_src,
        cmd=_wmic_node(a, pp, inner),
        target=pp.name,
        target_ip=pp.ip,
        acct=a.da,
        via="console",
    )
    W.add(
        pp,
        t + SEC,
        "proxy_portproxy",
        "T1090.001",
        a_remote_target,
        acct=a.da,
        src_ip=dc.ip,
        inner=inner,
    )
    W.add(
        pp,
        t + 5 * MIN,
        "proxy_portproxy",
        "T1090.001",
        a_relay,
        dst=to,
        port=port,
        count=rng.randint(3, 8),
    )
    user = rng.choice(net.people).account.sam
    t = W.now(
        dc,
        "discovery_remote_share",
        "T1083",
        a_cmd,
        cmd=f"cmd.exe /C dir /S \\\\{fs.name}\\c$\\Users\\{user} >> "
        f"{temp}\\{rand_text(rng, 5)}.tmp",
    )
    files = [f"Users\\{user}" + s for s in ("", "\\Documents", "\\Desktop", "\\Downloads")]
    W.add(
        fs,
        t + 200_000,
        "discovery_remote_share",
        "T1135",
        a_smb_browse,
        acct=a.da,
        src_ip=dc.ip,
        share="C$",
        local="\\??\\C:\\",
        files=files,
    )
    t = W.now(
        dc,
        "lateral_smb",
        "T1021.002",
        a_cmd,
        cmd=f"net use \\\\{fs.name}\\admin$ {a.pw} /u:{net.netbios}\\{a.da.sam}",
    )
    W.add(
        fs,
        t + 300_000,
        "lateral_smb",
        "T1021.002",
        a_smb_browse,
        acct=a.da,
        src_ip=dc.ip,
        share="ADMIN$",
        local="\\??\\C:\\Windows",
        files=[],
    )
    if a.stage == "makecab":  # hive moved into the ADSelfService web root as a .lic (row 29)
        stamp = (net.start + timedelta(days=stamp_day)).strftime("%y%m%d") + "-020000"
        moved = f"{ifm_dir[3:]}\\registry\\SYSTEM"
        W.now(
            web,
            "staging_archive",
            "T1074.001",
            a_shell,
            cmd=f'move "\\\\{dc.name}\\c$\\{moved}" ..\\backup\\{stamp}.zip',
        )
        W.add(
            dc,
            W.t + 300_000,
            "staging_archive",
            "T1074.001",
            a_smb,
            acct=a.da,
            src_ip=web.ip,
            share="C$",
            local="\\??\\C:\\",
            files=[moved],
        )
        W.now(
            web,
            "staging_archive",
            "T1560.001",
            a_shell,
            cmd=f"makecab ..\\backup\\{stamp}.zip ..\\webapps\\adssp\\html\\Lock.lic",
        )
    if a.recon_ws is not web and a.recon_ws is not dc:
        epoch = f"{W.t // SEC}.{rng.randrange(10**6):06d}"
        t = W.now(web, "credential_recon_third_party", "T1047", a_net, dst=a.recon_ws.ip, port=135)
        cmds = [c.format(u=a.recon_user) for c in rng.sample(CRED_RECON, rng.randint(4, 8))]
        W.add(
            a.recon_ws,
            t + 200_000,
            "credential_recon_third_party",
            "T1552",
            a_wmiexec,
            acct=a.da,
            src_ip=web.ip,
            commands=cmds,
            epoch=epoch,
        )
        W.step(120, 400)
    W.now(dc, "lateral_rdp", "T1021.001", a_rdp_close, 30, 120)


def cleanup_window(a: Actor, W: Timeline) -> dict[str, dict[int, int]]:
    """Window 3: delete the proxy over PsExec, remove files, clear logs (rows 27, 31)."""
    dc, pp = a.dc, a.pp_host
    _rdp_in(a, W)
    delete = f"netsh interface portproxy delete v4tov4 listenaddress=0.0.0.0 listenport={a.pp[0]}"
    t = W.now(
        dc,
        "proxy_portproxy_delete",
        "T1569.002",
        a_psexec_src,
        target_ip=pp.ip,
        cmd=f'"C:\\pstools\\psexec.exe" \\\\{pp.name} -s cmd /c "cmd.exe /c "{delete}""',
    )
    W.add(
        pp,
        t + 800_000,
        "proxy_portproxy_delete",
        "T1070",
        a_psexec_target,
        acct=a.da,
        src_ip=dc.ip,
        src_name=dc.name.upper(),
        inner=f'cmd /c "cmd.exe /c "{delete}""',
        tools=[f'cmd.exe /c "{delete}"', delete],
    )
    W.now(dc, "cleanup", "T1070.004", a_cmd, cmd=f"cmd /c rd /S /Q {a.ifm_dir}")
    W.now(
        a.web,
        "cleanup",
        "T1070.004",
        a_shell,
        cmd="del C:\\Users\\Public\\Documents\\systeminfo.dat",
    )
    clears: dict[str, dict[int, int]] = defaultdict(dict)
    chan = {"Security": SECURITY, "System": SYSTEM_LOG, "Windows PowerShell": WINDOWS_POWERSHELL}
    for host, logs in ((dc, a.dc_logs), (a.web, a.web_logs)):
        plan = []
        for name in logs:
            plan.append((name, W.step(20, 60)))
            clears[host.name][chan[name]] = plan[-1][1]
        if plan:
            via = "ps" if a.clear_via == "ps" and host is dc else "wevtutil"
            W.add(
                host, plan[0][1] - 5 * SEC, "log_clearing", "T1070.001", a_clear, logs=plan, via=via
            )
    W.now(dc, "lateral_rdp", "T1021.001", a_rdp_close, 20, 60)
    return {h: dict(c) for h, c in clears.items()}

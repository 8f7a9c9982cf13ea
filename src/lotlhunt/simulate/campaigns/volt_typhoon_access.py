"""Volt Typhoon's first two hands-on-keyboard windows: the edge server (exploit, web
shell, discovery, FRP proxy), then credentials (RDP to a DC, Security-log recon, ntds.dit
and hives). Each adds the actor's actions per host to the timeline, step and ATT&CK
technique labelled, from the choices in :class:`Actor`."""

from __future__ import annotations

from lotlhunt.simulate.actions import (
    a_cmd,
    a_compile,
    a_file,
    a_frp,
    a_net,
    a_pcwrun,
    a_ps,
    a_rdp_close,
    a_remote_target,
    a_shell,
    a_vss_copy,
    a_wmic_chain,
    a_wmic_remote_src,
    a_wmiexec,
)
from lotlhunt.simulate.campaigns.plan import Timeline, rand_text
from lotlhunt.simulate.campaigns.volt_typhoon_actor import Actor, rdp_in, wmic_creds, wmic_node
from lotlhunt.simulate.campaigns.volt_typhoon_sheet import (
    DC_DISCOVERY,
    EDGE_DISCOVERY,
    FRP_PORTS,
    IFM_VARIANTS,
    MS_FRP,
)
from lotlhunt.simulate.host import SEC
from lotlhunt.simulate.noise import ME_HOME
from lotlhunt.simulate.remote import wmic_inner


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
                cmd=wmic_node(a, dc, inner),
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
    rdp_in(a, W)
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
            wm = IFM_VARIANTS[a.ifm_key].replace("wmic ", wmic_creds(a, dc) + " ", 1)
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

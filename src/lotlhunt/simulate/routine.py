"""People's planned activities on one host: a day at the desk, RDP sessions, admin consoles,
PsExec, a log cleared in Event Viewer, the nightly backup, patch night, service schedules.

Each is ``fn(state, ts, **kw)`` for an :class:`~lotlhunt.simulate.host.Op`; one activity
that spans hosts (RDP, PsExec) is planned as one Op per host with shared parameters.
"""

from __future__ import annotations

from lotlhunt.simulate.effects import run_and_effect, vss_snapshot
from lotlhunt.simulate.host import MIN, SEC
from lotlhunt.simulate.inventory import SYS32, TOOLS
from lotlhunt.simulate.network import DC, SYSTEM, Account, Person
from lotlhunt.simulate.noise import DBS, OUTLOOK
from lotlhunt.simulate.sessions import (
    Session,
    close_session,
    console,
    open_session,
    run_commands,
)
from lotlhunt.simulate.state import HostState


def user_day(st: HostState, ts: int, person: Person, end: int, lunch: int, typo: bool) -> None:
    """A workday at the desk: console logon, explorer and startup apps, lunch lock, logoff."""
    ws = st.host.name.upper()
    if typo:
        st.logon_failed(ts - 9 * SEC, person.account, 2, "127.0.0.1", ws)
    sess = open_session(st, ts, person.account, 2, "127.0.0.1", ws, admin=False)
    st.desktop = sess.explorer
    teams = (
        f"C:\\Users\\{person.account.sam}\\AppData\\Local\\Microsoft\\Teams\\current\\ms-teams.exe"
    )
    for i, (image, cmd) in enumerate((OUTLOOK, (teams, "ms-teams.exe --system-initiated"))):
        st.spawn(ts + (20 + 7 * i) * SEC, sess.explorer, image, cmd)
    unlock = st.logon(lunch, person.account, 7, "127.0.0.1", ws)
    st.logoff(lunch + 2 * SEC, unlock, 7)
    close_session(st, end, sess)


def remote_desktop(
    st: HostState,
    ts: int,
    acct: Account,
    ip: str,
    client: str,
    commands: list[str],
    end: int,
    admin: bool = True,
) -> None:
    """The target side of an RDP session: logon type 10, console commands, logoff.

    One session in four is left disconnected for a while (4779) and picked up again
    (1149, 4778), as people do when they step away.
    """
    sess = open_session(st, ts, acct, 10, ip, client, admin=admin)
    t = run_commands(st, ts + st.ri(15, 60) * SEC, sess, commands, elevated=admin)
    end = max(end, t + 30 * SEC)
    if st.rand() < 0.25 and end - t > 4 * MIN:
        away = t + (end - t) // 3
        back = away + st.ri(2, 30) * MIN
        st.rdp_session(away, sess.logon, client, ip, reconnect=False)
        st.rdp_authenticated(back - st.ri(400_000, 1_500_000), acct, ip)
        st.rdp_session(back, sess.logon, client, ip, reconnect=True)
        end = max(end, back + st.ri(2, 10) * MIN)
    close_session(st, end, sess)


PSEXEC = "C:\\Tools\\Sysinternals\\PsExec.exe"


def psexec_client(
    st: HostState, ts: int, person: Person, target: str, target_ip: str, cmd: str
) -> None:
    """An admin's PsExec from their own PC: an elevated console as the admin account."""
    sess = runas_session(st, ts, person)
    shell = console(st, ts + 6 * SEC, sess)
    p = st.run(ts + 9 * SEC, shell, f'"{PSEXEC}" \\\\{target} -accepteula -s cmd /c "{cmd}"')
    st.conn(ts + 9 * SEC + 300_000, p, target_ip, 445, dst_host=target)
    st.logoff(ts + st.ri(3, 15) * MIN, sess.logon, 2)


def jump_session(
    st: HostState,
    ts: int,
    acct: Account,
    ip: str,
    client: str,
    target: str,
    target_ip: str,
    end: int,
) -> None:
    """An admin on the jump server: RDP in, mstsc onwards to a server, RDP out later."""
    sess = open_session(st, ts, acct, 10, ip, client, admin=True)
    t = ts + st.ri(20, 90) * SEC
    p = st.spawn(t, sess.explorer, TOOLS["mstsc"], f'"{TOOLS["mstsc"]}" /v:{target}')
    st.explicit_creds(t + 2 * SEC, sess.logon, acct, target, target_ip, p, "3389")
    st.conn(t + 2 * SEC, p, target_ip, 3389, dst_host=target)
    close_session(st, end, sess)


def own_console(st: HostState, ts: int, commands: list[str]) -> None:
    """The owner at their own desk, in a plain (not elevated) console as themselves."""
    if st.desktop is None:
        return
    sess = Session(st.desktop.logon, st.desktop, 2)
    run_commands(st, ts, sess, commands, gap=(5, 60), elevated=False)


def clear_log(
    st: HostState, ts: int, acct: Account, ip: str, client: str, channel: str, clear_at: int
) -> None:
    """An admin clears a log in Event Viewer over RDP (a full log, a noisy app): 1102 or 104."""
    sess = open_session(st, ts, acct, 10, ip, client, admin=True)
    st.spawn(
        clear_at - st.ri(30, 120) * SEC,
        sess.explorer,
        SYS32 + "mmc.exe",
        '"C:\\Windows\\system32\\mmc.exe" "C:\\Windows\\system32\\eventvwr.msc" /s',
    )
    if channel == "Security":
        st.audit_cleared(clear_at, sess.logon)
    else:
        st.log_cleared(clear_at, sess.logon, channel)
    close_session(st, clear_at + st.ri(60, 400) * SEC, sess)


def service_schedule(
    st: HostState, ts: int, acct: Account, ip: str, every: int, until: int
) -> None:
    """A service account's steady habit: a network logon from one client every few minutes."""
    t = ts
    while t < until:
        lg = st.logon(t, acct, 3, ip=ip)
        st.logoff(t + st.ri(1, 8) * SEC, lg, 3)
        t += every * MIN + st.ri(-20, 20) * SEC


def rdp_client(st: HostState, ts: int, target: str, target_ip: str, acct: Account) -> None:
    """The source side: mstsc from the person's desktop, explicit credentials (4648)."""
    parent = st.desktop or st.services
    p = st.spawn(ts, parent, TOOLS["mstsc"], f'"C:\\Windows\\system32\\mstsc.exe" /v:{target}')
    st.explicit_creds(ts + 2 * SEC, parent.logon, acct, target, target_ip, p, "3389")
    st.conn(ts + 2 * SEC, p, target_ip, 3389, dst_host=target)


def runas_session(st: HostState, ts: int, person: Person) -> Session:
    """An admin's own PC: ``runas`` to the admin account, a console session as that account."""
    parent = st.desktop or st.services
    admin = person.admin or person.account
    runas = st.spawn(ts, parent, TOOLS["runas"], f"runas /user:{admin.qualified} cmd")
    st.explicit_creds(ts + 4 * SEC, parent.logon, admin, "localhost", "::1", runas)
    lg = st.logon(ts + 4 * SEC, admin, 2, "::1", st.host.name.upper(), admin=True)
    seclogon = st.proc_at(
        ts,
        SYS32 + "svchost.exe",
        "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s seclogon",
        lg,
    )
    return Session(lg, seclogon, 2)


def admin_console(st: HostState, ts: int, person: Person, commands: list[str]) -> None:
    """An admin's own PC: ``runas`` to the admin account, then commands that reach others."""
    sess = runas_session(st, ts, person)
    t = run_commands(st, ts + 6 * SEC, sess, commands)
    st.logoff(t + st.ri(2, 20) * MIN, sess.logon, 2)


def remote_logon(
    st: HostState,
    ts: int,
    acct: Account,
    ip: str,
    seconds: int,
    admin: bool = True,
    new_user: Account | None = None,
) -> None:
    """A network logon from someone's tool (wmic /node, quser /server, AD cmdlets)."""
    lg = st.logon(ts, acct, 3, ip=ip, admin=admin)
    if new_user is not None:
        st.user_created(ts + SEC, lg, new_user)
    st.logoff(ts + seconds * SEC, lg, 3)


def windows_update(st: HostState, ts: int, new_service: bool) -> None:
    """Patch night: servicing stack, update workers, DataStore churn, a new updater service."""
    st.service_state(ts, "Windows Update", "wuauserv", True)
    st.service_state(ts + 40 * SEC, "Windows Modules Installer", "TrustedInstaller", True)
    ti = (
        f"C:\\Windows\\WinSxS\\amd64_microsoft-windows-servicingstack_31bf3856ad364e35_"
        f"{st.build}.5328_none_7c1f3d7bde2e9b9c\\TiWorker.exe"
    )
    worker = st.spawn(ts + 41 * SEC, st.dcom, ti, ti + " -Embedding")
    st.spawn(
        ts + 5 * SEC,
        st.dcom,
        SYS32 + "MoUsoCoreWorker.exe",
        "C:\\Windows\\System32\\mousocoreworker.exe -Embedding",
    )
    for i in range(st.ri(6, 14)):
        kb = f"{st.rng.getrandbits(64):016x}\\Windows10.0-KB50{st.ri(10000, 99999)}-x64.cab"
        st.file(
            ts + (60 + 20 * i) * SEC, worker, "C:\\Windows\\SoftwareDistribution\\Download\\" + kb
        )
    pid = f"{st.ri(300, 2000) * 4},D,0"
    st.esent(ts + 30 * SEC, 326, "svchost", pid, "SUS20ClientDataStore: ", "1", DBS[2][2])
    st.esent(ts + 900 * SEC, 327, "svchost", pid, "SUS20ClientDataStore: ", "1", DBS[2][2])
    st.spawn(
        ts + 300 * SEC, st.services, SYS32 + "msiexec.exe", "C:\\Windows\\system32\\msiexec.exe /V"
    )
    if new_service:
        exe = "C:\\Program Files (x86)\\Microsoft\\EdgeUpdate\\MicrosoftEdgeUpdate.exe"
        st.service_installed(
            ts + 600 * SEC,
            "Microsoft Edge Update Service (edgeupdate)",
            f'"{exe}" /svc',
            SYSTEM,
            "auto start",
        )
        name = "\\MicrosoftEdgeUpdateTaskMachineCore{" + st.guid().upper() + "}"
        st.task_created(ts + 601 * SEC, st.system, name, exe, "/c", "S-1-5-18")
    st.service_state(ts + 1500 * SEC, "Windows Modules Installer", "TrustedInstaller", False)


def backup_job(st: HostState, ts: int, acct: Account, date: str, pw: str) -> None:
    """Nightly backup as a scheduled task: batch logon, VSS snapshot, 7-Zip with a password."""
    lg = st.logon(ts, acct, 4, admin=True)
    shadow = vss_snapshot(st, ts + 2 * SEC)
    sru = "C:\\Windows\\system32\\SRU\\SRUDB.dat"
    st.esent(
        ts + 4 * SEC,
        216,
        "svchost",
        f"{st.ri(300, 2000) * 4},R,98",
        "SRUJet: ",
        "",
        sru,
        shadow + sru[2:],
    )
    cmd = st.spawn(
        ts + SEC,
        st.schedule,
        TOOLS["cmd"],
        'C:\\Windows\\system32\\cmd.exe /c "D:\\Scripts\\nightly_backup.cmd"',
        logon=lg,
        integrity="High",
        cwd="D:\\Scripts\\",
    )
    if st.host.role == DC:
        st.run(ts + 3 * SEC, cmd, "wbadmin start systemstatebackup -backupTarget:E: -quiet")
    else:
        run_and_effect(
            st,
            ts + 3 * SEC,
            cmd,
            f'"{TOOLS["7z"]}" a -t7z -mx=3 -mhe=on -p{pw} '
            f"E:\\Backup\\Shares_{date}.7z D:\\Shares\\*",
        )
    st.logoff(ts + st.ri(600, 2400) * SEC, lg, 4)

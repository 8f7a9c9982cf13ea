"""Interactive sessions: a logon with its desktop, the console and PowerShell in it.

People and the actor alike work in a session: an RDP or console logon (4624, 4672),
userinit and explorer, one cmd.exe or powershell.exe kept open, every tool its child.
"""

from __future__ import annotations

from dataclasses import dataclass

from lotlhunt.simulate.effects import run_and_effect
from lotlhunt.simulate.host import SEC, Logon, Proc, PsCtx
from lotlhunt.simulate.inventory import SYS32, TOOLS
from lotlhunt.simulate.network import Account
from lotlhunt.simulate.state import HostState

#: cmd.exe built-ins: typing them starts no process.
BUILTINS = ("dir", "type", "copy", "cd", "echo", "del", "move", "rd", "mkdir")


@dataclass(slots=True)
class Session:
    """A logon session with its desktop, and the console and PowerShell opened in it."""

    logon: Logon
    explorer: Proc
    ltype: int
    cmd: Proc | None = None
    ps: PsCtx | None = None


def open_session(
    st: HostState, ts: int, acct: Account, ltype: int, ip: str, client: str, admin: bool
) -> Session:
    """Interactive/RDP logon: 4624 (+4672), userinit -> explorer, rdpclip for RDP.

    An RDP logon is preceded by TerminalServices' 1149 (the user authenticated), which
    lives in its own log and so survives a clear of the Security log.
    """
    if ltype == 10:
        st.rdp_authenticated(ts - st.ri(400_000, 1_500_000), acct, ip)
    lg = st.logon(ts, acct, ltype, ip=ip, workstation=client, admin=admin, session=st.ri(2, 6))
    winlogon = st.proc_at(ts, SYS32 + "winlogon.exe", "winlogon.exe")
    ui = st.spawn(
        ts + 900_000,
        winlogon,
        SYS32 + "userinit.exe",
        SYS32 + "userinit.exe",
        logon=lg,
        integrity="Medium",
    )
    explorer = st.spawn(
        ts + 1_400_000, ui, "C:\\Windows\\explorer.exe", "C:\\Windows\\Explorer.EXE"
    )
    if ltype == 10:
        st.spawn(
            ts + 2_100_000,
            st.schedule,
            SYS32 + "rdpclip.exe",
            "rdpclip",
            logon=lg,
            integrity="Medium",
        )
    return Session(lg, explorer, ltype)


def close_session(st: HostState, ts: int, sess: Session) -> None:
    st.logoff(ts, sess.logon, sess.ltype)


def cmdlets(text: str) -> list[tuple[str, dict[str, str]]]:
    """``Verb-Noun -Param value`` segments of a pipeline, for 4103/800 parameter bindings."""
    out = []
    for seg in text.split("|"):
        words = seg.strip().split(" ")
        if "-" in words[0] and words[0][:1].isupper():
            params: dict[str, str] = {}
            key = None
            for w in words[1:]:
                if w.startswith("-") and len(w) > 1 and w[1].isalpha():
                    key = w[1:]
                    params[key] = ""
                elif key is not None:
                    params[key] = (params[key] + " " + w).strip().strip("'\"")
            out.append((words[0], params))
    return out


def console(st: HostState, t: int, sess: Session, elevated: bool = True) -> Proc:
    """The session's cmd.exe (with its conhost), opened on first use."""
    if sess.cmd is None:
        home = "C:\\Users\\" + sess.logon.acct.sam + "\\"
        sess.cmd = st.spawn(
            t,
            sess.explorer,
            TOOLS["cmd"],
            '"' + TOOLS["cmd"] + '" ',
            integrity="High" if elevated else "Medium",
            cwd=home,
        )
        st.spawn(
            t + 40_000,
            sess.cmd,
            TOOLS["conhost"],
            "\\??\\C:\\Windows\\system32\\conhost.exe 0xffffffff -ForceV1",
        )
    return sess.cmd


def pwsh(st: HostState, t: int, sess: Session, elevated: bool = True) -> PsCtx:
    """The session's PowerShell console (400 on start), opened on first use."""
    if sess.ps is None:
        p = st.spawn(
            t,
            sess.explorer,
            TOOLS["powershell"],
            '"' + TOOLS["powershell"] + '" ',
            integrity="High" if elevated else "Medium",
            cwd="C:\\Users\\" + sess.logon.acct.sam + "\\",
        )
        sess.ps = st.ps_open(t + 600_000, p)
    return sess.ps


def run_commands(
    st: HostState,
    t: int,
    sess: Session,
    commands: list[str],
    gap: tuple[int, int] = (20, 200),
    elevated: bool = True,
) -> int:
    """Type commands into the session's console: ``PS `` prefix means PowerShell.

    One cmd.exe or powershell.exe per session, as a person keeps a console open; every
    external tool is its child. Returns the time after the last command.
    """
    for c in commands:
        if c.startswith("PS "):
            ps = pwsh(st, t, sess, elevated)
            t += 2 * SEC
            st.ps_command(t, ps, c[3:], cmdlets(c[3:]))
        else:
            shell = console(st, t, sess, elevated)
            t += 3 * SEC
            for part in c.split(" | "):
                if part.split(" ", 1)[0].lower() not in BUILTINS:
                    run_and_effect(st, t, shell, part.strip())
                t += 3000
        t += st.rng.randrange(*gap) * SEC
    if sess.ps is not None:
        st.ps_close(t, sess.ps)
    return t

"""A host's full state: the per-channel emitters together, and processes that log in each.

Field names, value formats (hex logon ids, ``%%1842`` message ids, Sysmon ``UtcTime``),
versions, tasks and keywords follow what real logs carry, so rules written against real
telemetry fire on simulated telemetry for the same reasons.
"""

from __future__ import annotations

from typing import Any

from lotlhunt.simulate.emitters.powershell import PowerShellEvents
from lotlhunt.simulate.emitters.rdp import RdpEvents
from lotlhunt.simulate.emitters.security import SecurityEvents
from lotlhunt.simulate.emitters.sysmon import SysmonEvents
from lotlhunt.simulate.emitters.system import SystemEvents
from lotlhunt.simulate.host import Logon, Proc
from lotlhunt.simulate.inventory import SYS32, TOOLS


def split_image(cmd: str) -> tuple[str, str]:
    """(program, arguments) of a command line; a quoted program may contain spaces."""
    if cmd.startswith('"') and '"' in cmd[1:]:
        tok, _, rest = cmd[1:].partition('"')
        return tok, rest.lstrip()
    tok, _, rest = cmd.partition(" ")
    return tok.strip('"'), rest


class HostState(SecurityEvents, SysmonEvents, SystemEvents, PowerShellEvents, RdpEvents):
    """One host's processes, sessions and emitted drafts while the simulation runs."""

    def spawn(
        self,
        ts: int,
        parent: Proc,
        image: str,
        cmd: str,
        logon: Logon | None = None,
        integrity: str | None = None,
        cwd: str | None = None,
        pe_as: str | None = None,
    ) -> Proc:
        """Start a process: Sysmon 1 where Sysmon runs, 4688 where process auditing is on."""
        logon = logon or parent.logon
        integrity = integrity or parent.integrity
        proc = Proc(
            self._pguid(ts), self.new_pid(), image, cmd, logon, integrity, cwd or parent.cwd
        )
        if self.host.sysmon:
            self.sysmon_process(ts, proc, parent, logon, pe_as)
        if self.host.audit_process:
            self.audit_process(ts, proc, parent, logon)
        return proc

    def run(self, ts: int, parent: Proc, cmd: str, **kw: Any) -> Proc:
        """Run a typed command line: the first token names the tool (``net`` also starts net1)."""
        tok = split_image(cmd)[0]
        name = tok.rsplit("\\", 1)[-1].lower().removesuffix(".exe")
        image = tok if "\\" in tok else TOOLS.get(name, SYS32 + name + ".exe")
        proc = self.spawn(ts, parent, image, cmd, **kw)
        if name == "net" and " " in cmd:
            args = cmd.split(" ", 1)[1]
            self.spawn(ts + 2100, proc, TOOLS["net1"], "C:\\Windows\\system32\\net1  " + args)
        return proc

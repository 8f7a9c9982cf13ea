"""System and Application logs: a log cleared (104), services installed and started
(7045, 7036), and ESENT's database events (216, 325-327) in the Application log."""

from __future__ import annotations

from lotlhunt.simulate.host import HostBase, Logon
from lotlhunt.simulate.network import Account
from lotlhunt.simulate.templates import T104, T7036, T7045, T_ESENT

_MS = ("000", "000", "016", "047")  # ESENT timing fractions


class SystemEvents(HostBase):
    """What the System and Application logs record on a host."""

    def log_cleared(self, ts: int, lg: Logon, channel: str) -> None:
        a = lg.acct
        self.emit(
            ts,
            T104,
            {
                "SubjectUserName": a.sam,
                "SubjectDomainName": a.domain,
                "Channel": channel,
                "BackupPath": "",
            },
            self.eventlog_pid,
            a.sid,
            marker=True,
        )

    def service_installed(
        self,
        ts: int,
        name: str,
        image: str,
        acct: Account,
        start: str = "demand start",
        account_name: str = "LocalSystem",
    ) -> None:
        self.emit(
            ts,
            T7045,
            {
                "ServiceName": name,
                "ImagePath": image,
                "ServiceType": "user mode service",
                "StartType": start,
                "AccountName": account_name,
            },
            self.services.pid,
            acct.sid,
        )

    def service_state(self, ts: int, display: str, short: str, running: bool) -> None:
        binary = (short + ("/4" if running else "/1")).encode("utf-16-le").hex().upper() + "0000"
        self.emit(
            ts,
            T7036,
            {"param1": display, "param2": "running" if running else "stopped", "Binary": binary},
            self.services.pid,
        )

    def esent(
        self,
        ts: int,
        eid: int,
        process: str,
        pid: str,
        instance: str,
        dbid: str,
        path: str,
        path2: str = "",
    ) -> None:
        """ESENT 216/325/326/327; unnamed Data values as the Application log keeps them.

        ``pid`` is ESENT's process field: ``"3392"`` for NTDS/ntdsutil, ``"1532,D,0"`` for
        svchost-hosted databases (SRUDB.dat, catdb, DataStore.edb, Windows.edb).
        """
        if eid == 216:
            values: tuple[str, ...] = (process, pid, instance, path, path2)
        else:
            r = self.rng.choice
            timing = ", ".join(f"[{i}] 0.{r(_MS)}" for i in range(1, 13)) + "."
            values = (process, pid, instance, dbid, path, "0", timing)
            values += () if eid == 325 else ("1 0" if eid == 326 else "0 0",)
        self.emit(ts, T_ESENT[eid], values, 0)

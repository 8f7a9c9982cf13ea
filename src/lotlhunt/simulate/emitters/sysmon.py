"""Sysmon/Operational: process creation (1), network connection (3), image load (7),
file creation (11) and registry value set (13), field for field as Sysmon 15 writes them."""

from __future__ import annotations

from lotlhunt.simulate.host import HostBase, Logon, Proc
from lotlhunt.simulate.templates import S1, S3, S7, S11, S13

PORT_NAMES = {
    "53": "domain",
    "88": "kerberos",
    "135": "epmap",
    "389": "ldap",
    "443": "https",
    "445": "microsoft-ds",
    "3389": "ms-wbt-server",
    "80": "http",
    "636": "ldaps",
}


class SysmonEvents(HostBase):
    """What Sysmon logs on a host that runs it (every method is silent on one without)."""

    def sysmon_process(
        self, ts: int, proc: Proc, parent: Proc, logon: Logon, pe_as: str | None
    ) -> None:
        """Sysmon 1 for a process just started."""
        image, cmd, integrity, acct = proc.image, proc.cmd, proc.integrity, logon.acct
        ver, desc, prod, comp, orig = self.pe(image, pe_as)
        self.emit(
            ts,
            S1,
            {
                "RuleName": "-",
                "UtcTime": self.utc(ts),
                "ProcessGuid": proc.guid,
                "ProcessId": str(proc.pid),
                "Image": image,
                "FileVersion": ver,
                "Description": desc,
                "Product": prod,
                "Company": comp,
                "OriginalFileName": orig,
                "CommandLine": cmd,
                "CurrentDirectory": proc.cwd,
                "User": self.user_name(acct),
                "LogonGuid": logon.guid,
                "LogonId": logon.id,
                "TerminalSessionId": str(logon.session),
                "IntegrityLevel": integrity,
                "Hashes": self.hashes(image),
                "ParentProcessGuid": parent.guid,
                "ParentProcessId": str(parent.pid),
                "ParentImage": parent.image,
                "ParentCommandLine": parent.cmd,
                "ParentUser": self.user_name(parent.logon.acct),
            },
            self.sysmon_pid,
            "S-1-5-18",
        )

    def conn(
        self,
        ts: int,
        proc: Proc,
        dst_ip: str,
        dst_port: int,
        src_ip: str | None = None,
        dst_host: str = "-",
        initiated: bool = True,
        src_port: int | None = None,
    ) -> None:
        if not self.host.sysmon:
            return
        dp = str(dst_port)
        self.emit(
            ts,
            S3,
            {
                "RuleName": "-",
                "UtcTime": self.utc(ts),
                "ProcessGuid": proc.guid,
                "ProcessId": str(proc.pid),
                "Image": proc.image,
                "User": self.user_name(proc.logon.acct),
                "Protocol": "tcp",
                "Initiated": "true" if initiated else "false",
                "SourceIsIpv6": "false",
                "SourceIp": src_ip or self.host.ip,
                "SourceHostname": "-" if src_ip else self.host.fqdn,
                "SourcePort": str(src_port) if src_port else self.port(),
                "SourcePortName": "-",
                "DestinationIsIpv6": "false",
                "DestinationIp": dst_ip,
                "DestinationHostname": dst_host,
                "DestinationPort": dp,
                "DestinationPortName": PORT_NAMES.get(dp, "-"),
            },
            self.sysmon_pid,
            "S-1-5-18",
        )

    def image_load(self, ts: int, proc: Proc, dll: str, signed: bool = True) -> None:
        if not self.host.sysmon:
            return
        ver, desc, prod, comp, orig = self.pe(dll)
        self.emit(
            ts,
            S7,
            {
                "RuleName": "-",
                "UtcTime": self.utc(ts),
                "ProcessGuid": proc.guid,
                "ProcessId": str(proc.pid),
                "Image": proc.image,
                "ImageLoaded": dll,
                "FileVersion": ver,
                "Description": desc,
                "Product": prod,
                "Company": comp,
                "OriginalFileName": orig,
                "Hashes": self.hashes(dll),
                "Signed": "true" if signed else "false",
                "Signature": "Microsoft Windows" if signed else "-",
                "SignatureStatus": "Valid" if signed else "Unavailable",
                "User": self.user_name(proc.logon.acct),
            },
            self.sysmon_pid,
            "S-1-5-18",
        )

    def file(self, ts: int, proc: Proc, path: str) -> None:
        if not self.host.sysmon:
            return
        u = self.utc(ts)
        self.emit(
            ts,
            S11,
            {
                "RuleName": "-",
                "UtcTime": u,
                "ProcessGuid": proc.guid,
                "ProcessId": str(proc.pid),
                "Image": proc.image,
                "TargetFilename": path,
                "CreationUtcTime": u,
                "User": self.user_name(proc.logon.acct),
            },
            self.sysmon_pid,
            "S-1-5-18",
        )

    def reg(self, ts: int, proc: Proc, key: str, details: str) -> None:
        if not self.host.sysmon:
            return
        self.emit(
            ts,
            S13,
            {
                "RuleName": "-",
                "EventType": "SetValue",
                "UtcTime": self.utc(ts),
                "ProcessGuid": proc.guid,
                "ProcessId": str(proc.pid),
                "Image": proc.image,
                "TargetObject": key,
                "Details": details,
                "User": self.user_name(proc.logon.acct),
            },
            self.sysmon_pid,
            "S-1-5-18",
        )

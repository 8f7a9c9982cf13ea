"""Security log: logons and logoffs, explicit credentials, Kerberos, share access,
process creation (4688), scheduled tasks, accounts, session reconnects and the 1102 of a
clear, with the fields real Windows writes so analytics can chain them by logon id."""

from __future__ import annotations

from lotlhunt.simulate.host import HostBase, Logon, Proc
from lotlhunt.simulate.inventory import SYS32
from lotlhunt.simulate.network import Account
from lotlhunt.simulate.templates import (
    T1102,
    T4624,
    T4625,
    T4634,
    T4648,
    T4672,
    T4688,
    T4698,
    T4720,
    T4768,
    T4769,
    T4778,
    T4779,
    T5140,
    T5145,
)

_INTEGRITY = {"System": "S-1-16-16384", "High": "S-1-16-12288", "Medium": "S-1-16-8192"}
_ELEVATION = {"System": "%%1936", "High": "%%1937", "Medium": "%%1938"}
_ADMIN_PRIVS = "\r\n\t\t\t".join(
    "SeSecurityPrivilege SeBackupPrivilege SeRestorePrivilege SeTakeOwnershipPrivilege "
    "SeDebugPrivilege SeSystemEnvironmentPrivilege SeLoadDriverPrivilege SeImpersonatePrivilege "
    "SeDelegateSessionUserImpersonatePrivilege".split()
)
_SYSTEM_PRIVS = "\r\n\t\t\t".join(
    "SeAssignPrimaryTokenPrivilege SeTcbPrivilege SeSecurityPrivilege SeTakeOwnershipPrivilege "
    "SeLoadDriverPrivilege SeBackupPrivilege SeRestorePrivilege SeDebugPrivilege SeAuditPrivilege "
    "SeSystemEnvironmentPrivilege SeImpersonatePrivilege "
    "SeDelegateSessionUserImpersonatePrivilege".split()
)
ZERO_GUID = "{00000000-0000-0000-0000-000000000000}"
_READ = "%%1538\r\n\t\t\t\t%%1541\r\n\t\t\t\t%%4416\r\n\t\t\t\t%%4423\r\n\t\t\t\t"
_WRITE = "%%1538\r\n\t\t\t\t%%1541\r\n\t\t\t\t%%4417\r\n\t\t\t\t%%4424\r\n\t\t\t\t"


class SecurityEvents(HostBase):
    """What the Security log records on a host."""

    def audit_process(self, ts: int, proc: Proc, parent: Proc, logon: Logon) -> None:
        """4688 for a process just started (hosts that audit process creation)."""
        acct, integrity = logon.acct, proc.integrity
        subj = self.host.machine if acct.sid == "S-1-5-18" else acct
        self.emit(
            ts + 37,
            T4688,
            {
                "SubjectUserSid": acct.sid,
                "SubjectUserName": subj.sam,
                "SubjectDomainName": subj.domain,
                "SubjectLogonId": logon.id,
                "NewProcessId": hex(proc.pid),
                "NewProcessName": proc.image,
                "TokenElevationType": _ELEVATION[integrity],
                "ProcessId": hex(parent.pid),
                "CommandLine": proc.cmd,
                "TargetUserSid": "S-1-0-0",
                "TargetUserName": "-",
                "TargetDomainName": "-",
                "TargetLogonId": "0x0",
                "ParentProcessName": parent.image,
                "MandatoryLabel": _INTEGRITY[integrity],
            },
        )

    def logon(
        self,
        ts: int,
        acct: Account,
        ltype: int,
        ip: str = "-",
        workstation: str = "-",
        auth: str = "Kerberos",
        admin: bool = False,
        session: int = 0,
    ) -> Logon:
        """4624 (+4672 for privileged accounts); returns the session other events refer to."""
        lg = self.new_logon(acct, session)
        interactive, service, ntlm = ltype in (2, 7, 10, 11), ltype in (4, 5), auth == "NTLM"
        m = self.host.machine
        subj = ("S-1-0-0", "-", "-", "0x0")
        if service or interactive:
            subj = ("S-1-5-18", m.sam, m.domain, "0x3e7")
        if service:
            pname = SYS32 + ("services.exe" if ltype == 5 else "svchost.exe")
            lproc, pkg, pid = "Advapi  ", "Negotiate", hex(self.services.pid)
        elif interactive:
            pname = SYS32 + ("svchost.exe" if ltype == 7 else "winlogon.exe")
            lproc, pkg, pid = "User32 ", "Negotiate", hex(self.lsass_pid + 80)
        else:
            pname, lproc, pkg, pid = "-", "NtLmSsp " if ntlm else "Kerberos", auth, "0x0"
        self.emit(
            ts,
            T4624,
            {
                "SubjectUserSid": subj[0],
                "SubjectUserName": subj[1],
                "SubjectDomainName": subj[2],
                "SubjectLogonId": subj[3],
                "TargetUserSid": acct.sid,
                "TargetUserName": acct.sam,
                "TargetDomainName": "NT AUTHORITY" if ltype == 5 else acct.domain,
                "TargetLogonId": lg.id,
                "LogonType": str(ltype),
                "LogonProcessName": lproc,
                "AuthenticationPackageName": pkg,
                "WorkstationName": workstation if (ntlm or interactive) else "-",
                "LogonGuid": ZERO_GUID if ntlm or service else "{" + lg.guid + "}",
                "TransmittedServices": "-",
                "LmPackageName": "NTLM V2" if ntlm else "-",
                "KeyLength": "128" if ntlm else "0",
                "ProcessId": pid,
                "ProcessName": pname,
                "IpAddress": "-" if service else ip,
                "IpPort": "-" if ip in ("-", "127.0.0.1") or service else self.port(),
                "ImpersonationLevel": "%%1833",
                "RestrictedAdminMode": "%%1843" if ltype == 10 else "-",
                "TargetOutboundUserName": "-",
                "TargetOutboundDomainName": "-",
                "VirtualAccount": "%%1843",
                "TargetLinkedLogonId": "0x0",
                "ElevatedToken": "%%1842" if admin or service else "%%1843",
            },
            self.lsass_pid,
        )
        if admin or ltype == 5:
            self.emit(
                ts + 11,
                T4672,
                {
                    "SubjectUserSid": acct.sid,
                    "SubjectUserName": acct.sam,
                    "SubjectDomainName": "NT AUTHORITY" if ltype == 5 else acct.domain,
                    "SubjectLogonId": lg.id,
                    "PrivilegeList": _SYSTEM_PRIVS if ltype == 5 else _ADMIN_PRIVS,
                },
                self.lsass_pid,
            )
        return lg

    def logoff(self, ts: int, lg: Logon, ltype: int) -> None:
        a = lg.acct
        self.emit(
            ts,
            T4634,
            {
                "TargetUserSid": a.sid,
                "TargetUserName": a.sam,
                "TargetDomainName": a.domain,
                "TargetLogonId": lg.id,
                "LogonType": str(ltype),
            },
            self.lsass_pid,
        )

    def rdp_session(self, ts: int, lg: Logon, client: str, ip: str, reconnect: bool) -> None:
        """4778 (session reconnected) or 4779 (disconnected) for an RDP logon session."""
        a = lg.acct
        self.emit(
            ts,
            T4778 if reconnect else T4779,
            {
                "AccountName": a.sam,
                "AccountDomain": a.domain,
                "LogonID": lg.id,
                "SessionName": f"RDP-Tcp#{lg.session}",
                "ClientName": client,
                "ClientAddress": ip,
            },
            self.lsass_pid,
        )

    def logon_failed(
        self, ts: int, acct: Account, ltype: int, ip: str = "-", workstation: str = "-"
    ) -> None:
        local = ltype in (2, 7, 10)
        self.emit(
            ts,
            T4625,
            {
                "SubjectUserSid": "S-1-5-18" if local else "S-1-0-0",
                "SubjectUserName": self.host.machine.sam if local else "-",
                "SubjectDomainName": acct.domain if local else "-",
                "SubjectLogonId": "0x3e7" if local else "0x0",
                "TargetUserSid": "S-1-0-0",
                "TargetUserName": acct.sam,
                "TargetDomainName": acct.domain,
                "Status": "0xc000006d",
                "FailureReason": "%%2313",
                "SubStatus": "0xc000006a",
                "LogonType": str(ltype),
                "LogonProcessName": "User32 " if local else "NtLmSsp ",
                "AuthenticationPackageName": "Negotiate" if local else "NTLM",
                "WorkstationName": workstation,
                "TransmittedServices": "-",
                "LmPackageName": "-",
                "KeyLength": "0",
                "ProcessId": hex(self.lsass_pid + 80) if local else "0x0",
                "ProcessName": SYS32 + "winlogon.exe" if local else "-",
                "IpAddress": ip,
                "IpPort": "0" if local else self.port(),
            },
            self.lsass_pid,
        )

    def explicit_creds(
        self, ts: int, lg: Logon, target: Account, server: str, ip: str, proc: Proc, port: str = "0"
    ) -> None:
        a = lg.acct
        self.emit(
            ts,
            T4648,
            {
                "SubjectUserSid": a.sid,
                "SubjectUserName": a.sam,
                "SubjectDomainName": a.domain,
                "SubjectLogonId": lg.id,
                "LogonGuid": "{" + lg.guid + "}",
                "TargetUserName": target.sam,
                "TargetDomainName": target.domain,
                "TargetLogonGuid": ZERO_GUID,
                "TargetServerName": server,
                "TargetInfo": server,
                "ProcessId": hex(proc.pid),
                "ProcessName": proc.image,
                "IpAddress": ip,
                "IpPort": port,
            },
            self.lsass_pid,
        )

    def kerberos(self, ts: int, acct: Account, ip: str, service: str, tgt: bool = False) -> None:
        dom = self.net.domain.upper()
        if tgt:
            self.emit(
                ts,
                T4768,
                {
                    "TargetUserName": acct.sam,
                    "TargetDomainName": acct.domain,
                    "TargetSid": acct.sid,
                    "ServiceName": "krbtgt",
                    "ServiceSid": self.net.domain_sid + "-502",
                    "TicketOptions": "0x40810010",
                    "Status": "0x0",
                    "TicketEncryptionType": "0x12",
                    "PreAuthType": "2",
                    "IpAddress": "::ffff:" + ip,
                    "IpPort": self.port(),
                    "CertIssuerName": "",
                    "CertSerialNumber": "",
                    "CertThumbprint": "",
                },
                self.lsass_pid,
            )
        else:
            self.emit(
                ts,
                T4769,
                {
                    "TargetUserName": f"{acct.sam}@{dom}",
                    "TargetDomainName": dom,
                    "ServiceName": service,
                    "ServiceSid": self.net.domain_sid + "-1000",
                    "TicketOptions": "0x40810000",
                    "TicketEncryptionType": "0x12",
                    "IpAddress": "::ffff:" + ip,
                    "IpPort": self.port(),
                    "Status": "0x0",
                    "LogonGuid": "{" + self.guid().upper() + "}",
                    "TransmittedServices": "-",
                },
                self.lsass_pid,
            )

    def share(self, ts: int, lg: Logon, ip: str, share: str, local: str) -> None:
        a = lg.acct
        self.emit(
            ts,
            T5140,
            {
                "SubjectUserSid": a.sid,
                "SubjectUserName": a.sam,
                "SubjectDomainName": a.domain,
                "SubjectLogonId": lg.id,
                "ObjectType": "File",
                "IpAddress": ip,
                "IpPort": self.port(),
                "ShareName": "\\\\*\\" + share,
                "ShareLocalPath": local,
                "AccessMask": "0x1",
                "AccessList": "%%4416\r\n\t\t\t\t",
            },
        )

    def share_file(
        self, ts: int, lg: Logon, ip: str, share: str, local: str, rel: str, write: bool = False
    ) -> None:
        a = lg.acct
        self.emit(
            ts,
            T5145,
            {
                "SubjectUserSid": a.sid,
                "SubjectUserName": a.sam,
                "SubjectDomainName": a.domain,
                "SubjectLogonId": lg.id,
                "ObjectType": "File",
                "IpAddress": ip,
                "IpPort": self.port(),
                "ShareName": "\\\\*\\" + share,
                "ShareLocalPath": local,
                "RelativeTargetName": rel,
                "AccessMask": "0x100180" if write else "0x120089",
                "AccessList": _WRITE if write else _READ,
                "AccessReason": "-",
            },
        )

    def task_created(
        self, ts: int, lg: Logon, name: str, command: str, args: str, user_id: str
    ) -> None:
        a = lg.acct
        content = (
            '<?xml version="1.0" encoding="UTF-16"?>\r\n<Task version="1.2" '
            'xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">\r\n  <Triggers>\r\n'
            "    <CalendarTrigger>\r\n      <StartBoundary>2026-01-01T02:00:00</StartBoundary>\r\n"
            "      <ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>\r\n"
            "    </CalendarTrigger>\r\n  </Triggers>\r\n  <Principals>\r\n"
            '    <Principal id="Author">\r\n'
            f"      <UserId>{user_id}</UserId>\r\n      <RunLevel>HighestAvailable</RunLevel>\r\n"
            '    </Principal>\r\n  </Principals>\r\n  <Actions Context="Author">\r\n    <Exec>\r\n'
            f"      <Command>{command}</Command>\r\n      <Arguments>{args}</Arguments>\r\n"
            "    </Exec>\r\n  </Actions>\r\n</Task>"
        )
        self.emit(
            ts,
            T4698,
            {
                "SubjectUserSid": a.sid,
                "SubjectUserName": a.sam,
                "SubjectDomainName": a.domain,
                "SubjectLogonId": lg.id,
                "TaskName": name,
                "TaskContent": content,
            },
            self.lsass_pid,
        )

    def user_created(self, ts: int, lg: Logon, new: Account) -> None:
        a, d = lg.acct, "%%1793"
        self.emit(
            ts,
            T4720,
            {
                "TargetUserName": new.sam,
                "TargetDomainName": new.domain,
                "TargetSid": new.sid,
                "SubjectUserSid": a.sid,
                "SubjectUserName": a.sam,
                "SubjectDomainName": a.domain,
                "SubjectLogonId": lg.id,
                "PrivilegeList": "-",
                "SamAccountName": new.sam,
                "DisplayName": new.display or d,
                "UserPrincipalName": f"{new.sam}@{self.net.domain}",
                "HomeDirectory": d,
                "HomePath": d,
                "ScriptPath": d,
                "ProfilePath": d,
                "UserWorkstations": d,
                "PasswordLastSet": "%%1794",
                "AccountExpires": "%%1794",
                "PrimaryGroupId": "513",
                "AllowedToDelegateTo": "-",
                "OldUacValue": "0x0",
                "NewUacValue": "0x15",
                "UserAccountControl": "\r\n\t\t%%2080\r\n\t\t%%2082\r\n\t\t%%2084",
                "UserParameters": "%%1792",
                "SidHistory": "-",
                "LogonHours": "%%1797",
            },
            self.lsass_pid,
        )

    def audit_cleared(self, ts: int, lg: Logon) -> None:
        a = lg.acct
        self.emit(
            ts,
            T1102,
            {
                "SubjectUserSid": a.sid,
                "SubjectUserName": a.sam,
                "SubjectDomainName": a.domain,
                "SubjectLogonId": lg.id,
            },
            self.eventlog_pid,
            None,
            marker=True,
        )

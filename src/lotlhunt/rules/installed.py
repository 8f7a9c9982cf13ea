"""Where ``lotlhunt rules update`` installs rule sets, and whether one is installed.

Apart from the updating itself (:mod:`.update`, which fetches over the network), so that
every hunt can ask whether an installed rule set joins its rules without importing the
HTTP and TLS machinery.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

#: The file an installed rule set is described by (and known to be complete by).
MANIFEST = "lotlhunt-manifest.json"


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """lotlhunt's data folder: ``$LOTLHUNT_DATA_DIR``, else the platform's user data
    folder (``$XDG_DATA_HOME/lotlhunt``, ``~/.local/share/lotlhunt``; ``%LOCALAPPDATA%``
    on Windows, ``~/Library/Application Support`` on macOS), as platformdirs puts it."""
    env = os.environ if env is None else env
    if env.get("LOTLHUNT_DATA_DIR"):
        return Path(env["LOTLHUNT_DATA_DIR"])
    if sys.platform == "win32" and env.get("LOCALAPPDATA"):
        return Path(env["LOCALAPPDATA"]) / "lotlhunt"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "lotlhunt"
    if env.get("XDG_DATA_HOME"):
        return Path(env["XDG_DATA_HOME"]) / "lotlhunt"
    return Path.home() / ".local" / "share" / "lotlhunt"


def rules_home(base: Path | None = None) -> Path:
    return (base or data_dir()) / "rules"


def installed_rules(base: Path | None = None) -> Path | None:
    """The folder of the installed rule set, if an update installed one."""
    current = rules_home(base) / "current"
    return current if (current / MANIFEST).is_file() else None

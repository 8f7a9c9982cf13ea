"""YAML as lotlhunt reads it: libyaml's safe loader when present, and settings files
(placeholders, exclusions) whose unreadable or invalid content is a usage error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import UsageError

#: libyaml's loader parses several times faster than PyYAML's pure-Python one.
YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml_file(path: Path, what: str) -> tuple[Any, bytes]:
    """The parsed document of a settings file and its bytes (for digests); ``what``
    names the kind of file in the error ("placeholder file")."""
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {what} {path}: {exc}") from exc
    try:
        return yaml.load(text, Loader=YAML_LOADER), raw
    except yaml.YAMLError as exc:
        raise UsageError(f"{what} {path} is not valid YAML: {exc}") from exc

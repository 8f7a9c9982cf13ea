"""The ``LOTLHUNT_*`` environment, read once, at the edge.

The command line reads it when it starts and the public functions when they are called
without explicit values; nothing deeper looks at ``os.environ``, so what a module does
depends only on what it is given (and tests give it that, instead of patching).

- ``LOTLHUNT_CACHE_DIR``: where compiled rules are kept, else ``$XDG_CACHE_HOME/lotlhunt``,
  else ``~/.cache/lotlhunt``;
- ``LOTLHUNT_NO_CACHE=1`` (or ``true``, ``yes``): compile every rule on every load;
- ``LOTLHUNT_RULE_WORKERS=N``: processes that compile rules (default: the idle CPUs);
- ``LOTLHUNT_SIM_WORKERS=N``: processes that write a simulation's hosts (default: one
  for small runs, else up to eight); ``lotlhunt simulate --workers`` takes precedence.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """What the environment asks for."""

    #: Whether compiled rules are cached on disk.
    rule_cache: bool
    #: Where they are cached.
    cache_dir: Path
    #: Processes that compile rules; None: as many as there are idle CPUs.
    rule_workers: int | None
    #: Processes that write a simulation's hosts; None: chosen by the run's size.
    sim_workers: int | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings of ``environ`` (default: this process's environment)."""
        env = os.environ if environ is None else environ
        return cls(
            rule_cache=env.get("LOTLHUNT_NO_CACHE", "").strip() not in ("1", "true", "yes"),
            cache_dir=_cache_dir(env),
            rule_workers=_count(env, "LOTLHUNT_RULE_WORKERS"),
            sim_workers=_count(env, "LOTLHUNT_SIM_WORKERS", at_least=1),
        )


def _count(env: Mapping[str, str], name: str, at_least: int = 0) -> int | None:
    """The whole number ``name`` gives (raised to ``at_least``), or None when it gives
    none: unset or not a number means the default."""
    text = env.get(name, "").strip()
    return max(at_least, int(text)) if text.isdigit() else None


def _cache_dir(env: Mapping[str, str]) -> Path:
    explicit = env.get("LOTLHUNT_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = env.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path(env.get("HOME") or Path.home()) / ".cache"
    return base / "lotlhunt"

"""What a hunt is asked to do: the options the CLI and the Python API both set."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .engines import DEFAULT_ENGINE
from .engines.base import EngineOptions
from .rules.parallel import DEFAULT_OPTIONS as DEFAULT_COMPILE_OPTIONS
from .rules.parallel import CompileOptions
from .scope import EventScope, RuleScope
from .settings import Settings
from .sources.options import DEFAULT_OPTIONS as DEFAULT_READER_OPTIONS
from .sources.options import ReaderOptions


@dataclass
class HuntConfig:
    """What to hunt and with which rules; the CLI and the Python API both build one."""

    paths: Sequence[str | Path] = ()
    rules: Sequence[str | Path] = ()
    default_rules: bool = True
    case: str | Path | None = None
    workers: int | None = None
    extra_rule_dicts: list[dict[str, object]] = field(default_factory=list)
    #: Placeholder values for ``|expand`` rules (docs/placeholders.md).
    placeholders: str | Path | None = None
    #: Analyst exclusions (docs/tuning.md).
    exclusions: str | Path | None = None
    #: Events to hunt in (time, hosts, event ids); rows outside it are never stored.
    scope: EventScope = field(default_factory=EventScope)
    #: Rules to run and report (minimum level, tags).
    rule_scope: RuleScope = field(default_factory=RuleScope)
    #: The ``LOTLHUNT_*`` environment, read when the config is made.
    settings: Settings = field(default_factory=Settings.from_environ)
    #: How logs are read (batch sizes, limits, when worker processes pay off).
    reader_options: ReaderOptions = DEFAULT_READER_OPTIONS
    #: When rule files are compiled in worker processes.
    compile_options: CompileOptions = DEFAULT_COMPILE_OPTIONS
    #: The registered engine to hunt with (:data:`lotlhunt.engines.ENGINES`).
    engine: str = DEFAULT_ENGINE
    #: Its tuning; the environment (``LOTLHUNT_MEMORY_LIMIT``) is read here, once.
    engine_options: EngineOptions = field(default_factory=EngineOptions.from_env)
    #: STIX 2.1 bundles and MISP event files whose indicators become rules.
    indicators: Sequence[str | Path] = ()
    #: Run only the rules of this profile (see :mod:`lotlhunt.rules.profiles`); None: all.
    profile: str | None = None
    #: A YAML file mapping rule ids or title globs to levels (rules/levels.py).
    level_overrides: str | Path | None = None
    #: Leave out the shipped noisy rules and set aside the detections of rules with more
    #: than ``noisy_threshold`` of them (see :mod:`lotlhunt.analytics.noise`).
    exclude_noisy: bool = False
    noisy_threshold: int | None = None

"""lotlhunt: hunt living-off-the-land intrusions in Windows event logs.

The public API, for notebooks and scripts::

    import lotlhunt
    result = lotlhunt.hunt(lotlhunt.HuntConfig(paths=["logs/"]))
    for incident in result.incidents: ...

Names are imported on first use (PEP 562), so ``import lotlhunt`` stays cheap for the
command line, which needs only some of them.
"""

from __future__ import annotations

from importlib import import_module, metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .hunt import HuntConfig
    from .hunt import run_hunt as hunt
    from .model import HuntResult
    from .rules.loader import load_rules

try:
    __version__ = metadata.version("lotlhunt")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

_LAZY: dict[str, tuple[str, str]] = {
    "hunt": ("lotlhunt.hunt", "run_hunt"),
    "HuntConfig": ("lotlhunt.hunt", "HuntConfig"),
    "HuntResult": ("lotlhunt.model", "HuntResult"),
    "load_rules": ("lotlhunt.rules.loader", "load_rules"),
}

__all__ = ["HuntConfig", "HuntResult", "__version__", "hunt", "load_rules"]


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'lotlhunt' has no attribute {name!r}") from None
    value = getattr(import_module(module), attr)
    globals()[name] = value
    return value

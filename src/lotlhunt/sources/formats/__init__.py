"""Readers, one module per input format, each registering itself (:mod:`..registry`).

Importing this package imports every module in it, so a new format is one new module.
"""

import importlib
import pkgutil

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")

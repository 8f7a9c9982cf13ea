"""Log readers: EVTX, JSON exports and archives of them, to batches of the events table.

Typical use::

    found = discover(["logs/", "case.zip"])
    for item in read_all(found.units, workers=4):
        if isinstance(item, UnitReport):
            ...  # per input: records, records_failed, issues, seconds
        else:
            ...  # a pyarrow.RecordBatch: core columns + one string column per field

Every record read is either a row or counted in ``records_failed`` with an issue saying
where and why; bad input never raises. ``Discovery.skipped`` lists inputs that are not
logs (pcaps, READMEs), ``Discovery.issues`` inputs that could not be opened. Readers are
tuned by a :class:`ReaderOptions`; formats are registered in :mod:`.registry`.
"""

from lotlhunt.sources.discover import Discovery, discover
from lotlhunt.sources.options import ReaderOptions
from lotlhunt.sources.parallel import read_all, read_unit
from lotlhunt.sources.report import UnitReport
from lotlhunt.sources.unit import InputUnit

__all__ = [
    "Discovery",
    "InputUnit",
    "ReaderOptions",
    "UnitReport",
    "discover",
    "read_all",
    "read_unit",
]

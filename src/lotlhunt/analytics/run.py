"""The analytics phase of a hunt: load the frames once, run every behaviour analytic,
turn detections into signals, chain everything into incidents."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import pyarrow as pa

from .._support.gc_pause import gc_paused
from ..events import schema
from ..model import CorrelationDetection, Detection, Incident, Signal
from . import hours, logons, processes, shares, tracks
from .baseline import Baseline
from .cited import DetectionColumns, cited_frame, cited_groups, cited_row_ids, detection_signals
from .frame import Frames, FrameSource, load_frames
from .hosts import HostMap, host_map
from .incidents import KEY_FIELDS, build
from .movements import movements


class CitedSource(FrameSource, Protocol):
    """A frame source that also reads events by row id (core columns and fields), as
    :class:`lotlhunt.engines.base.Engine` does."""

    def event_rows(self, rids: Sequence[int], columns: Sequence[str]) -> pa.Table: ...

    def event_fields(self, rids: Sequence[int], fields: Sequence[str]) -> pa.Table: ...


@dataclass
class Analysis:
    """Behaviour signals (time order), incidents (best first), and what could not be
    judged."""

    behaviours: list[Signal] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def behaviours(frames: Frames, base: Baseline, hosts: HostMap) -> list[Signal]:
    """Every behaviour analytic over the loaded frames."""
    found: list[Signal] = []
    found += logons.inbound(frames.logons, base, hosts)
    found += logons.explicit(frames.logons, base, hosts)
    found += logons.outbound(frames.network, base, hosts)
    found += shares.shares(frames.shares, base, hosts)
    runs = processes.unique_runs(frames.processes)
    found += processes.rare_lotl(runs, base)
    found += processes.new_parent_child(runs, base)
    found += processes.discovery_bursts(runs, base)
    found += hours.off_hours(frames.processes, frames.logons, base)
    found += tracks.marks(frames.marks, base)
    logs = tracks.sorted_logs(frames.core)
    found += tracks.holes(logs, base)
    found += tracks.late_logs(logs, base)
    found += tracks.silent_channels(logs, base)
    found.sort(key=_when)
    return found


def analyse(
    source: CitedSource,
    detections: Sequence[Detection],
    correlations: Sequence[CorrelationDetection],
) -> Analysis:
    """Behaviour signals and incidents of the events ``source`` holds."""
    frames = load_frames(source)
    base = Baseline.of(frames.core)
    hosts = host_map(frames)
    found = behaviours(frames, base, hosts)
    # Signals, their cited events and incidents are tens of thousands of small acyclic
    # objects: the collector's passes over the growing heap while they are made cost
    # more than a third of these steps (0.7 s of a 1 M-event re-hunt), for nothing. The
    # incidents last as long as the hunt's result: frozen at the end in a one-command
    # process, else the next young collection would scan every object made here at once.
    with gc_paused(lasting=True):
        signals = _detection_signals(source, detections, correlations) + found
        moves = movements(frames, hosts, signals)
        incidents = build(signals + moves, frames)
    found = sorted(found + moves, key=_when)
    return Analysis(found, incidents, base.notes)


@runtime_checkable
class ColumnarDetections(Protocol):
    """Detections kept as columns (:class:`lotlhunt.detections.DetectionTable`)."""

    def columns(self) -> DetectionColumns: ...

    def cited_fields(self, rids: Sequence[int]) -> pa.Table | None: ...


def _detection_signals(
    source: CitedSource,
    detections: Sequence[Detection],
    correlations: Sequence[CorrelationDetection],
) -> list[Signal]:
    """Detection signals (:mod:`.cited`) of detections as columns or as objects; the
    chaining fields of the cited events come with the columns when collection read
    them, else are read by row id."""
    columnar = detections if isinstance(detections, ColumnarDetections) else None
    columns = columnar.columns() if columnar is not None else DetectionColumns.of(detections)
    groups = cited_groups(columns.table)
    rows = cited_row_ids(columns.table, groups)
    frame = columnar.cited_fields(rows) if columnar is not None and rows else None
    if frame is None:
        frame = _cited_rows(source, rows)
    return detection_signals(columns, groups, frame, correlations)


def _cited_events(source: CitedSource, cited: Sequence[Detection]) -> pa.Table:
    """The chaining fields of the events detection signals cite, read by row id: only the
    cited rows are read (reading every event of the cited kinds and keeping the cited
    ones held Mordor's whole Security and Sysmon key columns, 0.7 GB at the peak)."""
    return _cited_rows(source, sorted({d.row for d in cited if d.row is not None}))


def _cited_rows(source: CitedSource, rows: Sequence[int]) -> pa.Table:
    if not rows:
        return pa.table({})
    core = source.event_rows(rows, [schema.HOST, schema.SOURCE, schema.POSITION])
    fields = source.event_fields(rows, KEY_FIELDS)
    # Events without an event id or a channel give no keys (they are no kind of event);
    # row order as before (a join's is not defined): a later duplicate wins, as it did.
    return cited_frame(fields, core)


def _when(s: Signal) -> tuple[bool, object, str, str]:
    return (s.timestamp is None, s.timestamp, s.host or "", s.name)

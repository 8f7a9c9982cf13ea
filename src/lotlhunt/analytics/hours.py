"""People working outside their own hours.

An account's habit is the hours of the day (UTC, so time zones do not matter) in which it
logs on interactively or starts processes. Activity in an hour that, on every other day,
neither it nor the hours beside it ever saw is off-hours for that account. The habit
needs ``MIN_DAYS`` other days and ``MIN_EVENTS`` events to mean anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..events import schema
from ..model import Signal
from .baseline import DAY_US, HOUR_US, Baseline, behaviour, human, session_key
from .frame import HK, TS, key_ids, np_col, per_value

MIN_DAYS = 2
MIN_EVENTS = 20
#: Hours either side of an hour that count as "around the same time".
SLACK_HOURS = 1


@dataclass
class Habits:
    """Each account's days and hours of activity, per distinct (account, day, hour)
    cell (the habit is judged per cell, not per event), and which cells are odd: an hour
    that, on every other day, neither the account nor the hours beside it ever saw."""

    #: The distinct cells, and each row's cell.
    cells: np.ndarray
    inverse: np.ndarray
    #: Each cell's account code and day.
    account: np.ndarray
    day: np.ndarray
    #: Per account code: its days; per hour of the day, the days it was active then.
    days_of: dict[int, set[int]]
    hours_of: dict[int, dict[int, set[int]]]
    #: Per cell: odd for its account.
    odd: np.ndarray
    #: Whether any account had the days and events for a habit.
    judged: bool

    @classmethod
    def of(cls, ids: np.ndarray, day: np.ndarray, hour: np.ndarray) -> Habits:
        """The habits of rows of account codes ``ids`` on ``day`` at ``hour``."""
        cell = (ids * 100_000 + day - day.min()) * 24 + hour
        cells, inverse = np.unique(cell, return_inverse=True)
        c_acct = cells // 24 // 100_000
        c_day = (cells // 24) % 100_000
        c_hour = cells % 24
        days_of: dict[int, set[int]] = {int(a): set() for a in np.unique(c_acct)}
        hours_of: dict[int, dict[int, set[int]]] = {a: {} for a in days_of}
        for a, d, h in zip(c_acct.tolist(), c_day.tolist(), c_hour.tolist(), strict=True):
            days_of[a].add(d)
            hours_of[a].setdefault(h, set()).add(d)
        n_events = np.bincount(ids)
        odd = np.zeros(cells.size, bool)
        judged = False
        for k, (a, d, h) in enumerate(
            zip(c_acct.tolist(), c_day.tolist(), c_hour.tolist(), strict=True)
        ):
            if len(days_of[a]) < MIN_DAYS + 1 or n_events[a] < MIN_EVENTS:
                continue
            judged = True
            near: set[int] = set()
            for j in range(-SLACK_HOURS, SLACK_HOURS + 1):
                near |= hours_of[a].get((h + j) % 24, set())
            odd[k] = not (near - {d})
        return cls(cells, inverse, c_acct, c_day, days_of, hours_of, odd, judged)


def off_hours(processes: pa.Table, logons: pa.Table, base: Baseline) -> list[Signal]:
    interactive = logons.filter(
        pc.and_(
            pc.equal(logons.column(schema.EVENT_ID), 4624),
            pc.is_in(logons.column("ltype"), pa.array(["2", "10", "11"])),
        )
    )
    keep = ["__rid", *schema.CORE_COLUMNS, TS, HK, "account", "session"]
    table = pa.concat_tables([processes.select(keep), interactive.select(keep)])
    # Positions of the people's timed rows: the table is read at them, not filtered whole
    # (its other columns only for the rows a signal cites).
    live = np.flatnonzero(
        pc.and_(human(table.column("account")), pc.greater(table.column(TS), 0)).to_numpy(
            zero_copy_only=False
        )
    )
    if live.size == 0:
        return []
    at = pa.array(live, pa.int64())
    ts = np_col(table, TS)[live]
    day = ts // DAY_US
    hour = (ts // HOUR_US) % 24
    ids = key_ids(per_value(table.column("account").take(at), pc.utf8_lower))
    habits = Habits.of(ids, day, hour)
    inverse, c_acct, c_day = habits.inverse, habits.account, habits.day
    days_of, hours_of = habits.days_of, habits.hours_of
    if not habits.judged:
        base.too_short("off-hours activity", f"an account active on {MIN_DAYS + 1} days or more")
    rows = np.flatnonzero(habits.odd[inverse])
    if rows.size == 0:
        return []
    hks = table.column(HK).take(pa.array(live[rows], pa.int64()))
    groups = key_ids(pa.array(inverse[rows]), hks)
    out: list[Signal] = []
    for g in np.unique(groups):
        cited = rows[groups == g]
        cited = cited[np.argsort(ts[cited], kind="stable")]
        i = int(cited[0])
        a = int(c_acct[inverse[i]])
        row = int(live[i])
        who = table.column("account")[row].as_py()
        hk, h = table.column(HK)[row].as_py(), int(hour[i])
        key = session_key(hk, table.column("session")[row].as_py())
        today = int(c_day[inverse[i]])
        usual = sorted(x for x, ds in hours_of[a].items() if ds - {today})
        out.append(
            behaviour(
                "off_hours_activity",
                "low",
                f"{who} active on {base.name(hk)} at {h:02d}:00 UTC ({cited.size} "
                f"events); on its other {len(days_of[a]) - 1} days it was never active within "
                f"{SLACK_HOURS} h of that hour (usual hours, UTC: {_ranges(usual)}).",
                table,
                live[cited[:20]],
                ("attack.initial-access", "attack.t1078"),
                account=who,
                keys=(key,) if key else (),
            )
        )
    return out


def _ranges(hours: list[int]) -> str:
    runs: list[list[int]] = []
    for h in hours:
        if runs and h == runs[-1][-1] + 1:
            runs[-1].append(h)
        else:
            runs.append([h])
    return ", ".join(f"{r[0]:02d}-{r[-1] + 1:02d}" for r in runs)

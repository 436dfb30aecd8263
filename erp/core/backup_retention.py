"""Which backups to keep: ``erp backup --keep 7d,4w,3m`` prunes the backup directory.

A retention spec names how many days, ISO weeks, months and years to keep a backup of:
``7d,4w,3m`` keeps the newest backup of each of the 7 most recent days that have one, of each
of the 4 most recent ISO weeks that have one, and of each of the 3 most recent months that have
one. A backup kept by any rule stays; the one just made is never removed. As in borg's and
restic's ``--keep-daily``, periods without a backup do not count: if the backups stopped for a
month, the next run still keeps the 7 daily backups before the gap instead of deleting them all.

Only files this app's ``erp backup`` made are considered, recognised by their name
(``erp-YYYYmmdd-HHMMSS.sqlite3`` or ``.dump``, the time in UTC) and of the same kind as the new
backup; anything else in the directory (``--out`` files with other names, ``.partial`` files,
other people's files) is left alone.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from erp.core.backup import BackupError

#: the name of a backup ``erp backup`` made without ``--out``
BACKUP_NAME = re.compile(r"^erp-(\d{8}-\d{6})\.(sqlite3|dump)$")

#: the units of a retention spec: (name in messages, the period a backup falls in)
UNITS: dict[str, tuple[str, Callable[[datetime], str]]] = {
    "d": ("day", lambda t: f"{t:%Y-%m-%d}"),
    "w": ("week", lambda t: "{}-W{:02d}".format(*t.isocalendar()[:2])),
    "m": ("month", lambda t: f"{t:%Y-%m}"),
    "y": ("year", lambda t: f"{t:%Y}"),
}
_RULE = re.compile(r"^(\d+)([a-z])$")


@dataclass(frozen=True)
class Retention:
    """A parsed retention spec: ``(unit, count)`` rules in the order given."""

    spec: str
    rules: tuple[tuple[str, int], ...]


def parse_keep(spec: str) -> Retention:
    """Parse ``"7d,4w,3m"`` (d days, w ISO weeks, m months, y years).

    :raises ValueError: with a message naming the bad part and the expected form.
    """
    form = ("expected comma-separated counts of days, weeks, months or years, "
            "such as 7d,4w,3m")
    parts = [part.strip().lower() for part in (spec or "").split(",")]
    if not spec or not spec.strip() or any(not part for part in parts):
        raise ValueError(f"{spec!r} is not a retention: {form}.")
    rules: list[tuple[str, int]] = []
    for part in parts:
        match = _RULE.match(part)
        if match is None or match.group(2) not in UNITS:
            raise ValueError(f"{part!r} in {spec!r} is not a count and a unit (d, w, m or y): "
                             f"{form}.")
        count, unit = int(match.group(1)), match.group(2)
        if count < 1:
            raise ValueError(f"{part!r} in {spec!r} keeps nothing: counts start at 1.")
        if unit in (u for u, _ in rules):
            raise ValueError(f"{spec!r} names the {UNITS[unit][0]}s twice.")
        rules.append((unit, count))
    return Retention(spec=",".join(f"{n}{u}" for u, n in rules), rules=tuple(rules))


def backup_time(name: str) -> datetime | None:
    """Return the UTC time in a backup's file name, or None if ``erp backup`` did not name it."""
    match = BACKUP_NAME.match(name)
    if match is None:
        return None
    try:
        return datetime.strptime(match.group(1), "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
    except ValueError:  # erp-20261399-...: not a date, so not ours
        return None


@dataclass
class Plan:
    """What a retention keeps (file name -> why) and removes, newest first."""

    kept: dict[str, list[str]] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)


def plan(names: Iterable[str], retention: Retention, *, protect: str | None = None) -> Plan:
    """Decide which of the backup file ``names`` the retention keeps; nothing is deleted.

    Names that are not backups made by ``erp backup`` are ignored (neither kept nor removed).
    ``protect`` (the backup just made) is always kept.
    """
    dated = sorted(((t, name) for name in set(names) if (t := backup_time(name)) is not None),
                   reverse=True)
    reasons: dict[str, list[str]] = {name: [] for _, name in dated}
    if protect in reasons:
        reasons[protect].append("just made")
    for unit, count in retention.rules:
        label, period_of = UNITS[unit]
        seen: list[str] = []
        for moment, name in dated:  # newest first: the first of each period is its newest
            period = period_of(moment)
            if period in seen:
                continue
            if len(seen) == count:
                break
            seen.append(period)
            reasons[name].append(f"{label} {period}")
    result = Plan()
    for _, name in dated:
        if reasons[name]:
            result.kept[name] = reasons[name]
        else:
            result.removed.append(name)
    return result


def prune(directory: str, retention: Retention, *, protect: str, kind: str) -> Plan:
    """Remove the backups in ``directory`` that ``retention`` does not keep; return the plan.

    Only files of ``kind`` (``".sqlite3"`` or ``".dump"``) named by ``erp backup`` are
    considered. ``protect`` is the file name (no directory) of the backup just made.

    :raises BackupError: if a file cannot be removed (the ones before it are gone).
    """
    names = [entry.name for entry in os.scandir(directory)
             if entry.is_file(follow_symlinks=False) and entry.name.endswith(kind)]
    result = plan(names, retention, protect=protect)
    for name in result.removed:
        try:
            os.unlink(os.path.join(directory, name))
        except OSError as exc:
            raise BackupError(f"Could not remove the old backup {name}: {exc}") from exc
    return result

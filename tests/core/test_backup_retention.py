"""``erp backup --keep 7d,4w,3m``: the retention keeps the right backups of crafted dates."""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from erp.core.backup_retention import backup_time, parse_keep, plan
from erp.core.models import AuditEvent
from erp.extensions import db
from tests.conftest import PG_URL


def name(moment: str, kind: str = "sqlite3") -> str:
    """Return the file name ``erp backup`` gives a backup made at ``"2026-12-07 02:00"``."""
    return f"erp-{datetime.fromisoformat(moment):%Y%m%d-%H%M%S}.{kind}"


def days(first: str, last: str, at: str = "02:00") -> list[str]:
    """Return a backup name for every day from ``first`` to ``last`` (inclusive) at ``at``."""
    day, end = datetime.fromisoformat(first), datetime.fromisoformat(last)
    out = []
    while day <= end:
        out.append(name(f"{day:%Y-%m-%d} {at}"))
        day += timedelta(days=1)
    return out


def test_parse_keep_accepts_counts_of_days_weeks_months_years():
    assert parse_keep("7d,4w,3m").rules == (("d", 7), ("w", 4), ("m", 3))
    assert parse_keep(" 14D , 2y ").spec == "14d,2y"
    assert parse_keep("1w").rules == (("w", 1),)


@pytest.mark.parametrize(("spec", "message"), [
    ("", "is not a retention: expected comma-separated counts"),
    ("   ", "is not a retention"),
    ("7d,,3m", "is not a retention"),
    ("7x", "'7x' in '7x' is not a count and a unit (d, w, m or y)"),
    ("d7", "is not a count and a unit"),
    ("7 days", "is not a count and a unit"),
    ("-1d", "is not a count and a unit"),
    ("0d,4w", "'0d' in '0d,4w' keeps nothing"),
    ("7d,4w,2d", "names the days twice"),
])
def test_parse_keep_refuses_bad_specs_saying_why(spec, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_keep(spec)


def test_backup_time_reads_only_names_erp_backup_gives():
    assert backup_time("erp-20261207-020304.sqlite3") == datetime(2026, 12, 7, 2, 3, 4, tzinfo=UTC)
    assert backup_time("erp-20261207-020304.dump") is not None
    for other in ("erp-20261207-020304.sqlite3.partial", "erp-20261399-000000.sqlite3",
                  "mine-20261207-020304.sqlite3", "erp-20261207.sqlite3", "erp.bak",
                  "erp-20261207-020304.sqlite3-wal"):
        assert backup_time(other) is None, other


def test_7d_4w_3m_keeps_the_newest_of_each_day_week_and_month():
    # daily at 02:00 since late November (a second one on the 6th), and monthly ends before
    made = name("2026-12-07 02:00")  # a Monday: ISO week 2026-W50 starts
    names = [made, name("2026-12-06 14:00"), *days("2026-11-20", "2026-12-06"),
             name("2026-11-01 02:00"), name("2026-10-31 02:00"), name("2026-10-15 02:00"),
             name("2026-09-30 02:00"), name("2026-08-31 02:00")]

    result = plan(names, parse_keep("7d,4w,3m"), protect=made)

    assert result.kept == {
        made: ["just made", "day 2026-12-07", "week 2026-W50", "month 2026-12"],
        name("2026-12-06 14:00"): ["day 2026-12-06", "week 2026-W49"],  # the newest that day
        **{name(f"2026-12-0{d} 02:00"): [f"day 2026-12-0{d}"] for d in (5, 4, 3, 2, 1)},
        name("2026-11-30 02:00"): ["month 2026-11"],  # a Monday of W49: Dec 6 is its newest
        name("2026-11-29 02:00"): ["week 2026-W48"],
        name("2026-11-22 02:00"): ["week 2026-W47"],
        name("2026-10-31 02:00"): ["month 2026-10"],
    }
    assert set(result.removed) == set(names) - set(result.kept)
    assert name("2026-12-06 02:00") in result.removed  # an older one of a kept day
    assert name("2026-09-30 02:00") in result.removed  # a fourth month: beyond 3m
    assert result.removed == sorted(result.removed, reverse=True)  # newest first


def test_periods_without_backups_do_not_count():
    # the backups stopped in June; the first one since must not wipe June's
    made = name("2026-12-07 02:00")
    june = days("2026-06-01", "2026-06-30")

    result = plan([made, *june], parse_keep("7d"), protect=made)

    assert list(result.kept) == [made, *sorted(june, reverse=True)[:6]]
    assert len(result.removed) == 24


def test_the_backup_just_made_is_kept_even_when_no_rule_would():
    # a clock set back: the new backup is not the newest of its day
    made = name("2026-12-07 01:00")
    later = name("2026-12-07 23:00")
    result = plan([made, later], parse_keep("1d"), protect=made)
    assert result.kept == {later: ["day 2026-12-07"], made: ["just made"]}
    assert result.removed == []


def test_other_files_are_neither_kept_nor_removed():
    made = name("2026-12-07 02:00")
    others = ["notes.txt", "erp-20261206-020000.sqlite3.partial", "erp-20261399-000000.sqlite3",
              "my-copy.sqlite3"]
    result = plan([made, *others], parse_keep("1d"), protect=made)
    assert result.kept == {made: ["just made", "day 2026-12-07"]}
    assert result.removed == []


def test_cli_backup_keep_prunes_the_backup_directory(app, runner):
    directory = os.path.join(app.instance_path, "backups")
    os.makedirs(directory)
    kind = "dump" if PG_URL else "sqlite3"
    now = datetime.now(UTC)
    old = [f"erp-{now - timedelta(days=n):%Y%m%d-%H%M%S}.{kind}" for n in (1, 2, 3, 9, 400)]
    other_kind = f"erp-{now - timedelta(days=5):%Y%m%d-%H%M%S}." + \
        ("sqlite3" if PG_URL else "dump")
    untouched = ["notes.txt", other_kind, f"{old[3]}.partial"]
    for file in [*old, *untouched]:
        with open(os.path.join(directory, file), "w") as fh:
            fh.write("crafted")

    result = runner.invoke(args=["backup", "--keep", "3d"])

    assert result.exit_code == 0, result.output
    made = [f for f in os.listdir(directory) if f not in old and f not in untouched]
    assert len(made) == 1
    assert f"Retention 3d in {directory}: kept 3 backup(s), removed 3." in result.output
    assert f"kept     {made[0]}  (just made, day " in result.output
    for kept in old[:2]:
        assert f"kept     {kept}  (day " in result.output
    for removed in old[2:]:
        assert f"removed  {removed}" in result.output
    assert sorted(os.listdir(directory)) == sorted([*made, *old[:2], *untouched])
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "database.backups_pruned")).one()
    assert event.changes["keep"] == "3d"
    assert event.changes["count"] == 3
    assert sorted(event.changes["removed"]) == sorted(old[2:])

    # a second backup the same day replaces the first as the day's newest; --dir names it so
    time.sleep(1.1)  # names are to the second
    elsewhere = os.path.join(app.instance_path, "elsewhere")
    moved = [f for f in os.listdir(directory) if f != "notes.txt"]
    os.rename(directory, elsewhere)
    again = runner.invoke(args=["backup", "--dir", elsewhere, "--keep", "3d"])
    directory = elsewhere
    assert again.exit_code == 0, again.output
    assert f"removed  {made[0]}" in again.output
    assert "kept 3 backup(s), removed 1." in again.output
    assert not os.path.exists(os.path.join(directory, made[0]))
    assert len(os.listdir(directory)) == len(moved) + 1  # notes.txt, and one made, one removed


def test_cli_backup_refuses_a_bad_keep_before_making_a_backup(app, runner):
    result = runner.invoke(args=["backup", "--keep", "7d,4x"])

    assert result.exit_code == 2
    assert "Invalid value for --keep" in result.output
    assert "'4x' in '7d,4x' is not a count and a unit (d, w, m or y)" in result.output
    assert not os.path.exists(os.path.join(app.instance_path, "backups"))

    both = runner.invoke(args=["backup", "--keep", "7d", "--verify", __file__])
    assert both.exit_code == 2
    assert "--verify checks an existing backup" in both.output
    both = runner.invoke(args=["backup", "--out", "x.bak", "--dir", app.instance_path])
    assert both.exit_code == 2
    assert "Give --out FILE or --dir DIRECTORY, not both." in both.output

"""ISO 2859-1 single sampling: Table 1 at every band edge, the arrows, and clause 9 switching.

The expected figures are the worked examples of the reference (shared/reference/sampling.md §8)
and the printed tables, not the module's own data.
"""

from decimal import Decimal

import pytest

from erp.quality import sampling
from erp.quality.sampling import Severity, code_letter, single_plan

N, T, R = Severity.normal, Severity.tightened, Severity.reduced

# Table 1 with each band's first and last lot size; letters for S-1 S-2 S-3 S-4 I II III
BANDS = [(2, 8, "AAAAAAB"), (9, 15, "AAAAABC"), (16, 25, "AABBBCD"), (26, 50, "ABBCCDE"),
         (51, 90, "BBCCCEF"), (91, 150, "BBCDDFG"), (151, 280, "BCDEEGH"),
         (281, 500, "BCDEFHJ"), (501, 1200, "CCEFGJK"), (1201, 3200, "CDEGHKL"),
         (3201, 10000, "CDFGJLM"), (10001, 35000, "CDFHKMN"), (35001, 150000, "DEGJLNP"),
         (150001, 500000, "DEGJMPQ"), (500001, 10_000_000, "DEHKNQR")]


@pytest.mark.parametrize(("low", "high", "letters"), BANDS)
def test_code_letter_at_each_band_edge(low, high, letters):
    for level, letter in zip(sampling.LEVELS, letters, strict=True):
        assert code_letter(low, level) == letter, (low, level)
        assert code_letter(high, level) == letter, (high, level)


def test_code_letter_refuses_what_is_not_a_lot_or_a_level():
    assert code_letter(1, "II") == "A"  # a lot of one unit: the first band
    with pytest.raises(ValueError, match="at least one unit"):
        code_letter(0, "II")
    with pytest.raises(ValueError, match="unknown inspection level"):
        code_letter(100, "IV")
    with pytest.raises(ValueError, match="not in the tables"):
        single_plan(100, "II", "3.0")
    with pytest.raises(ValueError, match="not a number"):
        single_plan(100, "II", "two")


# reference §8: N, level, AQL, severity, code letter, letter used, table n, n drawn, Ac, Re
EXAMPLES = [
    (1000, "II", "1.5", N, "J", "J", 80, 80, 3, 4),
    (20, "I", "1.5", N, "B", "D", 8, 8, 0, 1),           # two arrows down
    (125, "III", "1.0", R, "G", "J", 32, 32, 1, 2),
    (5000, "II", "2.5", N, "L", "L", 200, 200, 10, 11),
    (12000, "II", "2.5", N, "M", "M", 315, 315, 14, 15),
    (12000, "II", "4.0", N, "M", "M", 315, 315, 21, 22),
    (1000, "II", "1.0", N, "J", "J", 80, 80, 2, 3),
    (1000, "II", "1.0", T, "J", "J", 80, 80, 1, 2),
    (500, "II", "2.5", N, "H", "H", 50, 50, 3, 4),
    (2400, "II", "2.5", N, "K", "K", 125, 125, 7, 8),
    (30, "II", "0.065", N, "D", "L", 200, 30, 0, 1),     # n >= N: all 30 inspected
    (8, "II", "1.0", N, "A", "E", 13, 8, 0, 1),
    (3, "II", "10", N, "A", "C", 5, 3, 1, 2),
    (10, "II", "6.5", N, "B", "A", 2, 2, 0, 1),          # an arrow up: a smaller sample
    (50, "II", "4.0", N, "D", "E", 13, 13, 1, 2),
    (800, "S-3", "2.5", N, "E", "F", 20, 20, 1, 2),
    (800, "S-4", "2.5", N, "F", "F", 20, 20, 1, 2),
    (3000, "II", "0.65", N, "K", "K", 125, 125, 2, 3),
    (3000, "II", "0.65", T, "K", "K", 125, 125, 1, 2),
    (3000, "II", "0.65", R, "K", "K", 50, 50, 1, 2),
    (300, "II", "0.65", R, "H", "K", 50, 50, 1, 2),
    (40000, "II", "4.0", N, "N", "M", 315, 315, 21, 22),  # an arrow up at a large AQL
    (600000, "II", "0.025", T, "Q", "S", 3150, 3150, 1, 2),
    (600000, "III", "0.015", N, "R", "P", 800, 800, 0, 1),
    (600000, "III", "0.015", R, "R", "P", 315, 315, 0, 1),
    (1000, "II", "4.0", R, "J", "J", 32, 32, 5, 6),      # a † cell: GB/T 2828.1's 5/6
]


@pytest.mark.parametrize(("lot", "level", "aql", "severity", "letter", "used", "table_n", "n",
                          "ac", "re"), EXAMPLES)
def test_worked_examples(lot, level, aql, severity, letter, used, table_n, n, ac, re):
    plan = single_plan(lot, level, aql, severity)
    assert (plan.code_letter, plan.used_letter, plan.table_n, plan.n, plan.ac, plan.re) == (
        letter, used, table_n, n, ac, re)
    assert plan.full is (table_n >= lot)
    assert plan.accepts(ac)
    assert not plan.accepts(re)


# arrows at the corners of each table, and the two cells on which the sources disagree
ARROWS = [
    (N, "L", "10", "K", 21), (N, "R", "1.0", "Q", 21), (N, "A", "0.065", "L", 0),
    (N, "M", "0.10", "N", 1), (N, "A", "0.010", "Q", 0), (N, "Q", "0.025", "R", 1),
    (N, "R", "0.040", "R", 2), (N, "N", "0.040", "M", 0), (N, "P", "0.040", "Q", 1),
    (T, "L", "10", "K", 18), (T, "A", "0.065", "M", 0), (T, "C", "10", "D", 1),
    (T, "A", "10", "D", 1),       # ‡: the ISO port and MIL-STD-105E, not GB/T's own 0/1
    (T, "P", "0.025", "P", 0), (T, "R", "0.025", "S", 1),
    (R, "L", "10", "K", 10), (R, "B", "6.5", "A", 0), (R, "A", "4.0", "B", 0),
    (R, "G", "10", "G", 5),       # †: GB/T 2828.1's 5/6, not the port's 4/5
    (R, "R", "0.15", "R", 5), (R, "K", "0.25", "M", 1), (R, "R", "0.040", "R", 1),
]


@pytest.mark.parametrize(("severity", "row", "aql", "used", "ac"), ARROWS)
def test_arrow_cells(severity, row, aql, used, ac):
    assert sampling._cell(severity, row, Decimal(aql)) == (used, ac)


@pytest.mark.parametrize("severity", list(Severity))
def test_every_arrow_ends_on_a_plan_of_its_own(severity):
    """An arrow leads to a cell with numbers: that cell, read in its own row, is the same plan."""
    table = sampling.TABLES[severity]
    for letter, cells in table.items():
        assert len(cells) == len(sampling.AQLS), letter
        for aql in sampling.AQLS:
            used, ac = sampling._cell(severity, letter, aql)
            if used in table:
                assert sampling._cell(severity, used, aql) == (used, ac), (letter, aql)
            else:
                assert (severity, used) == (T, "S")  # S exists only in Table 2-B


@pytest.mark.parametrize("severity", list(Severity))
def test_down_a_column_the_sample_never_shrinks_and_along_a_row_ac_never_falls(severity):
    sizes = sampling.REDUCED_SAMPLE_SIZE if severity == R else sampling.SAMPLE_SIZE
    letters = list(sampling.TABLES[severity])
    for aql in sampling.AQLS:
        ns = [sizes.get(sampling._cell(severity, letter, aql)[0], 3150) for letter in letters]
        assert ns == sorted(ns), (severity, aql)
    for letter in letters:
        acs = [sampling._cell(severity, letter, aql)[1] for aql in sampling.AQLS]
        assert acs == sorted(acs), (severity, letter)


def test_classes_of_a_lot_and_the_zero_plan():
    plans = sampling.plans_for_lot(12000, "II", {"critical": None, "major": "2.5",
                                                 "minor": "4.0"})
    assert [(p.n, p.ac, p.re) for p in plans.values()] == [(315, 0, 1), (315, 14, 15),
                                                            (315, 21, 22)]
    # classes with different samples: the largest is drawn, "0" is judged on all of it
    plans = sampling.plans_for_lot(50, "II", {"critical": None, "major": "0.65",
                                              "minor": "4.0"})
    assert (plans["major"].n, plans["minor"].n, plans["critical"].n) == (20, 13, 20)
    assert sampling.sample_size(plans) == 20
    # a tiny lot: everything is inspected
    plans = sampling.plans_for_lot(5, "II", {"critical": None, "major": "1.0"})
    assert plans["major"].full
    assert plans["critical"].n == 5


# --------------------------------------------------------------------------- switching


def _run(state, plan, counts, *, allowed=False):
    for found in counts:
        state = sampling.next_state(state, accepted=plan.accepts(found), found=found, plan=plan,
                                    reduced_allowed=allowed)
    return state


def test_switching_score_follows_the_reference_example():
    plan = single_plan(1000, "II", "2.5")   # J, n 80, Ac 5; one step tighter (1.5): Ac 3
    assert (plan.used_letter, plan.ac, sampling.tighter_ac(plan)) == ("J", 5, 3)
    state, scores = sampling.initial_state(), []
    for found in (0, 2, 4, 1, 3):
        state = _run(state, plan, [found])
        scores.append(state.score)
    assert scores == [3, 6, 0, 3, 6]


def test_normal_turns_reduced_at_score_30_only_when_allowed():
    plan = single_plan(1000, "II", "2.5")
    assert _run(sampling.initial_state(), plan, [0] * 9, allowed=True).severity == N
    assert _run(sampling.initial_state(), plan, [0] * 10, allowed=True).severity == R
    not_allowed = _run(sampling.initial_state(), plan, [0] * 12)
    assert (not_allowed.severity, not_allowed.score) == (N, 36)
    small = single_plan(1000, "II", "0.65")  # Ac 1: +2 a lot, 15 lots to reach 30
    assert small.ac == 1
    assert _run(sampling.initial_state(), small, [0] * 14, allowed=True).severity == N
    assert _run(sampling.initial_state(), small, [0] * 15, allowed=True).severity == R


def test_two_rejections_within_five_lots_tighten_and_five_accepted_lots_relax():
    plan = single_plan(1000, "II", "2.5")
    state = _run(sampling.initial_state(), plan, [6, 0, 0, 0, 0])  # one rejection in five
    assert state.severity == N
    state = _run(state, plan, [6])         # the first rejection has left the window of five
    assert state.severity == N
    state = _run(state, plan, [0, 0, 6])   # two within five consecutive lots
    assert state.severity == T
    tightened = single_plan(1000, "II", "2.5", T)
    state = _run(state, tightened, [0, 0, 0, 0])
    assert (state.severity, state.accepted_in_a_row) == (T, 4)
    state = _run(state, tightened, [0])
    assert state == sampling.initial_state()


def test_five_rejections_on_tightened_discontinue_until_resumed():
    tightened = single_plan(1000, "II", "2.5", T)
    state = sampling.SwitchState(severity=T)
    state = _run(state, tightened, [9, 0, 9, 9, 0, 9])   # accepted lots do not clear the count
    assert (state.rejected_on_tightened, state.discontinued) == (4, False)
    state = _run(state, tightened, [9])
    assert state.discontinued
    with pytest.raises(ValueError, match="discontinued"):
        _run(state, tightened, [0])
    assert sampling.resume(state) == sampling.SwitchState(severity=T)


def test_reduced_returns_to_normal_on_a_rejection_or_when_no_longer_allowed():
    reduced = single_plan(1000, "II", "2.5", R)
    state = sampling.SwitchState(severity=R)
    assert _run(state, reduced, [0], allowed=True) == state
    assert _run(state, reduced, [reduced.re], allowed=True) == sampling.initial_state()
    assert _run(state, reduced, [0], allowed=False) == sampling.initial_state()

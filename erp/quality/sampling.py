"""ISO 2859-1:1999 (= GB/T 2828.1-2012) single sampling plans by attributes, and switching.

The tables are data, never computed: several cells follow no formula. They are Table 1 (sample
size code letters) and Tables 2-A, 2-B and 2-C (single sampling for normal, tightened and reduced
inspection) of GB/T 2828.1-2012, an identical adoption of ISO 2859-1:1999, with the arrows
resolved: each cell names the code letter whose sample size is used and the acceptance number Ac
(the rejection number Re is Ac + 1 in every cell of these tables). Their source and the
cell-by-cell cross-check are in ``shared/reference/sampling.md``; the tests hold its worked
examples.

Two cells on which the sources disagree, and what is used here:

* Table 2-B (tightened), code letter A at AQL 10: ↓D, n 8, 1/2 (ISO 2859-1:1999 port and the
  three MIL-STD-105E / Z1.4 sources) rather than A's own 0/1 (the GB/T transcription alone): it
  is the plan the rest of that column points to.
* Table 2-C (reduced), the diagonal G 10 … R 0.15: 5/6, as the GB/T transcription gives and two
  reviewers checked against the printed page, rather than the port's 4/5.

Sampling per defect class (reference §2): each class with an AQL has its own plan. The
inspector draws the largest sample of the classes; a class whose plan is smaller is judged on
the first ``n`` units of that sample. A class without an AQL (critical, "0": nothing accepted)
is judged with Ac 0 / Re 1 on the whole sample (:func:`zero_plan`).

Switching (clause 9, reference §7) runs per defect class over the lots of one supplier and
specification: :func:`next_state` after each original inspection.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum

STANDARD = "ISO 2859-1:1999 / GB/T 2828.1-2012"

#: inspection levels: special S-1 to S-4, general I to III (II unless the contract says otherwise)
LEVELS = ("S-1", "S-2", "S-3", "S-4", "I", "II", "III")
DEFAULT_LEVEL = "II"

#: the AQLs of the tables, in percent nonconforming (above 10 the tables count
#: nonconformities per 100 units, which a receiving check of defective units does not use)
AQLS = tuple(Decimal(a) for a in ("0.010", "0.015", "0.025", "0.040", "0.065", "0.10", "0.15",
                                  "0.25", "0.40", "0.65", "1.0", "1.5", "2.5", "4.0", "6.5", "10"))


class Severity(StrEnum):
    """The severity of inspection a defect class is under (clause 9)."""

    normal = "normal"
    tightened = "tightened"
    reduced = "reduced"


#: Table 1: the largest lot size of each band, and the code letter at each level of LEVELS
TABLE_1: tuple[tuple[int | None, str], ...] = (
    (8, "AAAAAAB"),
    (15, "AAAAABC"),
    (25, "AABBBCD"),
    (50, "ABBCCDE"),
    (90, "BBCCCEF"),
    (150, "BBCDDFG"),
    (280, "BCDEEGH"),
    (500, "BCDEFHJ"),
    (1200, "CCEFGJK"),
    (3200, "CDEGHKL"),
    (10000, "CDFGJLM"),
    (35000, "CDFHKMN"),
    (150000, "DEGJLNP"),
    (500000, "DEGJMPQ"),
    (None, "DEHKNQR"),
)

#: sample size of each code letter: normal and tightened (S exists in Table 2-B only)
SAMPLE_SIZE = {"A": 2, "B": 3, "C": 5, "D": 8, "E": 13, "F": 20, "G": 32, "H": 50, "J": 80,
               "K": 125, "L": 200, "M": 315, "N": 500, "P": 800, "Q": 1250, "R": 2000, "S": 3150}
#: sample size of each code letter under reduced inspection (Table 2-C)
REDUCED_SAMPLE_SIZE = {"A": 2, "B": 2, "C": 2, "D": 3, "E": 5, "F": 8, "G": 13, "H": 20, "J": 32,
                       "K": 50, "L": 80, "M": 125, "N": 200, "P": 315, "Q": 500, "R": 800}

# Tables 2-A, 2-B and 2-C: for each code letter, one cell per AQL of AQLS: the code letter
# whose sample is used (the arrow resolved) followed by Ac; Re = Ac + 1.

NORMAL: dict[str, tuple[str, ...]] = {
    "A": ("Q0", "P0", "N0", "M0", "L0", "K0", "J0", "H0",
          "G0", "F0", "E0", "D0", "C0", "B0", "A0", "C1"),
    "B": ("Q0", "P0", "N0", "M0", "L0", "K0", "J0", "H0",
          "G0", "F0", "E0", "D0", "C0", "B0", "A0", "C1"),
    "C": ("Q0", "P0", "N0", "M0", "L0", "K0", "J0", "H0",
          "G0", "F0", "E0", "D0", "C0", "B0", "D1", "C1"),
    "D": ("Q0", "P0", "N0", "M0", "L0", "K0", "J0", "H0",
          "G0", "F0", "E0", "D0", "C0", "E1", "D1", "D2"),
    "E": ("Q0", "P0", "N0", "M0", "L0", "K0", "J0", "H0",
          "G0", "F0", "E0", "D0", "F1", "E1", "E2", "E3"),
    "F": ("Q0", "P0", "N0", "M0", "L0", "K0", "J0", "H0",
          "G0", "F0", "E0", "G1", "F1", "F2", "F3", "F5"),
    "G": ("Q0", "P0", "N0", "M0", "L0", "K0", "J0", "H0",
          "G0", "F0", "H1", "G1", "G2", "G3", "G5", "G7"),
    "H": ("Q0", "P0", "N0", "M0", "L0", "K0", "J0", "H0",
          "G0", "J1", "H1", "H2", "H3", "H5", "H7", "H10"),
    "J": ("Q0", "P0", "N0", "M0", "L0", "K0", "J0", "H0",
          "K1", "J1", "J2", "J3", "J5", "J7", "J10", "J14"),
    "K": ("Q0", "P0", "N0", "M0", "L0", "K0", "J0", "L1",
          "K1", "K2", "K3", "K5", "K7", "K10", "K14", "K21"),
    "L": ("Q0", "P0", "N0", "M0", "L0", "K0", "M1", "L1",
          "L2", "L3", "L5", "L7", "L10", "L14", "L21", "K21"),
    "M": ("Q0", "P0", "N0", "M0", "L0", "N1", "M1", "M2",
          "M3", "M5", "M7", "M10", "M14", "M21", "L21", "K21"),
    "N": ("Q0", "P0", "N0", "M0", "P1", "N1", "N2", "N3",
          "N5", "N7", "N10", "N14", "N21", "M21", "L21", "K21"),
    "P": ("Q0", "P0", "N0", "Q1", "P1", "P2", "P3", "P5",
          "P7", "P10", "P14", "P21", "N21", "M21", "L21", "K21"),
    "Q": ("Q0", "P0", "R1", "Q1", "Q2", "Q3", "Q5", "Q7",
          "Q10", "Q14", "Q21", "P21", "N21", "M21", "L21", "K21"),
    "R": ("Q0", "P0", "R1", "R2", "R3", "R5", "R7", "R10",
          "R14", "R21", "Q21", "P21", "N21", "M21", "L21", "K21"),
}

TIGHTENED: dict[str, tuple[str, ...]] = {
    "A": ("R0", "Q0", "P0", "N0", "M0", "L0", "K0", "J0",
          "H0", "G0", "F0", "E0", "D0", "C0", "B0", "D1"),
    "B": ("R0", "Q0", "P0", "N0", "M0", "L0", "K0", "J0",
          "H0", "G0", "F0", "E0", "D0", "C0", "B0", "D1"),
    "C": ("R0", "Q0", "P0", "N0", "M0", "L0", "K0", "J0",
          "H0", "G0", "F0", "E0", "D0", "C0", "E1", "D1"),
    "D": ("R0", "Q0", "P0", "N0", "M0", "L0", "K0", "J0",
          "H0", "G0", "F0", "E0", "D0", "F1", "E1", "D1"),
    "E": ("R0", "Q0", "P0", "N0", "M0", "L0", "K0", "J0",
          "H0", "G0", "F0", "E0", "G1", "F1", "E1", "E2"),
    "F": ("R0", "Q0", "P0", "N0", "M0", "L0", "K0", "J0",
          "H0", "G0", "F0", "H1", "G1", "F1", "F2", "F3"),
    "G": ("R0", "Q0", "P0", "N0", "M0", "L0", "K0", "J0",
          "H0", "G0", "J1", "H1", "G1", "G2", "G3", "G5"),
    "H": ("R0", "Q0", "P0", "N0", "M0", "L0", "K0", "J0",
          "H0", "K1", "J1", "H1", "H2", "H3", "H5", "H8"),
    "J": ("R0", "Q0", "P0", "N0", "M0", "L0", "K0", "J0",
          "L1", "K1", "J1", "J2", "J3", "J5", "J8", "J12"),
    "K": ("R0", "Q0", "P0", "N0", "M0", "L0", "K0", "M1",
          "L1", "K1", "K2", "K3", "K5", "K8", "K12", "K18"),
    "L": ("R0", "Q0", "P0", "N0", "M0", "L0", "N1", "M1",
          "L1", "L2", "L3", "L5", "L8", "L12", "L18", "K18"),
    "M": ("R0", "Q0", "P0", "N0", "M0", "P1", "N1", "M1",
          "M2", "M3", "M5", "M8", "M12", "M18", "L18", "K18"),
    "N": ("R0", "Q0", "P0", "N0", "Q1", "P1", "N1", "N2",
          "N3", "N5", "N8", "N12", "N18", "M18", "L18", "K18"),
    "P": ("R0", "Q0", "P0", "R1", "Q1", "P1", "P2", "P3",
          "P5", "P8", "P12", "P18", "N18", "M18", "L18", "K18"),
    "Q": ("R0", "Q0", "S1", "R1", "Q1", "Q2", "Q3", "Q5",
          "Q8", "Q12", "Q18", "P18", "N18", "M18", "L18", "K18"),
    "R": ("R0", "Q0", "S1", "R1", "R2", "R3", "R5", "R8",
          "R12", "R18", "Q18", "P18", "N18", "M18", "L18", "K18"),
}

REDUCED: dict[str, tuple[str, ...]] = {
    "A": ("Q0", "P0", "N0", "M0", "L0", "K0", "J0", "H0",
          "G0", "F0", "E0", "D0", "C0", "B0", "A0", "D1"),
    "B": ("Q0", "P0", "N0", "M0", "L0", "K0", "J0", "H0",
          "G0", "F0", "E0", "D0", "C0", "B0", "A0", "D1"),
    "C": ("Q0", "P0", "N0", "M0", "L0", "K0", "J0", "H0",
          "G0", "F0", "E0", "D0", "C0", "B0", "E1", "D1"),
    "D": ("Q0", "P0", "N0", "M0", "L0", "K0", "J0", "H0",
          "G0", "F0", "E0", "D0", "C0", "F1", "E1", "D1"),
    "E": ("Q0", "P0", "N0", "M0", "L0", "K0", "J0", "H0",
          "G0", "F0", "E0", "D0", "G1", "F1", "E1", "E2"),
    "F": ("Q0", "P0", "N0", "M0", "L0", "K0", "J0", "H0",
          "G0", "F0", "E0", "H1", "G1", "F1", "F2", "F3"),
    "G": ("Q0", "P0", "N0", "M0", "L0", "K0", "J0", "H0",
          "G0", "F0", "J1", "H1", "G1", "G2", "G3", "G5"),
    "H": ("Q0", "P0", "N0", "M0", "L0", "K0", "J0", "H0",
          "G0", "K1", "J1", "H1", "H2", "H3", "H5", "H6"),
    "J": ("Q0", "P0", "N0", "M0", "L0", "K0", "J0", "H0",
          "L1", "K1", "J1", "J2", "J3", "J5", "J6", "J8"),
    "K": ("Q0", "P0", "N0", "M0", "L0", "K0", "J0", "M1",
          "L1", "K1", "K2", "K3", "K5", "K6", "K8", "K10"),
    "L": ("Q0", "P0", "N0", "M0", "L0", "K0", "N1", "M1",
          "L1", "L2", "L3", "L5", "L6", "L8", "L10", "K10"),
    "M": ("Q0", "P0", "N0", "M0", "L0", "P1", "N1", "M1",
          "M2", "M3", "M5", "M6", "M8", "M10", "L10", "K10"),
    "N": ("Q0", "P0", "N0", "M0", "Q1", "P1", "N1", "N2",
          "N3", "N5", "N6", "N8", "N10", "M10", "L10", "K10"),
    "P": ("Q0", "P0", "N0", "R1", "Q1", "P1", "P2", "P3",
          "P5", "P6", "P8", "P10", "N10", "M10", "L10", "K10"),
    "Q": ("Q0", "P0", "N0", "R1", "Q1", "Q2", "Q3", "Q5",
          "Q6", "Q8", "Q10", "P10", "N10", "M10", "L10", "K10"),
    "R": ("Q0", "P0", "N0", "R1", "R2", "R3", "R5", "R6",
          "R8", "R10", "Q10", "P10", "N10", "M10", "L10", "K10"),
}

TABLES = {Severity.normal: NORMAL, Severity.tightened: TIGHTENED, Severity.reduced: REDUCED}


@dataclass(frozen=True)
class Plan:
    """A single sampling plan for one lot and one defect class.

    ``table_n`` is the sample size of the code letter used; ``n`` is what is drawn: all the lot
    when the table asks for as many units as the lot holds or more (``full``).
    """

    standard: str
    level: str
    aql: Decimal | None
    severity: Severity
    lot_size: int
    code_letter: str
    used_letter: str
    table_n: int
    n: int
    ac: int
    re: int

    @property
    def full(self) -> bool:
        """Return whether every unit of the lot is inspected (n >= N: 100 % inspection)."""
        return self.table_n >= self.lot_size

    def accepts(self, found: int) -> bool:
        """Return whether ``found`` nonconforming units accept the lot (d <= Ac)."""
        if found < 0:
            raise ValueError("a count of nonconforming units cannot be negative")
        return found <= self.ac


def clean_level(level: str) -> str:
    """Return the inspection level as the tables name it; ValueError when there is none."""
    value = str(level or "").strip().upper()
    if value not in LEVELS:
        raise ValueError(f"unknown inspection level {level!r}: use one of {', '.join(LEVELS)}")
    return value


def clean_aql(aql: Decimal | str | float) -> Decimal:
    """Return the AQL of the tables equal to ``aql``; ValueError when the tables have none."""
    try:
        value = Decimal(str(aql).strip())
    except (InvalidOperation, ValueError):
        raise ValueError(f"AQL {aql!r} is not a number") from None
    for known in AQLS:
        if known == value:
            return known
    raise ValueError(f"AQL {aql} is not in the tables: use one of "
                     + ", ".join(str(a) for a in AQLS))


def code_letter(lot_size: int, level: str = DEFAULT_LEVEL) -> str:
    """Return Table 1's code letter for a lot of ``lot_size`` units at an inspection level."""
    if int(lot_size) < 1:
        raise ValueError("a lot holds at least one unit")
    column = LEVELS.index(clean_level(level))
    for upper, letters in TABLE_1:
        if upper is None or lot_size <= upper:
            return letters[column]
    raise AssertionError("unreachable: the last band of Table 1 is open-ended")


def _cell(severity: Severity, letter: str, aql: Decimal) -> tuple[str, int]:
    cell = TABLES[severity][letter][AQLS.index(aql)]
    return cell[0], int(cell[1:])


def _sample_size(severity: Severity, letter: str) -> int:
    return (REDUCED_SAMPLE_SIZE if severity == Severity.reduced else SAMPLE_SIZE)[letter]


def single_plan(lot_size: int, level: str, aql: Decimal | str,
                severity: Severity | str = Severity.normal) -> Plan:
    """Return the single sampling plan for a lot, an inspection level, an AQL and a severity."""
    severity = Severity(severity)
    level, aql = clean_level(level), clean_aql(aql)
    letter = code_letter(lot_size, level)
    used, ac = _cell(severity, letter, aql)
    table_n = _sample_size(severity, used)
    return Plan(standard=STANDARD, level=level, aql=aql, severity=severity,
                lot_size=int(lot_size), code_letter=letter, used_letter=used, table_n=table_n,
                n=min(table_n, int(lot_size)), ac=ac, re=ac + 1)


def zero_plan(n: int, lot_size: int, level: str = DEFAULT_LEVEL) -> Plan:
    """Return the "0" plan of a class without AQL: Ac 0, Re 1 on a sample of ``n`` units."""
    level = clean_level(level)
    letter = code_letter(lot_size, level)
    n = min(int(n), int(lot_size))
    return Plan(standard=STANDARD, level=level, aql=None, severity=Severity.normal,
                lot_size=int(lot_size), code_letter=letter, used_letter=letter, table_n=n, n=n,
                ac=0, re=1)


def plans_for_lot(lot_size: int, level: str, aqls: Mapping[str, Decimal | str | None],
                  severities: Mapping[str, Severity | str] | None = None) -> dict[str, Plan]:
    """Return the plan of each defect class of a lot.

    :param aqls: defect class -> AQL; a class mapped to None gets the "0" plan on the largest
        sample of the other classes (or of the level's code letter when no class has an AQL).
    :param severities: defect class -> severity (normal when absent).
    """
    severities = severities or {}
    plans = {cls: single_plan(lot_size, level, aql, severities.get(cls, Severity.normal))
             for cls, aql in aqls.items() if aql is not None}
    if len(plans) < len(aqls):
        biggest = max((plan.n for plan in plans.values()), default=None)
        if biggest is None:
            biggest = SAMPLE_SIZE[code_letter(lot_size, level)]
        plans.update({cls: zero_plan(biggest, lot_size, level)
                      for cls, aql in aqls.items() if aql is None})
    return {cls: plans[cls] for cls in aqls}


def sample_size(plans: Mapping[str, Plan]) -> int:
    """Return the number of units to draw for a lot: the largest sample of its plans."""
    return max((plan.n for plan in plans.values()), default=0)


# --------------------------------------------------------------------------- switching


@dataclass(frozen=True)
class SwitchState:
    """Where one defect class of one supplier and specification stands in clause 9.

    ``recent``: the results of the latest lots on normal inspection (True: accepted), at most 5;
    ``accepted_in_a_row``: consecutive lots accepted on tightened inspection;
    ``rejected_on_tightened``: lots not accepted since tightened inspection began;
    ``score``: the switching score (normal inspection only).
    """

    severity: Severity = Severity.normal
    score: int = 0
    recent: tuple[bool, ...] = ()
    accepted_in_a_row: int = 0
    rejected_on_tightened: int = 0
    discontinued: bool = False


#: the switching score at which reduced inspection may start
REDUCED_SCORE = 30


def initial_state() -> SwitchState:
    """Return the state inspection starts in: normal, score 0."""
    return SwitchState()


def _start(severity: Severity) -> SwitchState:
    return SwitchState(severity=severity)


def tighter_ac(plan: Plan) -> int | None:
    """Return Ac one AQL step tighter in the row of the code letter used (switching score).

    None when the tighter cell leads to another sample size (the score then resets) or there is
    no tighter AQL.
    """
    if plan.aql is None or plan.aql == AQLS[0]:
        return None
    tighter = AQLS[AQLS.index(plan.aql) - 1]
    used, ac = _cell(Severity.normal, plan.used_letter, tighter)
    return ac if used == plan.used_letter else None


def next_state(state: SwitchState, *, accepted: bool, found: int, plan: Plan,
               reduced_allowed: bool) -> SwitchState:
    """Return the state after a lot's original inspection under ``plan`` (clause 9).

    :param found: the nonconforming units found in the sample (d).
    :param reduced_allowed: the responsible authority agrees to reduced inspection and
        production is steady; without it, normal inspection never turns reduced, and reduced
        inspection returns to normal.
    """
    if state.discontinued:
        raise ValueError("inspection is discontinued: resume it (at tightened) first")
    if state.severity == Severity.tightened:
        if accepted:
            if state.accepted_in_a_row + 1 >= 5:
                return _start(Severity.normal)
            return replace(state, accepted_in_a_row=state.accepted_in_a_row + 1)
        rejected = state.rejected_on_tightened + 1
        return replace(state, accepted_in_a_row=0, rejected_on_tightened=rejected,
                       discontinued=rejected >= 5)
    if state.severity == Severity.reduced:
        if not accepted or not reduced_allowed:
            return _start(Severity.normal)
        return state
    recent = (*state.recent, accepted)[-5:]
    if recent.count(False) >= 2:
        return _start(Severity.tightened)
    if not accepted:
        score = 0
    elif plan.ac >= 2:
        limit = tighter_ac(plan)
        score = state.score + 3 if limit is not None and found <= limit else 0
    else:
        score = state.score + 2
    if score >= REDUCED_SCORE and reduced_allowed:
        return _start(Severity.reduced)
    return replace(state, score=score, recent=recent)


def resume(state: SwitchState) -> SwitchState:
    """Return the state after the supplier's corrective action is accepted: tightened."""
    return _start(Severity.tightened)

"""Figures of the commit before an issue's work, measured in the same run as today's.

Issue 15 (integrity under concurrency) adds locks and checks to the hottest paths; its
benchmarks say the guards must not cost the speed users have today: ``move_tx``,
``order_intake``, ``po_receive`` and ``dispatch`` stay within 10 % of the figures of the commit
before that work, *measured in the same run*, and print both.

So for these benchmarks the runner extracts the tree of :data:`BASELINE_COMMIT` (``git
archive``, into a temporary directory) and runs the same benchmark in both trees, each as a
child process started in its tree's directory: the directory comes first on ``sys.path``, so
each child imports its own ``erp`` and ``bench``. The runs alternate (before, after, then after,
before, ...) so that other work on the machine weighs on both alike, and the line keeps the
median of each side, the before figure as ``<key>_before`` and ``ratio_to_before`` (today's
figure over the before one). :mod:`bench.targets` judges the ratio.

Issue 22 (performance) asks the same of its figures: ``load``, ``load_100``, ``move_tx``,
``sku_export``, ``order_intake`` and ``dashboard_rps`` are printed beside the figure of
:data:`PERF_COMMIT`, the commit before that work. ``load``, ``load_100`` and ``sku_export``
compare with it alone (``<key>_before``, ``ratio_to_before``). ``move_tx``, ``order_intake``
and ``dashboard_rps`` keep their comparison with issue 15's or 16's commit (whose "within
10 %" targets still hold) and print both: the three trees run in turn, today's runs serve
both, and :data:`PERF_COMMIT`'s figures come as ``<key>_before_d4280ff`` and
``ratio_to_d4280ff`` (:data:`ALSO`). Without the first commit's tree there is no comparison at
all, as before; a failing run of the second gives ``before_error_d4280ff``.

Each benchmark compares one figure (:data:`COMPARED`: the first key, which
``ratio_to_before`` divides) and may print others beside theirs (``load``'s ``p95_ms``).

For :data:`PERF_COMMIT` both sides run *today's* benchmark code: ``load_100`` does not exist
at that commit and the benchmarks' code changed since, so the extracted tree's ``bench``
package is replaced by a copy of today's (:data:`SAME_BENCH`) and only ``erp`` (and how the
app is served: the tree's ``gunicorn.conf.py``) is the commit's. Issue 15's and 16's commits
keep their own ``bench``, as before.

``load`` and ``load_100`` take minutes a run: they run one round a side (:data:`ROUNDS_FOR`).

Without git or the commit (an exported tarball, a shallow clone), the benchmark runs as usual
and its line says why it has no before figure (``before_error``).
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.runner import log

#: The last commit before issue 15's work ("Order intake shows the money module's currency
#: message as it is"): the commit whose speed the issue's guards must keep within 10 %. A
#: fixed commit, not ``HEAD~n``, so the comparison means the same thing as main moves on.
BASELINE_COMMIT = "4fae8fe"
#: The last commit before issue 16's role home pages and header search ("Browser tests: a
#: handheld ..."): ``dashboard_rps`` must stay within 10 % of its figure, in the same run.
HOME_COMMIT = "43ae18b"
#: The last commit before issue 22's performance work ("The batch close gathers its 9610
#: parcels once ..."): its figures are printed beside issue 22's.
PERF_COMMIT = "d4280ff"
#: the benchmarks compared with a commit before their issue, and the figures each is compared
#: by: the first gives ``ratio_to_before``, the others are printed beside it
COMPARED = {"move_tx": ("per_second",), "order_intake": ("seconds",),
            "po_receive": ("seconds",), "dispatch": ("seconds",),
            "dashboard_rps": ("per_second",), "sku_export": ("seconds",),
            "load": ("server_cpu_ms_per_request", "p95_ms"),
            "load_100": ("server_cpu_ms_per_request", "p95_ms")}
#: the benchmarks compared with another commit than :data:`BASELINE_COMMIT`
COMMITS = {"dashboard_rps": HOME_COMMIT, "sku_export": PERF_COMMIT, "load": PERF_COMMIT,
           "load_100": PERF_COMMIT}
#: the benchmarks also compared with a second commit, measured in the same alternation
ALSO = {"move_tx": (PERF_COMMIT,), "order_intake": (PERF_COMMIT,),
        "dashboard_rps": (PERF_COMMIT,)}
#: the commits whose tree runs today's ``bench`` package (their own ``erp``)
SAME_BENCH = frozenset({PERF_COMMIT})


def commit_for(name: str) -> str:
    """Return the commit whose figure benchmark ``name`` is compared with."""
    return COMMITS.get(name) or BASELINE_COMMIT


#: how many times each side runs (each run is already the median of the benchmark's own runs)
ROUNDS = 3
QUICK_ROUNDS = 2
#: benchmarks run fewer times a side: a run of ``load`` or ``load_100`` takes minutes
ROUNDS_FOR = {"load": 1, "load_100": 1}


def rounds_for(name: str, quick: bool) -> int:
    """Return how many runs a side benchmark ``name`` gets."""
    return ROUNDS_FOR.get(name) or (QUICK_ROUNDS if quick else ROUNDS)
ROOT = Path(__file__).resolve().parent.parent

#: Run one benchmark on one database in the tree of the working directory and print its figures
#: as the last line of standard output. Only names every tree of ``bench`` has are used
#: (``runner.REGISTRY``, ``runner.temp_database``), and no result file is written.
DRIVER = """
import importlib, json, pkgutil, sys
from pathlib import Path
import bench, erp
from bench import runner
here = Path.cwd().resolve()
if not Path(erp.__file__).resolve().is_relative_to(here):
    sys.exit(f"erp was imported from {erp.__file__}, not from {here}")
for module in pkgutil.iter_modules(bench.__path__):
    if module.name.startswith("suites"):
        importlib.import_module(f"bench.{module.name}")
name, kind, quick = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
with runner.temp_database(kind, quick) as db:
    figures = runner.REGISTRY[name].func(db)
print(json.dumps(figures, default=str), flush=True)
"""


class BaselineUnavailable(RuntimeError):
    """The before figure cannot be measured (no git, no such commit, or its run failed)."""


class Baseline:
    """The tree of :data:`BASELINE_COMMIT`, extracted on first use and removed on close.

    ``same_bench`` (by default: the commit is in :data:`SAME_BENCH`) replaces the tree's
    ``bench`` package with a copy of ``bench`` of ``repo`` (today's), so both sides run the same
    benchmark code on their own ``erp``.
    """

    def __init__(self, commit: str | None = None, repo: Path = ROOT,
                 same_bench: bool | None = None):
        self.commit = commit or BASELINE_COMMIT
        self.repo = repo
        self.same_bench = self.commit in SAME_BENCH if same_bench is None else same_bench
        self._tmp: tempfile.TemporaryDirectory | None = None
        #: why the tree cannot be had, once an attempt failed
        self.error: str | None = None

    def tree(self) -> Path:
        """Return the directory of the commit's tree, extracting it the first time.

        :raises BaselineUnavailable: if git or the commit is not there.
        """
        if self.error:
            raise BaselineUnavailable(self.error)
        if self._tmp is not None:
            return Path(self._tmp.name)
        tmp = tempfile.TemporaryDirectory(prefix=f"erp-before-{self.commit}-")
        try:
            archive = subprocess.run(["git", "-C", str(self.repo), "archive", "--format=tar",
                                      f"{self.commit}^{{commit}}"],
                                     capture_output=True, check=False)
            if archive.returncode != 0:
                raise BaselineUnavailable(
                    f"git cannot export commit {self.commit}: "
                    + archive.stderr.decode(errors="replace").strip()[-300:])
            unpack = subprocess.run(["tar", "-x", "-C", tmp.name], input=archive.stdout,
                                    capture_output=True, check=False)
            if unpack.returncode != 0:
                raise BaselineUnavailable(f"tar cannot unpack commit {self.commit}: "
                                          + unpack.stderr.decode(errors="replace")[-300:])
            if self.same_bench:
                overlay_bench(self.repo / "bench", Path(tmp.name) / "bench")
        except (OSError, BaselineUnavailable) as err:
            tmp.cleanup()
            self.error = (str(err) if isinstance(err, BaselineUnavailable)
                           else f"git is not available ({err})")
            raise BaselineUnavailable(self.error) from None
        self._tmp = tmp
        log(f"   the tree of {self.commit} (the before figure's) is in {tmp.name}"
            + (", with today's bench package" if self.same_bench else ""))
        return Path(tmp.name)

    def close(self) -> None:
        """Remove the extracted tree."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Baseline:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def overlay_bench(source: Path, target: Path) -> None:
    """Replace the package ``target`` with a copy of ``source`` (no results, no bytecode)."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("results", "__pycache__"))


def run_in_tree(tree: Path, name: str, kind: str, quick: bool, label: str) -> dict:
    """Run benchmark ``name`` on a fresh ``kind`` database in ``tree``; return its figures.

    The child's progress goes to standard error, each line prefixed with ``label`` (but for
    the app's line per request, which the in-process run prints too).

    :raises RuntimeError: if the child fails or prints no figures.
    """
    tail: list[str] = []
    with tempfile.TemporaryFile(mode="w+") as out:
        with subprocess.Popen([sys.executable, "-c", DRIVER, name, kind, "1" if quick else "0"],
                              cwd=tree, stdout=out, stderr=subprocess.PIPE,
                              text=True) as proc:
            for line in proc.stderr:
                line = line.rstrip("\n")
                tail = [*tail[-19:], line]
                if not line.startswith('{"ts"'):  # the app's line per request (requestlog)
                    log(f"   {label} {line.strip()}")
        code = proc.returncode
        out.seek(0)
        lines = out.read().strip().splitlines()
    if code != 0 or not lines:
        raise RuntimeError(f"{name} in {tree} exited with {code}: " + "\n".join(tail[-8:]))
    try:
        return json.loads(lines[-1])
    except ValueError as err:
        raise RuntimeError(f"{name} in {tree} printed no figures: {lines[-1][:200]}") from err


def merge(after: list[dict], before: list[dict], key: str | tuple[str, ...],
          commit: str | None = None) -> dict:
    """Return the line of the ``after`` runs with the before figure beside it.

    ``key`` is the compared figure, or a tuple of them: the first is the main one, the others
    are printed beside theirs too (``load``'s ``p95_ms``). The line is the ``after`` run whose
    main figure is nearest the median (its other figures belong with it), with each key set
    to the median of the runs, ``<key>_before`` to the median of the ``before`` runs,
    ``ratio_to_before`` = today / before of the main key, and every run's figure
    (``<key>_rounds``, ``<key>_before_rounds``) to show the noise. Without ``before`` runs it
    is just the ``after`` line and its medians.
    """
    keys = (key,) if isinstance(key, str) else tuple(key)
    main = keys[0]
    values = [run[main] for run in after]
    middle = statistics.median(values)
    line = dict(min(after, key=lambda run: abs(run[main] - middle)))
    line["rounds"] = len(after)
    for name in keys:
        figures = [run.get(name) for run in after]
        line[name] = _median(figures)
        line[f"{name}_rounds"] = figures
        if before:
            previous = [run.get(name) for run in before]
            line[f"{name}_before"] = _median(previous)
            line[f"{name}_before_rounds"] = previous
    if before:
        line["ratio_to_before"] = round(middle / line[f"{main}_before"], 3)
        line["before_commit"] = commit or BASELINE_COMMIT
    return line


def _median(values: list) -> float | None:
    """Return the median of the figures that are there, rounded (None when none is)."""
    present = [value for value in values if value is not None]
    return round(statistics.median(present), 4) if present else None


def compare(name: str, kind: str, quick: bool, baseline: Baseline,
            rounds: int | None = None, also: tuple[Baseline, ...] = ()) -> dict | None:
    """Run ``name`` on ``kind`` in today's tree and the baseline's, alternating; merge them.

    Returns None when the baseline tree cannot be had (the reason is logged): the caller runs
    the benchmark as usual then. A baseline run that fails is logged too; today's runs go on
    and the line says why it has no before figure.

    ``also`` are further commits (:data:`ALSO`) run in the same alternation; each adds its
    figures under its own keys (:func:`add_also`), or ``before_error_<commit>``.
    """
    keys = COMPARED[name]
    key = keys[0]
    try:
        tree = baseline.tree()
    except BaselineUnavailable as err:
        log(f"   no before figure for {name}: {err}")
        return None
    trees: dict[str, Path] = {}
    errors: dict[str, str] = {}
    for other in also:
        try:
            trees[other.commit] = other.tree()
        except BaselineUnavailable as err:
            errors[other.commit] = str(err)
            log(f"   no figure of {other.commit} for {name}: {err}")
    rounds = rounds or rounds_for(name, quick)
    after: list[dict] = []
    before: list[dict] = []
    others: dict[str, list[dict]] = {commit: [] for commit in trees}
    error = None
    sides = ["before", *trees, "after"]
    for k in range(rounds):
        # before, after; then after, before: a drift in the machine's load weighs on both
        order = sides if k % 2 == 0 else sides[::-1]
        for side in order:
            if (side == "before" and error is not None) or side in errors:
                continue
            label = f"[{side} {k + 1}/{rounds}]"
            if side == "after":
                after.append(run_in_tree(ROOT, name, kind, quick, label))
                continue
            if side != "before":
                try:
                    others[side].append(run_in_tree(trees[side], name, kind, quick, label))
                except RuntimeError as err:
                    errors[side] = f"the run of {side} failed: {err}"
                    log(f"   no figure of {side} for {name}: {errors[side]}")
                continue
            try:
                before.append(run_in_tree(tree, name, kind, quick, label))
            except RuntimeError as err:
                error = f"the run of {baseline.commit} failed: {err}"
                log(f"   no before figure for {name}: {error}")
    line = merge(after, [] if error else before, keys, baseline.commit)
    if error:
        line["before_error"] = error[:500]
    else:
        beside = "".join(f", {other} {line[other]} vs {line[f'{other}_before']}"
                         for other in keys[1:])
        log(f"   {name}: {key} {line[key]} today, {line[f'{key}_before']} at "
            f"{baseline.commit}: ratio {line['ratio_to_before']}{beside} "
            f"(median of {rounds} each)")
    for other in also:
        if other.commit in errors:
            line[f"before_error_{other.commit}"] = errors[other.commit][:500]
        elif others.get(other.commit):
            add_also(line, others[other.commit], keys, other.commit)
            log(f"   {name}: {key} {line[key]} today, {line[f'{key}_before_{other.commit}']}"
                f" at {other.commit}: ratio {line[f'ratio_to_{other.commit}']}")
    return line


def add_also(line: dict, runs: list[dict], keys: tuple[str, ...], commit: str) -> dict:
    """Add the figures of a further commit's ``runs`` to a merged ``line``; return it.

    Each key gets ``<key>_before_<commit>`` (the median) and ``<key>_before_<commit>_rounds``;
    the first, ``ratio_to_<commit>`` (today's median over that one).
    """
    for name in keys:
        figures = [run.get(name) for run in runs]
        line[f"{name}_before_{commit}"] = _median(figures)
        line[f"{name}_before_{commit}_rounds"] = figures
    main = line[f"{keys[0]}_before_{commit}"]
    if main and line.get(keys[0]) is not None:
        line[f"ratio_to_{commit}"] = round(line[keys[0]] / main, 3)
    return line

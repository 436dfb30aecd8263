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

Without git or the commit (an exported tarball, a shallow clone), the benchmark runs as usual
and its line says why it has no before figure (``before_error``).
"""

from __future__ import annotations

import json
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
#: the benchmarks compared with a commit before their issue, and the figure each is compared by
COMPARED = {"move_tx": "per_second", "order_intake": "seconds", "po_receive": "seconds",
            "dispatch": "seconds", "dashboard_rps": "per_second"}
#: the benchmarks compared with another commit than :data:`BASELINE_COMMIT`
COMMITS = {"dashboard_rps": HOME_COMMIT}


def commit_for(name: str) -> str:
    """Return the commit whose figure benchmark ``name`` is compared with."""
    return COMMITS.get(name) or BASELINE_COMMIT
#: how many times each side runs (each run is already the median of the benchmark's own runs)
ROUNDS = 3
QUICK_ROUNDS = 2
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
    """The tree of :data:`BASELINE_COMMIT`, extracted on first use and removed on close."""

    def __init__(self, commit: str | None = None, repo: Path = ROOT):
        self.commit = commit or BASELINE_COMMIT
        self.repo = repo
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
        except (OSError, BaselineUnavailable) as err:
            tmp.cleanup()
            self.error = (str(err) if isinstance(err, BaselineUnavailable)
                           else f"git is not available ({err})")
            raise BaselineUnavailable(self.error) from None
        self._tmp = tmp
        log(f"   the tree of {self.commit} (the before figure's) is in {tmp.name}")
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


def merge(after: list[dict], before: list[dict], key: str, commit: str | None = None) -> dict:
    """Return the line of the ``after`` runs with the before figure beside it.

    The line is the ``after`` run whose ``key`` is nearest the median (its other figures
    belong with it), with ``key`` set to the median of the runs, ``<key>_before`` to the
    median of the ``before`` runs, ``ratio_to_before`` = today / before, and every run's figure
    (``<key>_rounds``, ``<key>_before_rounds``) to show the noise. Without ``before`` runs it is
    just the ``after`` line and its median.
    """
    values = [run[key] for run in after]
    middle = statistics.median(values)
    line = dict(min(after, key=lambda run: abs(run[key] - middle)))
    line[key] = round(middle, 4)
    line["rounds"] = len(after)
    line[f"{key}_rounds"] = values
    if before:
        previous = [run[key] for run in before]
        line[f"{key}_before"] = round(statistics.median(previous), 4)
        line[f"{key}_before_rounds"] = previous
        line["ratio_to_before"] = round(middle / line[f"{key}_before"], 3)
        line["before_commit"] = commit or BASELINE_COMMIT
    return line


def compare(name: str, kind: str, quick: bool, baseline: Baseline,
            rounds: int | None = None) -> dict | None:
    """Run ``name`` on ``kind`` in today's tree and the baseline's, alternating; merge them.

    Returns None when the baseline tree cannot be had (the reason is logged): the caller runs
    the benchmark as usual then. A baseline run that fails is logged too; today's runs go on
    and the line says why it has no before figure.
    """
    key = COMPARED[name]
    try:
        tree = baseline.tree()
    except BaselineUnavailable as err:
        log(f"   no before figure for {name}: {err}")
        return None
    rounds = rounds or (QUICK_ROUNDS if quick else ROUNDS)
    after: list[dict] = []
    before: list[dict] = []
    error = None
    for k in range(rounds):
        # before, after; then after, before: a drift in the machine's load weighs on both
        order = ("before", "after") if k % 2 == 0 else ("after", "before")
        for side in order:
            if side == "before" and error is not None:
                continue
            label = f"[{side} {k + 1}/{rounds}]"
            if side == "after":
                after.append(run_in_tree(ROOT, name, kind, quick, label))
                continue
            try:
                before.append(run_in_tree(tree, name, kind, quick, label))
            except RuntimeError as err:
                error = f"the run of {baseline.commit} failed: {err}"
                log(f"   no before figure for {name}: {error}")
    line = merge(after, [] if error else before, key, baseline.commit)
    if error:
        line["before_error"] = error[:500]
    else:
        log(f"   {name}: {key} {line[key]} today, {line[f'{key}_before']} at "
            f"{baseline.commit}: ratio {line['ratio_to_before']} (median of {rounds} each)")
    return line

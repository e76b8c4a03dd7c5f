"""Start-up time of the ``fundledger`` command: ``--help`` and ``--version`` against ``python -c pass``.

Each command runs ``--runs`` times, the commands interleaved round by round so a change in machine load
touches all of them alike; the median and the spread of each are reported. ``--tree DIR`` runs the CLI
of another checkout (``git worktree add /tmp/before <commit>``) with the same interpreter, so a before and
an after are measured in one run: ``--tree`` may be given several times, each a labelled tree.

    .venv/bin/python bench/bench_cli_startup.py --runs 10 --tree before=/tmp/before --tree after=.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import log, machine  # noqa: E402

RUNS_MAX = 1_000
# The console script's own code: import the CLI and run it, as the ``fundledger`` entry point does. The
# editable install's finder (it maps ``api`` and ``ledger`` to the installed checkout, ahead of PYTHONPATH)
# is taken off ``sys.meta_path`` first, so the tree on PYTHONPATH is the one imported.
CLI_SNIPPET = (
    "import sys; "
    "sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, '__module__', '').startswith('__editable__')]; "
    "from api.cli import main; sys.argv[0] = 'fundledger'; main()"
)


Command = tuple[list[str], dict[str, str], Path]  # argv, environment, working directory


def _tree_environment(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree.resolve())}


def _commands(trees: list[tuple[str, Path]]) -> dict[str, Command]:
    commands = {"python -c pass": ([sys.executable, "-c", "pass"], dict(os.environ), Path.cwd())}
    for label, tree in trees:
        for argument in ("--help", "--version"):
            argv = [sys.executable, "-c", CLI_SNIPPET, argument]
            # Run in the tree: ``-c`` puts the working directory first on sys.path.
            commands[f"{label}: fundledger {argument}"] = (argv, _tree_environment(tree), tree.resolve())
    return commands


def _time_once(argv: list[str], environment: dict[str, str], directory: Path) -> float:
    started = time.perf_counter()
    completed = subprocess.run(argv, env=environment, cwd=directory, capture_output=True, timeout=120)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {completed.stderr.decode(errors='replace')[-500:]}")
    return elapsed


def _imported_from(tree: Path) -> str:
    """Where ``api.cli`` is imported from, run as the timed commands are: proof that the tree is the one timed."""
    probe = CLI_SNIPPET.split("from api.cli")[0] + "import api.cli; print(api.cli.__file__)"
    completed = subprocess.run(
        [sys.executable, "-c", probe], env=_tree_environment(tree), cwd=tree, capture_output=True, text=True
    )
    location = completed.stdout.strip()
    if not location.startswith(str(tree.resolve())):
        raise SystemExit(f"api.cli of {tree} was imported from {location or completed.stderr[-300:]}")
    return location


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="runs per command (default 10)")
    parser.add_argument("--tree", action="append", default=[], help="LABEL=DIR: a checkout whose CLI is timed")
    options = parser.parse_args()
    if not 1 <= options.runs <= RUNS_MAX:
        parser.error(f"--runs must be between 1 and {RUNS_MAX}")
    trees = [(text.split("=", 1)[0], Path(text.split("=", 1)[1])) for text in options.tree] or [("current", Path("."))]
    commands = _commands(trees)
    for label, tree in trees:
        log(f"{label}: {_imported_from(tree)}")
    timings: dict[str, list[float]] = {name: [] for name in commands}
    for command in commands.values():  # one warm-up run each: the first run pays for cold .pyc files
        _time_once(*command)
    for round_number in range(options.runs):
        log(f"round {round_number + 1}/{options.runs}")
        for name, command in commands.items():
            timings[name].append(_time_once(*command))
    results = {
        name: {
            "median_ms": round(statistics.median(values) * 1000, 1),
            "min_ms": round(min(values) * 1000, 1),
            "max_ms": round(max(values) * 1000, 1),
        }
        for name, values in timings.items()
    }
    print("; ".join(f"{name}: median {figures['median_ms']} ms" for name, figures in results.items()))
    print(json.dumps({"bench": "cli_startup", "runs": options.runs, "results": results, "machine": machine()}))


if __name__ == "__main__":
    main()

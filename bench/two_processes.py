"""Two `mbre discover` processes on one machine: do they share the embedded server, and what does it cost?

    python bench/two_processes.py [--model local] [--n 20] [--seed 0] [--repeats 1] [--skip-before]

Draws 2n SemEval test sentences (seed) from ../shared/data/semeval2010_task8, splits them into inputs A
and B, and times, with the LLM-call cache off, from a cold start (no server running):

- one process labelling A and B as one input;
- two processes started together on A and on B, sharing the machine's one server (as mbre does now);
- two processes on A and on B, each with a server of its own (as mbre did before: each uses a cache
  directory of its own, hence a registry of its own).

Each scenario runs in fresh private cache directories (linked to the user's assembled weights), so it
neither joins nor disturbs a server of the user's. Each scenario's time is printed when it ends; with
--skip-before the third (two servers on two cores: slow) is left out. The target: two processes sharing
one server take at most 1.15x the time of one process for both inputs. The machine's other load adds
noise: run it when the load is low (`uptime`), and compare the rows of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mbre.llm.local.models import EMBEDDED_MODELS, LocalModelError, ensure_model_file

SEMEVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "semeval2010_task8"
TARGET = 1.15
SCENARIOS = {
    "one process, A+B": (["ab"], False),
    "two processes, one shared server": (["a", "b"], False),
    "two processes, a server each (before)": (["a", "b"], True),
}


def private_cache(path: Path) -> Path:
    """A cache directory whose models/ links to the user's assembled weights."""
    models = path / "models"
    models.mkdir(parents=True)
    for name in EMBEDDED_MODELS:
        try:
            weights = ensure_model_file(name)
        except LocalModelError:
            continue
        for file in (weights, weights.with_name(f"{weights.name}.sha256")):
            (models / file.name).symlink_to(file)
    return path


def servers_started(cache: Path) -> int:
    return sum(log.read_text().count("is healthy on port") for log in (cache / "logs").glob("*.log"))


def run_scenario(
    inputs: list[str], own_servers: bool, files: dict[str, Path], work: Path, model: str
) -> tuple[float, int]:
    """Wall seconds until every process of the scenario exits, and how many servers it started."""
    caches = (
        [private_cache(work / f"cache-{name}") for name in inputs]
        if own_servers
        else [private_cache(work / "cache")] * len(inputs)
    )
    processes = []
    started = time.perf_counter()
    for name, cache in zip(inputs, caches, strict=True):
        env = {**os.environ, "MBRE_CACHE_DIR": str(cache), "MBRE_CACHE": "false"}
        command = [sys.executable, "-m", "mbre", "discover", "--relations", str(SEMEVAL / "relations.json")]
        command += ["--input", str(files[name]), "--run-dir", str(work / f"run-{name}"), "--model", model]
        processes.append(
            subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        )
    for process in processes:
        _, stderr = process.communicate()
        if process.returncode != 0:
            sys.exit(f"mbre discover failed ({process.returncode}):\n{stderr}")
    seconds = time.perf_counter() - started
    return seconds, sum(servers_started(cache) for cache in set(caches))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="local", help="an embedded model: local or local:NAME")
    parser.add_argument("--n", type=int, default=20, help="sentences in each of A and B")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--repeats", type=int, default=1, help="runs of every scenario, in turn; medians shown"
    )
    parser.add_argument(
        "--skip-before", action="store_true", help="leave out the scenario with a server per process"
    )
    args = parser.parse_args()
    scenarios = {name: spec for name, spec in SCENARIOS.items() if not (args.skip_before and spec[1])}
    console = Console(width=200)
    rows = [json.loads(line) for line in (SEMEVAL / "test.jsonl").read_text().splitlines()]
    drawn = random.Random(args.seed).sample(rows, 2 * args.n)
    times: dict[str, list[float]] = {name: [] for name in scenarios}
    servers: dict[str, int] = {}
    for _ in range(args.repeats):
        for name, (inputs, own_servers) in scenarios.items():
            with tempfile.TemporaryDirectory(prefix="mbre-bench-") as tmp:
                work = Path(tmp)
                files = {"a": drawn[: args.n], "b": drawn[args.n :], "ab": drawn}
                paths = {}
                for key, sentences in files.items():
                    paths[key] = work / f"{key}.jsonl"
                    paths[key].write_text("".join(json.dumps(row) + "\n" for row in sentences))
                seconds, servers[name] = run_scenario(inputs, own_servers, paths, work, args.model)
                times[name].append(seconds)
                console.print(f"{name}: {seconds:.1f} s, {servers[name]} server(s) started")
    load = os.getloadavg()[0]
    table = Table(
        title=f"{2 * args.n} SemEval sentences on {args.model}, cache off, cold start; "
        f"median of {args.repeats} (target: shared within {TARGET:g}x of one process); load {load:.1f}"
    )
    for column in ("scenario", "processes", "servers started", "wall seconds", "vs one process"):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    baseline = statistics.median(times["one process, A+B"])
    for name, (inputs, _) in scenarios.items():
        seconds = statistics.median(times[name])
        table.add_row(
            name, str(len(inputs)), str(servers[name]), f"{seconds:.1f}", f"{seconds / baseline:.2f}x"
        )
    console.print(table)


if __name__ == "__main__":
    main()

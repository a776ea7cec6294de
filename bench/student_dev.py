"""Which of a run's samples a student should train on, decided on sentences carved from the training file,
never on test data:

    python bench/student_dev.py --run DIR --data ../shared/data/semeval2010_task8 --seeds SEEDS \
        [--dev 1000] [--repeats 5] [--source FILE] [--dev-file FILE]

The run labelled a slice of DATA/train.jsonl (or of `--source`) with its labels hidden
(`bench/student_input.py`). The rest of train.jsonl, less the run's sentences and its seeds, is split once
(seed 0) into `--dev` sentences the students are scored on (drawn from `--dev-file` instead when it is
given) and a pool the gold control is drawn from. For each `--keep` rule and balancing of `mbre student`,
and for the confident labels at each `--min-confidence` of `--confidences`, the table gives the training
size, how many of the training labels are right (read from the source file, never shown to mbre or the
student), and each student's dev score trained on the samples and on as many gold samples, with their
ratio (the issue asks 0.6). Balancing and the gold draw are repeated with `--repeats` seeds and the scores
averaged, as one draw of a few hundred sentences moves the score by a few points. The score is the
official SemEval F1 when every label is a SemEval one, else micro-F1 over the positive labels.

`--second-opinion` adds issue 29's "small classifier as a second opinion": each kept rule's labels are
split into five folds, a TF-IDF student trained on four predicts the fifth, and only the labels it agrees
with (no-relation ones kept) go on to the balancing. A second table says how many of the labels it agrees
and disagrees with are right.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from evaluate_gold import DATA
from rich.console import Console
from rich.table import Table

from mbre.dataset.labelled import Labelled, keep_labelled
from mbre.evaluation.gold import select_slice
from mbre.run.rundir import read_samples, samples_path
from mbre.schemas.instances import Instance, read_instances
from mbre.schemas.options import BALANCE_RULES, KEEP_RULES, STUDENTS, BalanceRule, KeepRule, StudentKind
from mbre.schemas.relations import RelationSchema
from mbre.student.comparison import make_student
from mbre.student.tfidf import TfidfStudent
from mbre.student.training import (
    Student,
    StudentReport,
    balanced_pairs,
    check_students,
    gold_control,
    score_student,
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", type=Path, required=True, help="the run directory (or samples.jsonl)")
    parser.add_argument("--data", type=Path, default=DATA, help="folder with relations.json, train.jsonl")
    parser.add_argument("--seeds", type=Path, help="the run's --seeds file, kept out of dev and the pool")
    parser.add_argument("--dev", type=int, default=1000, help="dev sentences carved from the rest of train")
    parser.add_argument("--dev-file", type=Path, help="draw the dev sentences from this file instead")
    parser.add_argument("--source", type=Path, help="the gold file the run's sentences came from")
    parser.add_argument("--repeats", type=int, default=5, help="seeds of the balancing and the gold draw")
    parser.add_argument("--students", default=",".join(STUDENTS))
    parser.add_argument("--confidences", default="0.8,0.9", help="--min-confidence values ('' for none)")
    parser.add_argument("--keeps", default=",".join(KEEP_RULES), help="the --keep rules to try")
    parser.add_argument("--second-opinion", action="store_true", help="add the out-of-fold agreement rows")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    schema = RelationSchema.from_file(args.data / "relations.json")
    no_relation = schema.no_relation_label
    assert no_relation is not None
    samples = read_samples(samples_path(args.run))
    source = read_instances(args.source or args.data / "train.jsonl")
    gold = {instance.id: instance.relation for instance in source}
    used = {sample.id for sample in samples}
    if args.seeds:
        used |= {instance.id for instance in read_instances(args.seeds)}
    rest = [i for i in read_instances(args.data / "train.jsonl") if i.id not in used]
    dev = select_slice(read_instances(args.dev_file) if args.dev_file else rest, args.dev, args.seed)
    dev_ids = {instance.id for instance in dev} if not args.dev_file else set()
    pool = [instance for instance in rest if instance.id not in dev_ids]
    kinds = check_students(args.students.split(","))
    students: dict[StudentKind, Student] = {kind: make_student(kind) for kind in kinds}

    title = f"{len(samples)} samples of {args.run}; {len(dev)} dev sentences; {args.repeats} draws"
    table = Table(title=title)
    for header in (
        "keep",
        "min conf",
        "balance",
        "train",
        "right",
        "no-rel",
        *[f"{k} mbre/gold" for k in kinds],
    ):
        table.add_column(header, justify="left" if header in ("keep", "balance") else "right")
    settings: list[tuple[KeepRule, float | None, BalanceRule, bool]] = [
        (keep, None, balance, second)
        for second in (False, True)[: 1 + args.second_opinion]
        for keep in KEEP_RULES
        for balance in BALANCE_RULES
        if keep in args.keeps
    ]
    settings += [("confident", float(c), "none", False) for c in args.confidences.split(",") if c]
    agreement = Table(title="the second opinion: labels it agrees and disagrees with, and how many are right")
    for header in ("keep", "positive labels", "agreed", "right of agreed", "right of the rest"):
        agreement.add_column(header, justify="left" if header == "keep" else "right")
    for keep, confidence, balance, second in settings:
        kept = keep_labelled(samples, keep=keep, min_confidence=confidence).records
        if second:
            agreed = second_opinion(kept, no_relation, args.seed)
            if balance == BALANCE_RULES[0]:
                agreement.add_row(keep, *_agreement(kept, agreed, gold, no_relation))
            kept = [record for record, yes in zip(kept, agreed, strict=True) if yes]
        mine = {kind: 0.0 for kind in kinds}
        theirs = {kind: 0.0 for kind in kinds}
        for seed in range(args.seed, args.seed + args.repeats):
            instances, labels = balanced_pairs(kept, balance=balance, no_relation=no_relation, seed=seed)
            control, control_labels = gold_control(pool, labels, seed=seed)
            for kind, student in students.items():
                mine[kind] += _score(student.fit(instances, labels), dev, no_relation) / args.repeats
                theirs[kind] += _score(student.fit(control, control_labels), dev, no_relation) / args.repeats
        right = sum(gold[i.id] == label for i, label in zip(instances, labels, strict=True))
        cells = [f"{mine[k]:.3f} / {theirs[k]:.3f} = {mine[k] / theirs[k]:.2f}" for k in kinds]
        table.add_row(
            keep + (" + second opinion" if second else ""),
            "-" if confidence is None else str(confidence),
            balance,
            str(len(labels)),
            f"{right / len(labels):.0%}",
            str(labels.count(no_relation)),
            *cells,
        )
    Console(width=160).print(table)
    if args.second_opinion:
        Console(width=160).print(agreement)


def second_opinion(records: list[Labelled], no_relation: str, seed: int, folds: int = 5) -> list[bool]:
    """Per record: whether a TF-IDF student trained on the other folds predicts its label; no-relation
    labels are always kept (the student's majority class, its agreement would say nothing)."""
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    agreed = [True] * len(records)
    for fold in range(folds):
        held = order[fold::folds]
        rest = sorted(set(order) - set(held))
        student = TfidfStudent().fit(*_pairs([records[i] for i in rest]))
        held_instances, _ = _pairs([records[i] for i in held])
        for i, label in zip(held, student.predict(held_instances), strict=True):
            agreed[i] = records[i].relation == no_relation or label == records[i].relation
    return agreed


def _pairs(records: list[Labelled]) -> tuple[list[Instance], list[str]]:
    """Every record, in order, as an instance and its label."""
    return balanced_pairs(records, balance="none", no_relation=None, seed=0)


def _agreement(
    records: list[Labelled], agreed: list[bool], gold: dict[str, str | None], no_relation: str
) -> list[str]:
    positive = [(r, yes) for r, yes in zip(records, agreed, strict=True) if r.relation != no_relation]
    yes = [gold[r.sample.id] == r.relation for r, a in positive if a]
    no = [gold[r.sample.id] == r.relation for r, a in positive if not a]
    return [
        str(len(positive)),
        str(len(yes)),
        f"{sum(yes) / max(len(yes), 1):.0%}",
        f"{sum(no) / max(len(no), 1):.0%}",
    ]


def _score(student: Student, dev: list[Instance], no_relation: str) -> float:
    report: StudentReport = score_student(student, dev, no_relation=no_relation)
    return report.semeval_macro_f1 if report.semeval_macro_f1 is not None else report.micro.f1


if __name__ == "__main__":
    main()

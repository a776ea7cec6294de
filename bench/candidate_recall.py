"""Where does M-BRe lose a sentence's gold label: in the group questions or in the decision? From runs:

    python bench/candidate_recall.py REPORT_DIR [REPORT_DIR ...]

Each REPORT_DIR is a report directory of `bench/evaluate_gold.py` with an `mbre` run; its samples carry the
gold label, and the data it names gives the no-relation label. For the sentences whose gold label is a
relation, the table counts how often that label was a verified candidate, how often it was one but no
score reached the threshold, and how often it came out as the label; over every sentence it counts the
decisions by rule. No LLM call. It told why M-BRe without examples trails binary-only on SemEval: its
groups name the gold label far less often.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from decision_dev import load_run
from rich.console import Console
from rich.table import Table


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", type=Path, nargs="+")
    args = parser.parse_args()

    table = Table(title="the gold label among M-BRe's candidates")
    table.add_column("run")
    columns = ["positive", "a candidate", "a candidate, below threshold", "labelled right"]
    for column in columns:
        table.add_column(column, justify="right")
    table.add_column("decisions by rule")
    for run in args.runs:
        samples, _, no_relation = load_run(run)
        positive = [s for s in samples if s.gold is not None and s.gold != no_relation]
        proposed = [s for s in positive if s.gold in s.decision.candidates]
        below = [s for s in proposed if s.decision.rule == "below_threshold"]
        right = [s for s in positive if s.relation == s.gold]
        rules = Counter(s.decision.rule for s in samples)
        counts = [len(positive), len(proposed), len(below), len(right)]
        rule_text = ", ".join(f"{rule} {n}" for rule, n in rules.most_common())
        table.add_row(run.name, *(str(n) for n in counts), rule_text)
    Console(width=200).print(table)


if __name__ == "__main__":
    main()

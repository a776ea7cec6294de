"""How long the students take, and what they score, on gold SemEval-2010 Task 8 data.

    python bench/student_semeval.py [--train 318,1000,8000] [--test 2717] [--students tfidf,embeddings]

Each student is trained on the first N gold training sentences for each N and scored on the first --test
test sentences. Encoding time is the embeddings student's first pass over new texts (cached after); fit is
the classifier alone. Prints one table; nothing is written.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mbre.schemas.instances import read_instances
from mbre.schemas.options import STUDENTS
from mbre.student.embeddings import EmbeddingStudent
from mbre.student.minilm import MiniLM
from mbre.student.tfidf import TfidfStudent
from mbre.student.training import Student, check_students, score_student

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "semeval2010_task8"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train", default="318,1000,8000", help="Comma-separated training sizes.")
    parser.add_argument("--test", type=int, default=2717, help="Test sentences scored.")
    parser.add_argument("--students", default=",".join(STUDENTS))
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()

    train = read_instances(args.data / "train.jsonl")
    test = read_instances(args.data / "test.jsonl")[: args.test]
    table = Table(title=f"students on {len(test)} SemEval test sentences, trained on gold")
    for header in ("student", "train", "encode s", "fit s", "predict s", "accuracy", "SemEval F1"):
        table.add_column(header, justify="left" if header == "student" else "right")
    for kind in check_students(args.students.split(",")):
        started = time.perf_counter()
        student: Student = TfidfStudent() if kind == "tfidf" else EmbeddingStudent(MiniLM())
        load = time.perf_counter() - started
        for size in (int(n) for n in args.train.split(",")):
            part = train[:size]
            encode = 0.0
            if isinstance(student, EmbeddingStudent):
                started = time.perf_counter()
                student.features([*part, *test])
                encode = load + time.perf_counter() - started
                load = 0.0
            started = time.perf_counter()
            student.fit(part, [instance.relation or "" for instance in part])
            fit = time.perf_counter() - started
            started = time.perf_counter()
            report = score_student(student, test, no_relation="Other")
            predict = time.perf_counter() - started
            semeval = report.semeval_macro_f1
            table.add_row(
                kind,
                str(len(part)),
                f"{encode:.1f}",
                f"{fit:.1f}",
                f"{predict:.1f}",
                f"{report.accuracy:.3f}",
                "-" if semeval is None else f"{semeval:.3f}",
            )
    Console(width=120).print(table)


if __name__ == "__main__":
    main()

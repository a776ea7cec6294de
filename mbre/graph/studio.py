"""The graph as `langgraph dev` and LangGraph Studio load it (`langgraph.json` names `studio_graph`): built
for the relation schema that MBRE_STUDIO_RELATIONS names, since a server passes the factory no arguments
of mbre's."""

from __future__ import annotations

import os
from functools import cache

from langgraph.graph.state import CompiledStateGraph

from mbre.errors import SettingError
from mbre.graph.builder import build_graph
from mbre.graph.context import MbreContext
from mbre.graph.state import InputState, OutputState, State
from mbre.schemas.relations import RelationSchema

#: The environment variable naming the relation schema (JSON) the served graph labels with.
RELATIONS_VARIABLE = "MBRE_STUDIO_RELATIONS"


def studio_graph() -> CompiledStateGraph[State, MbreContext, InputState, OutputState]:
    """The labelling graph for the schema in $MBRE_STUDIO_RELATIONS. The server calls this factory for
    every request, so the graph is built once per schema file and reused."""
    path = os.environ.get(RELATIONS_VARIABLE, "")
    if not path:
        raise SettingError(f"set {RELATIONS_VARIABLE} to the relation schema (JSON) the graph labels with")
    return _graph_for(path)


@cache
def _graph_for(path: str) -> CompiledStateGraph[State, MbreContext, InputState, OutputState]:
    return build_graph(RelationSchema.from_file(path))

"""The LangGraph state machine: read builder.py for the route a sentence takes."""

from mbre.graph.builder import build_graph
from mbre.graph.context import MbreContext
from mbre.graph.state import InputState, OutputState, State

__all__ = ["InputState", "MbreContext", "OutputState", "State", "build_graph"]

"""mbre: find relation-extraction training samples in unlabeled text with LLMs (M-BRe, EMNLP 2025)."""

from importlib.metadata import PackageNotFoundError, version

from mbre.graph import MbreContext, build_graph
from mbre.grouping import Grouping, group_relations
from mbre.schemas import Decision, InputError, Instance, RelationSchema, RelationType, Sample, read_instances

try:
    __version__ = version("mbre")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "Decision",
    "Grouping",
    "InputError",
    "Instance",
    "MbreContext",
    "RelationSchema",
    "RelationType",
    "Sample",
    "__version__",
    "build_graph",
    "group_relations",
    "read_instances",
]

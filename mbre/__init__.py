"""mbre: find relation-extraction training samples in unlabeled text with LLMs (M-BRe, EMNLP 2025).

The public names are imported on first use (PEP 562), so `import mbre` and `mbre --help` stay fast: the
graph, FAISS, scikit-learn and the LLM clients load only when a name that needs them is touched."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mbre.errors import InputError, MbreError
    from mbre.graph.builder import build_graph
    from mbre.graph.context import MbreContext
    from mbre.inventory.grouping import Grouping, group_relations
    from mbre.inventory.inventory import Inventory
    from mbre.schemas.instances import Instance, read_instances
    from mbre.schemas.relations import RelationSchema, RelationType
    from mbre.schemas.results import Decision, Sample

#: Public name -> the module that defines it.
_EXPORTS = {
    "Decision": "mbre.schemas.results",
    "Grouping": "mbre.inventory.grouping",
    "InputError": "mbre.errors",
    "Instance": "mbre.schemas.instances",
    "Inventory": "mbre.inventory.inventory",
    "MbreContext": "mbre.graph.context",
    "MbreError": "mbre.errors",
    "RelationSchema": "mbre.schemas.relations",
    "RelationType": "mbre.schemas.relations",
    "Sample": "mbre.schemas.results",
    "build_graph": "mbre.graph.builder",
    "group_relations": "mbre.inventory.grouping",
    "read_instances": "mbre.schemas.instances",
}

__all__ = [
    "Decision",
    "Grouping",
    "InputError",
    "Instance",
    "Inventory",
    "MbreContext",
    "MbreError",
    "RelationSchema",
    "RelationType",
    "Sample",
    "__version__",
    "build_graph",
    "group_relations",
    "read_instances",
]


def __getattr__(name: str) -> Any:
    value: Any
    if name == "__version__":
        from mbre.version import mbre_version

        value = mbre_version()
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    else:
        raise AttributeError(f"module 'mbre' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])

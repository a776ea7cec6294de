"""Pydantic models at the edges of mbre: relation inventory, input sentences, results."""

from mbre.schemas.errors import InputError
from mbre.schemas.instances import Instance, Span, read_instances
from mbre.schemas.relations import RelationExample, RelationSchema, RelationType
from mbre.schemas.results import Decision, Extraction, Provenance, Sample, Usage, Verdict

__all__ = [
    "Decision",
    "Extraction",
    "InputError",
    "Instance",
    "Provenance",
    "RelationExample",
    "RelationSchema",
    "RelationType",
    "Sample",
    "Span",
    "Usage",
    "Verdict",
    "read_instances",
]

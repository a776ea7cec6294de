"""Per-relation thresholds of the calibrated decision, as `mbre calibrate` picks them from reviewed data."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mbre.errors import InputError, pydantic_field
from mbre.files import write_atomic
from mbre.schemas.relations import RelationSchema


class LabelThreshold(BaseModel):
    """One relation's threshold, and what it was measured to give on the reviewed samples."""

    model_config = ConfigDict(frozen=True)

    threshold: float = Field(ge=0.0, le=1.0)
    precision: float | None = None
    """Precision of the labels kept at this threshold on the reviewed samples; None when too few."""
    kept: int = 0
    """Reviewed samples labelled with this relation at this threshold."""
    support: int = 0
    """Reviewed samples whose best candidate was this relation, at any score."""


class Thresholds(BaseModel):
    """`thresholds.json`: a threshold per relation, and the default for the others."""

    model_config = ConfigDict(frozen=True)

    target_precision: float = Field(ge=0.0, le=1.0)
    default: float = Field(ge=0.0, le=1.0)
    """For relations with too few reviewed samples of their own: the threshold over all relations."""
    labels: dict[str, LabelThreshold]
    reviewed: int = 0
    """Reviewed samples the thresholds were picked on."""
    source: str = ""
    """The run directory and the reviewed file they came from."""
    schema_hash: str = ""
    """sha256 of the relation schema they were picked for (`RelationSchema.sha256`): a threshold means a
    precision only under the definitions the run was asked with. Empty in files written before it was
    recorded."""

    def pairs(self) -> tuple[tuple[str, float], ...]:
        """Every label's threshold as the context holds them; the default is not among them."""
        return tuple(sorted((label, entry.threshold) for label, entry in self.labels.items()))

    def check_schema(self, schema: RelationSchema, source: str) -> None:
        """Refuse thresholds picked for another schema (other definitions under the same labels measure
        other precisions) or for labels this schema does not have."""
        if self.schema_hash and self.schema_hash != schema.sha256:
            raise InputError(
                source,
                f"these thresholds were picked for another relation schema (sha256 {self.schema_hash[:12]}, "
                f"not {schema.sha256[:12]} of {schema.source}): run `mbre calibrate` with this schema",
                field="schema_hash",
            )
        unknown = sorted(set(self.labels) - set(schema.labels))
        if unknown:
            raise InputError(
                source,
                f"thresholds for labels the schema does not have: {', '.join(unknown)}",
                field="labels",
            )

    def save(self, path: str | Path) -> None:
        write_atomic(path, self.model_dump_json(indent=2) + "\n")

    @classmethod
    def from_file(cls, path: str | Path) -> Thresholds:
        source = str(path)
        try:
            return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(source, f"cannot read the file: {exc.strerror}") from exc
        except ValidationError as exc:
            first = exc.errors()[0]
            raise InputError(source, first["msg"], field=pydantic_field(first["loc"])) from exc

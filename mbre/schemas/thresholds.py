"""Per-relation thresholds of the calibrated decision, as `mbre calibrate` picks them from reviewed data."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mbre.errors import InputError, pydantic_field


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

    def pairs(self) -> tuple[tuple[str, float], ...]:
        """Every label's threshold as the context holds them; the default is not among them."""
        return tuple(sorted((label, entry.threshold) for label, entry in self.labels.items()))

    def check_labels(self, labels: list[str], source: str) -> None:
        """Refuse thresholds picked for labels this schema does not have (another inventory's file)."""
        unknown = sorted(set(self.labels) - set(labels))
        if unknown:
            raise InputError(
                source,
                f"thresholds for labels the schema does not have: {', '.join(unknown)}",
                field="labels",
            )

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")

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

"""Settings of stage 1: how raw annotations become the utterance table.

>>> DataConfig().classes is None     # the format's default: KEMDy's five, or a manifest's own labels
True
>>> DataConfig(classes=["Happy", "neutral", "Boredom"]).classes
['happy', 'neutral', 'boredom']
"""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vamer.data.labels import label_key


class MultiLabelPolicy(str, Enum):
    """What to do with a segment whose total evaluation names several emotions (``happy;neutral``).

    - ``drop``: skip it, reason ``multi_label`` (the default, as in the method).
    - ``first``: keep the first emotion as written.
    - ``unique_in_class``: keep it when exactly one of its emotions is in the class set.
    """

    drop = "drop"
    first = "first"
    unique_in_class = "unique_in_class"


class DataConfig(BaseModel):
    """How raw annotations become the utterance table."""

    model_config = ConfigDict(extra="forbid")

    classes: list[str] | None = Field(
        None, description="None: KEMDy's 5 for KEMDy formats, every label a manifest holds for a manifest"
    )
    multi_label: MultiLabelPolicy = MultiLabelPolicy.drop
    read_bio: bool = True

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        normalised = []
        for name in value:
            label = label_key(name)
            if label is None:
                raise ValueError(f"empty class name in {value!r}")
            if label in normalised:
                raise ValueError(f"emotion {label!r} listed twice")
            normalised.append(label)
        if len(normalised) < 2:
            raise ValueError("a class set needs at least two emotions")
        return normalised

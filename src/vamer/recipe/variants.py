"""The variants of a run: the method (fusion of the pretrained encoders) and its ablations."""

from __future__ import annotations

from enum import StrEnum

from vamer.errors import VamerError


class Variant(StrEnum):
    """What one trained classifier of a fold is: the method (fusion of the pretrained encoders) or
    one of its ablations.  A member is its own name as a string (JSON, CSV and dict keys alike)."""

    fusion = "fusion"
    audio_only = "audio_only"  # the text blanked, in training and test
    text_only = "text_only"  # the audio blanked
    fusion_no_pretraining = "fusion_no_pretraining"  # both encoders start untrained and train in fusion


VARIANTS = tuple(Variant)


def parse_variants(spec: str | None) -> tuple[Variant, ...] | None:
    """``--variants`` of ``vamer run``: fusion always, then the named ablations in order (None: the default).

    >>> parse_variants("text_only, fusion") == (Variant.fusion, Variant.text_only)
    True
    """
    if spec is None:
        return None
    names = tuple(dict.fromkeys(["fusion", *(v.strip() for v in spec.split(",") if v.strip())]))
    unknown = [v for v in names if v not in Variant.__members__]
    if unknown:
        raise VamerError(f"unknown variant(s) {', '.join(unknown)}; choose among {', '.join(VARIANTS)}")
    return tuple(Variant(name) for name in names)

"""How settings are validated.  Each stage keeps its own settings beside its code:

- :mod:`vamer.data.config`: how raw annotations become the utterance table (``DataConfig``);
- :mod:`vamer.analysis.config`: ``vamer analyze`` (``AnalysisConfig``);
- :mod:`vamer.features.config`: audio features, text encoder, augmentation;
- :mod:`vamer.models.config`: the three models' architecture;
- :mod:`vamer.presets`: a whole preset (features + models + training), shipped as YAML.

>>> from vamer.data.config import DataConfig
>>> validated(DataConfig, {"classes": ["Happy", "neutral"]}).classes
['happy', 'neutral']
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from vamer.errors import VamerError

Model = TypeVar("Model", bound=BaseModel)


def validated(model: type[Model], values: dict[str, Any]) -> Model:
    """Build ``model`` from ``values``; invalid settings become one readable VamerError."""
    try:
        return model.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or 'settings'}: "
            f"{issue['msg'].removeprefix('Value error, ')}"
            for issue in error.errors()
        )
        raise VamerError(f"invalid settings: {problems}") from None

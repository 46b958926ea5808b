"""The method's recipe on one fold, as a preset spells it: pretrain arousal (audio), pretrain
valence (text), train the fusion classifier on the pretrained encoders, and predict the fold's
test split.

:func:`train_fold` is what ``vamer run`` repeats over folds and seeds, given one
:class:`FoldTask`; each stage keeps its own checkpoints and logs under ``task.out/{stage}``.  The
recipe sits above the stages it combines: it builds the preset's models
(:mod:`vamer.presets.build`) and trains them through :mod:`vamer.training`, which knows nothing of
presets.  It reads top to bottom as :mod:`~vamer.recipe.fold` (a fold), then
:mod:`~vamer.recipe.pretraining`, :mod:`~vamer.recipe.fusion` and :mod:`~vamer.recipe.probe`.
"""

from vamer.recipe.fold import train_fold, train_single_stage
from vamer.recipe.task import FoldOutcome, FoldTask
from vamer.recipe.variants import VARIANTS, Variant, parse_variants

__all__ = ["VARIANTS", "FoldOutcome", "FoldTask", "Variant", "parse_variants", "train_fold", "train_single_stage"]

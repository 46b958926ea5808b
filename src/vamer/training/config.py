"""How each training stage trains (optimiser, schedule, epochs, batch size) and the fusion
stage's imbalance options: the training share of a preset (:mod:`vamer.presets` composes it with
the features' and the models' settings).

>>> StageTraining(lr=1e-3, epochs=5).batch_size, Training().fusion.monitor
(32, 'metric')
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StageTraining(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lr: float = Field(2e-5, gt=0, description="learning rate (the peak of the one-cycle schedule)")
    schedule: str = Field(
        "exponential",
        pattern="^(exponential|onecycle)$",
        description="exponential: the method's ExponentialLR per epoch; onecycle: warm-up then "
        "cosine decay over the whole run, per step",
    )
    gamma: float = Field(0.8, gt=0, le=1, description="ExponentialLR factor per epoch")
    warmup: float = Field(0.1, ge=0, lt=1, description="onecycle: share of the steps spent warming up")
    weight_decay: float = Field(0.0, ge=0, description="decoupled weight decay (AdamW); 0 = the method's Adam")
    epochs: int = Field(20, ge=1, le=100_000)
    patience: int = Field(8, ge=1, le=100_000)
    batch_size: int = Field(32, ge=1, le=65_536)
    monitor: str = Field(
        "metric",
        pattern="^(metric|loss)$",
        description="fusion: select and stop on validation macro F1 (metric) or validation loss",
    )


class Training(BaseModel):
    model_config = ConfigDict(extra="forbid")

    balanced_sampler: bool = Field(False, description="fusion batches drawn class-balanced")
    refit: bool = Field(
        False,
        description="after fusion picks its epoch count on validation, train it again "
        "from the same start on train + val for that many epochs",
    )
    refit_min_epochs: int = Field(
        5,
        ge=1,
        description="the refit trains at least this many epochs, whatever "
        "validation chose (capped at the stage's epochs)",
    )
    class_weighted: bool = Field(False, description="class-weighted cross-entropy for fusion")
    focal_gamma: float = Field(0.0, ge=0, description="focal loss gamma for fusion (0 = cross-entropy)")
    arousal: StageTraining = StageTraining()
    valence: StageTraining = StageTraining()
    fusion: StageTraining = StageTraining()


class Imbalance(BaseModel):
    """How the fusion stage meets class imbalance, beyond augmentation: class-weighted loss, a
    class-balanced sampler, focal loss (``focal_gamma`` > 0).  A run's choice: the preset's
    (:meth:`of`), each option the command line gives taking its place.

    >>> Imbalance.of(Training(class_weighted=True), focal_gamma=2.0)
    Imbalance(class_weighted=True, balanced_sampler=False, focal_gamma=2.0)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    class_weighted: bool = False
    balanced_sampler: bool = False
    focal_gamma: float = Field(0.0, ge=0)

    @classmethod
    def of(
        cls,
        training: Training,
        class_weighted: bool | None = None,
        balanced_sampler: bool | None = None,
        focal_gamma: float | None = None,
    ) -> "Imbalance":
        """``training``'s own choice, with each option given (not None) taking its place."""
        given = {"class_weighted": class_weighted, "balanced_sampler": balanced_sampler, "focal_gamma": focal_gamma}
        return cls(**{name: getattr(training, name) if value is None else value for name, value in given.items()})

"""Two-process DDP on CPU (gloo).  Slow: run with `make test-slow`."""

import pandas as pd
import pytest

from tests.training.test_stages import CLASSES, PRESET, items
from vamer.models.presets import StageTraining, build_models
from vamer.training.data import VamerDataModule
from vamer.training.modules import FusionModule
from vamer.training.stages import fit_stage


@pytest.mark.slow
def test_two_process_ddp_on_cpu_trains_and_checkpoints(tmp_path):
    data = items(32)
    training = StageTraining(lr=1e-2, gamma=1.0, epochs=3, patience=3, batch_size=8)
    module = FusionModule(build_models(PRESET, len(CLASSES))["fusion"], training, CLASSES)
    result = fit_stage("fusion", module, VamerDataModule(data, data, batch_size=8), tmp_path, training,
                       accelerator="cpu", devices=2, strategy="ddp_spawn", progress=False)
    assert result.best_checkpoint.endswith("best.ckpt")
    logged = pd.read_csv(tmp_path / "logs" / "metrics.csv")
    assert logged["val_macro_f1"].notna().sum() == 3

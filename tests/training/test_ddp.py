"""Two-process DDP on CPU (gloo).  Slow: run with `make test-slow`."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tests.training.test_stages import CLASSES, PRESET, items
from vamer.data.demo import generate_demo
from vamer.data.readers import load
from vamer.metrics import classification_metrics
from vamer.presets import StageTraining
from vamer.presets.build import build_models
from vamer.training.data import VamerDataModule, collate
from vamer.training.devices import TrainerOptions
from vamer.training.modules import FusionModule
from vamer.training.stages import FitOptions, fit_stage


def _val_macro_f1(module: FusionModule, val: list[dict]) -> float:
    """Macro F1 of ``module`` on the whole validation split, in one process."""
    module.eval()
    with torch.no_grad():
        batch = collate(val)
        predicted = module(batch).argmax(1).numpy()
    names = np.array(CLASSES)
    return classification_metrics(list(names[batch["label"].numpy()]), list(names[predicted]), CLASSES)["macro_f1"]


@pytest.mark.slow
def test_ddp_validation_is_pooled_over_ranks_and_counts_each_utterance_once(tmp_path):
    train, val = items(32), items(33, seed=1)  # 33: the DistributedSampler pads one rank with a repeat
    for row in val:
        row["utt_id"] = "v" + row["utt_id"]
    training = StageTraining(lr=1e-2, gamma=1.0, epochs=3, patience=3, batch_size=8)
    torch.manual_seed(0)
    module = FusionModule(build_models(PRESET, len(CLASSES))["fusion"], training, CLASSES)
    result = fit_stage(
        "fusion",
        module,
        VamerDataModule(train, val, batch_size=8),
        tmp_path,
        training,
        FitOptions(progress=False, trainer=TrainerOptions(accelerator="cpu", devices=2, strategy="ddp_spawn")),
    )
    logged = pd.read_csv(tmp_path / "logs" / "metrics.csv")
    assert list(logged["val_n"].dropna()) == [33.0] * 3  # every utterance once, on both ranks together
    checkpoint = torch.load(result.best_checkpoint, map_location="cpu", weights_only=True)
    state = next(value for key, value in checkpoint["callbacks"].items() if key.startswith("ModelCheckpoint"))
    best = FusionModule.load_from_checkpoint(
        result.best_checkpoint,
        model=build_models(PRESET, len(CLASSES))["fusion"],
        training=training,
        classes=CLASSES,
        weights_only=True,
    )
    assert float(state["best_model_score"]) == pytest.approx(_val_macro_f1(best, val), abs=1e-6)


@pytest.mark.espeak
@pytest.mark.slow
def test_vamer_run_under_ddp_on_two_cpu_processes(tmp_path):
    demo = tmp_path / "demo"
    generate_demo(demo, sessions=4, segments_per_session=11, seed=3, progress=False)
    out = tmp_path / "run"
    command = [
        str(Path(sys.executable).with_name("vamer")),
        "run",
        str(demo),
        "--out",
        str(out),
        "--preset",
        "tiny",
        "--cv",
        "session:2",
        "--variants",
        "fusion,audio_only",
        "--cache",
        str(tmp_path / "cache"),
        "--accelerator",
        "cpu",
        "--devices",
        "2",
        "--strategy",
        "ddp",
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=1200, env={**os.environ, "PYTHONWARNINGS": "ignore"}
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("report: ") == 1  # one process speaks
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["hardware"]["processes"] == 2 and metrics["hardware"]["ran_on"].startswith("cpu")
    predictions = pd.read_csv(out / "predictions.csv")
    skipped = {row["utt_id"] for row in metrics["protocol"]["skipped"]}
    expected = sorted(set(load(demo, read_bio=False).utterances["utt_id"]) - skipped)
    assert len(expected) == metrics["protocol"]["utterances"]
    for (variant, fold), rows in predictions.groupby(["variant", "fold"]):
        assert rows["utt_id"].is_unique, (variant, fold)  # padding repeats do not count
    for variant, rows in predictions.groupby("variant"):
        # Over the two folds, every utterance is tested exactly once.
        assert sorted(rows["utt_id"]) == expected, variant
    assert not list(tmp_path.glob("vamer-rank-*"))

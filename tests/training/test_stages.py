from pathlib import Path

import lightning
import numpy as np
import pandas as pd
import pytest
import torch

from vamer.metrics import concordance
from vamer.presets import StageTraining, load_preset
from vamer.presets.build import build_models
from vamer.training.data import VamerDataModule, collate, rated
from vamer.training.modules import FusionModule, RegressionModule
from vamer.training.stages import FitOptions, fit_stage

CLASSES = ["neutral", "happy", "surprise", "angry", "sad"]
PRESET = load_preset("tiny")


def items(n=16, seed=0):
    """Synthetic items whose targets follow their inputs, so a model can learn them."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        label = i % 5
        frames = int(rng.integers(40, 128))
        audio = np.zeros((2, 128, 128), dtype=np.float32)
        audio[0, :frames] = -80.0  # dB floor, as real log-mels
        audio[0, :frames, label * 20 : (label + 1) * 20] = -5.0
        audio_mask = np.zeros(128, dtype=bool)
        audio_mask[:frames] = True
        text = rng.normal(0, 0.1, (32, 512)).astype(np.float32)
        text[:, label] += 1.0
        text_mask = np.zeros(32, dtype=bool)
        text_mask[: int(rng.integers(3, 20))] = True
        out.append(
            {
                "utt_id": f"u{i}",
                "audio": audio,
                "audio_mask": audio_mask,
                "text": text * text_mask[:, None],
                "text_mask": text_mask,
                "label": label,
                "arousal": 1.0 + label * 0.8,
                "valence": 4.5 - label * 0.7,
                "aug_of": "",
            }
        )
    return out


def losses(out_dir, column):
    frame = pd.read_csv(out_dir / "logs" / "metrics.csv")
    return frame[column].dropna().to_numpy()


def train(stage, tmp_path, epochs=60, **kwargs):
    data = items()
    torch.manual_seed(0)  # the same initial weights in every run
    models = build_models(PRESET, len(CLASSES))
    training = StageTraining(lr=1e-2, gamma=1.0, epochs=epochs, patience=epochs, batch_size=16)
    if stage == "fusion":
        module = FusionModule(models["fusion"], training, CLASSES)
    else:
        targets = np.array([item[stage] for item in data])
        models[stage].head.set_scale(targets.mean(), targets.std())  # as the pipeline does
        module = RegressionModule(models[stage], training, stage)
    kwargs.setdefault("progress", False)
    options = FitOptions(**kwargs)
    result = fit_stage(stage, module, VamerDataModule(data, data, batch_size=16), tmp_path / stage, training, options)
    return module, result


@pytest.mark.parametrize(
    ("stage", "column"), [("arousal", "train_loss"), ("valence", "train_loss"), ("fusion", "train_loss")]
)
def test_each_stage_overfits_a_tiny_batch(tmp_path, stage, column):
    _, result = train(stage, tmp_path)
    curve = losses(tmp_path / stage, column)
    assert curve[-1] < 0.3 * curve[0], curve
    assert result.best_checkpoint.endswith("best.ckpt") and result.best_score is not None
    assert (tmp_path / stage / "tensorboard").is_dir()


def test_resume_after_interruption_matches_an_uninterrupted_run(tmp_path):
    whole, _ = train("fusion", tmp_path / "a", epochs=4)
    train("fusion", tmp_path / "b", epochs=2)
    resumed, _ = train("fusion", tmp_path / "b", epochs=4, resume=True)
    for (name, a), (_, b) in zip(whole.state_dict().items(), resumed.state_dict().items()):
        torch.testing.assert_close(a, b, msg=name)


def test_regression_stages_skip_unrated_items_and_metrics_are_pooled():
    data = items(6)
    data[2]["valence"] = float("nan")
    assert len(rated(data, "valence")) == 5
    batch = collate(data[:3])
    assert batch["audio"].shape[:2] == (3, 2) and batch["audio"].shape[3] == 128 and batch["label"].dtype == torch.int64
    assert concordance(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])) == pytest.approx(1.0)
    assert concordance(np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0])) == pytest.approx(-1.0)


def test_balanced_sampler_draws_minorities_evenly():
    labels = [0] * 90 + [1] * 10
    module = VamerDataModule(list(range(100)), [], batch_size=10, balance_by=labels)
    sampler = module.train_dataloader().sampler
    drawn = np.array(labels)[list(iter(sampler))]
    assert 0.3 < drawn.mean() < 0.7
    sampler.set_epoch(1)
    assert list(iter(sampler)) != list(iter(module.train_dataloader().sampler))


def test_collate_trims_padding_without_changing_outputs():
    data = items(4)
    batch = collate(data)
    longest = max(int(item["audio_mask"].sum()) for item in data)
    assert batch["audio"].shape[2] == -(-longest // 8) * 8 and batch["audio_mask"].shape[1] == batch["audio"].shape[2]
    torch.manual_seed(0)
    model = build_models(PRESET, len(CLASSES))["fusion"].eval()
    full = {
        key: torch.as_tensor(np.stack([item[key] for item in data]))
        for key in ("audio", "audio_mask", "text", "text_mask")
    }
    with torch.no_grad():
        trimmed_out = model(batch["audio"], batch["audio_mask"], batch["text"], batch["text_mask"])
        full_out = model(full["audio"], full["audio_mask"], full["text"], full["text_mask"])
    torch.testing.assert_close(trimmed_out, full_out, atol=1e-5, rtol=1e-4)


def test_length_buckets_keep_every_item_once_and_group_similar_lengths():
    from vamer.training.data import EpochSampler

    lengths = np.random.default_rng(0).integers(10, 500, 200)
    plain = list(EpochSampler(200, seed=1))
    bucketed = list(EpochSampler(200, seed=1, lengths=lengths, batch_size=16))
    assert sorted(bucketed) == list(range(200)) and bucketed != plain

    def padded(order):  # frames a batch costs: its longest item times its size
        return sum(lengths[order[i : i + 16]].max() * len(order[i : i + 16]) for i in range(0, 200, 16))

    assert padded(bucketed) < 0.8 * padded(plain)
    assert list(EpochSampler(200, seed=1, lengths=lengths, batch_size=16)) == bucketed  # same seed, same batches


def test_auto_accelerator_on_a_machine_without_a_gpu_trains_on_the_cpu_quietly(tmp_path, monkeypatch):
    import warnings

    from vamer.training.devices import TrainerOptions

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    data = items(16)
    training = StageTraining(lr=1e-2, gamma=1.0, epochs=1, patience=1, batch_size=8)
    module = FusionModule(build_models(PRESET, len(CLASSES))["fusion"], training, CLASSES)
    with warnings.catch_warnings(record=True) as caught:  # the filters in force, as a user runs it
        fit_stage(
            "fusion", module, VamerDataModule(data, data, batch_size=8), tmp_path, training, FitOptions(progress=False)
        )
    assert [str(w.message) for w in caught] == []
    assert TrainerOptions().describe()["ran_on"].startswith("cpu")


def test_trainer_options_follow_the_machine_and_the_request(monkeypatch):
    from vamer.training.devices import TrainerOptions

    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # as on a GPU machine
    assert TrainerOptions().device() == "cuda" and TrainerOptions().loader_args()["pin_memory"]
    assert TrainerOptions(accelerator="cpu").loader_args() == {"num_workers": 0, "pin_memory": False}
    assert TrainerOptions(workers=3).loader_args()["num_workers"] == 3
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert TrainerOptions(accelerator="gpu").device() == "cpu"
    assert "precision" not in TrainerOptions().trainer_args()
    assert TrainerOptions(precision="bf16-mixed").trainer_args()["precision"] == "bf16-mixed"
    assert TrainerOptions.parse("2").devices == 2 and TrainerOptions.parse("0,1").devices == "0,1"


def test_resume_refuses_a_missing_or_cut_off_checkpoint(tmp_path):
    """--resume without a last.ckpt, or with a truncated one, is refused in one line (it must not
    start from scratch silently, nor end in an internal error)."""
    from vamer.errors import VamerError

    with pytest.raises(VamerError, match="nothing to resume"):
        train("fusion", tmp_path / "none", epochs=2, resume=True)
    train("fusion", tmp_path / "cut", epochs=1)
    last = tmp_path / "cut" / "fusion" / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    with pytest.raises(VamerError, match="not a whole checkpoint"):
        train("fusion", tmp_path / "cut", epochs=2, resume=True)


def test_last_checkpoint_is_written_every_epoch_even_when_validation_does_not_improve(tmp_path):
    """last.ckpt follows the epochs, not the best one: a stage killed at epoch 7 must not resume from
    epoch 2."""
    from vamer.training.modules import FusionModule

    data = items()
    torch.manual_seed(0)
    training = StageTraining(lr=1e-12, gamma=1.0, epochs=3, patience=10, batch_size=16)  # nothing improves
    module = FusionModule(build_models(PRESET, len(CLASSES))["fusion"], training, CLASSES)
    result = fit_stage(
        "fusion",
        module,
        VamerDataModule(data, data, batch_size=16),
        tmp_path / "f",
        training,
        FitOptions(progress=False),
    )
    # Written at the end of the last training epoch (epoch 2): it holds the 3 epochs done.
    from vamer.training.stages import epochs_done

    last = torch.load(result.last_checkpoint, map_location="cpu", weights_only=True)
    assert last["epoch"] == 2 and epochs_done(last, Path(result.last_checkpoint)) == 3
    assert torch.load(result.best_checkpoint, map_location="cpu", weights_only=True)["epoch"] == 0


def test_resume_keeps_the_logged_rows_of_the_epochs_it_continues_from(tmp_path):
    """Lightning's CSV logger deleted metrics.csv on resume: the curves of the first epochs were lost."""
    train("fusion", tmp_path / "b", epochs=2)
    train("fusion", tmp_path / "b", epochs=4, resume=True)
    frame = pd.read_csv(tmp_path / "b" / "fusion" / "logs" / "metrics.csv")
    assert sorted(frame["epoch"].dropna().astype(int).unique()) == [0, 1, 2, 3]
    assert frame.groupby("epoch")["val_macro_f1"].count().tolist() == [1, 1, 1, 1]  # no epoch logged twice


def test_checkpoints_are_read_as_data_only(tmp_path):
    """A crafted checkpoint given to ``vamer train fusion --arousal`` is read as data: the
    ``os.system`` call it carries never runs."""
    import os

    from vamer.errors import VamerError
    from vamer.recipe.task import encoder_weights

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    crafted = tmp_path / "arousal.ckpt"
    torch.save({"state_dict": {"model.encoder.w": torch.zeros(1)}, "extra": Payload()}, crafted)
    with pytest.raises(VamerError, match="refused, it holds more than weights"):
        encoder_weights(crafted)
    assert not marker.exists()
    _, result = train("arousal", tmp_path / "ok", epochs=1)  # vamer's own checkpoints still load
    assert encoder_weights(result.last_checkpoint)


def test_importing_vamer_changes_no_global_logging_or_warning_setting():
    """training/stages.py silenced Lightning's logger and a warning when it was imported."""
    import subprocess
    import sys

    script = (
        "import logging, warnings\n"
        "import torch, lightning, pandas, sklearn, librosa, transformers, fastapi, tslearn, pingouin\n"
        "state = lambda: ([str(f) for f in warnings.filters], "
        "logging.getLogger('lightning.pytorch.utilities.rank_zero').level)\n"
        "before = state()\n"
        "import vamer.cli, vamer.commands.run, vamer.training.stages, vamer.serving.app, vamer.analysis.report\n"
        "assert state() == before, [f for f in state()[0] if f not in before[0]]\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


class StopAt(lightning.Callback):
    """Stops training as a kill would, when epoch ``epoch`` starts (the epochs before it are whole)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, module):
        if trainer.current_epoch == self.epoch:
            raise RuntimeError("killed")


def noisy_train(tmp_path, epochs=6, **kwargs):
    """Fusion trained on items whose validation copies have shuffled labels: its best epoch is an
    early one, which a resume must not forget."""
    data = items()
    shuffled = [
        dict(item, label=label)
        for item, label in zip(items(seed=1), np.random.default_rng(0).permutation([item["label"] for item in data]))
    ]
    torch.manual_seed(0)
    training = StageTraining(lr=1e-2, gamma=1.0, epochs=epochs, patience=epochs, batch_size=16)
    module = FusionModule(build_models(PRESET, len(CLASSES))["fusion"], training, CLASSES)
    return fit_stage(
        "fusion",
        module,
        VamerDataModule(data, shuffled, batch_size=16),
        tmp_path,
        training,
        FitOptions(progress=False, **kwargs),
    )


def test_a_stage_stopped_mid_training_resumes_with_its_whole_history_and_its_true_best(tmp_path):
    """Issue 30, item 5: last.ckpt was written only when training ended, so a killed stage could not
    be resumed; resuming from epoch 1 dropped epoch 1's rows; after a move, "best" forgot the epochs
    before it."""
    import shutil

    whole = noisy_train(tmp_path / "whole")
    history = pd.read_csv(tmp_path / "whole" / "logs" / "metrics.csv").dropna(subset=["val_macro_f1"])
    assert history["val_macro_f1"].idxmax() in history.index[:3], "the premise: the best epoch comes before 3"
    with pytest.raises(RuntimeError, match="killed"):
        noisy_train(tmp_path / "cut", callbacks=(StopAt(3),))
    last = tmp_path / "cut" / "checkpoints" / "last.ckpt"
    assert torch.load(last, map_location="cpu", weights_only=True)["epoch"] == 2  # written as epoch 2 ended
    shutil.move(tmp_path / "cut", tmp_path / "moved")
    resumed = noisy_train(tmp_path / "moved", resume=True)
    assert resumed.best_score == pytest.approx(whole.best_score) and resumed.best_checkpoint.startswith(
        str(tmp_path / "moved")
    ), (resumed, whole)
    again = pd.read_csv(tmp_path / "moved" / "logs" / "metrics.csv")
    assert again.groupby("epoch")["val_macro_f1"].count().tolist() == [1] * 6  # every epoch once
    best = torch.load(resumed.best_checkpoint, map_location="cpu", weights_only=True)
    assert best["epoch"] == torch.load(whole.best_checkpoint, map_location="cpu", weights_only=True)["epoch"]


def test_resume_refuses_a_checkpoint_that_is_not_one_of_a_stage_in_training(tmp_path):
    """A checkpoint without "epoch" gave an internal KeyError."""
    from vamer.errors import VamerError

    train("fusion", tmp_path / "a", epochs=1)
    last = tmp_path / "a" / "fusion" / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, map_location="cpu", weights_only=True)
    del checkpoint["epoch"]
    torch.save(checkpoint, last)
    with pytest.raises(VamerError, match="not a checkpoint of a stage in training .it lacks epoch"):
        train("fusion", tmp_path / "a", epochs=2, resume=True)


def test_a_stage_in_a_log_reports_plain_lines_not_a_bar(tmp_path, capfd):
    """Issue 31: in a `make demo` log, Lightning's bar piled carriage-return updates into lines of
    several KB."""
    train("fusion", tmp_path, epochs=3, progress=True)
    said = capfd.readouterr().err
    assert "\r" not in said, said[:300]
    lines = [line for line in said.splitlines() if line.startswith("fusion: ")]
    assert lines[0].startswith("fusion: epoch 1 of 3: ") and "train_loss" in lines[0], lines
    assert lines[-1].startswith("fusion: ended after 3 of 3") and len(lines) == 2, lines

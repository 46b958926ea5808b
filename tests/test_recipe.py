"""The fold recipe: pretraining really trains the encoders, regressors learn a learnable target,
and fusion freezes only what was pretrained."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from vamer.features.store import FoldData
from vamer.presets import load_preset
from vamer.recipe import FoldTask, train_fold
from vamer.training.devices import TrainerOptions

CLASSES = ["neutral", "happy", "sad"]


def rated_items(n, seed):
    """Items whose arousal is the loudness of a mel band and whose valence is a direction of the
    token vectors, both on a 1-5 scale: a model that trains can learn them."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        arousal, valence = rng.uniform(1, 5), rng.uniform(1, 5)
        frames = int(rng.integers(48, 128))
        audio = np.zeros((2, 128, 128), dtype=np.float32)
        audio[0, :frames] = -80.0 + rng.normal(0, 2, (frames, 128))
        audio[0, :frames, 40:60] = -80.0 + 15.0 * arousal
        audio_mask = np.zeros(128, dtype=bool)
        audio_mask[:frames] = True
        length = int(rng.integers(4, 20))
        text = np.zeros((32, 512), dtype=np.float32)
        text[:length] = rng.normal(0, 0.3, (length, 512))
        text[:length, :8] += (valence - 3.0) / 2.0
        text_mask = np.zeros(32, dtype=bool)
        text_mask[:length] = True
        label = 0 if arousal < 2.5 else (1 if valence > 3 else 2)
        out.append(
            {
                "utt_id": f"s{seed}u{i}",
                "audio": audio,
                "audio_mask": audio_mask,
                "text": text,
                "text_mask": text_mask,
                "label": label,
                "arousal": float(arousal),
                "valence": float(valence),
                "aug_of": "",
            }
        )
    return out


def learnable_preset():
    preset = load_preset("tiny")
    stage = preset.training.arousal.model_copy(
        update={"lr": 3e-3, "epochs": 25, "patience": 25, "schedule": "onecycle", "batch_size": 16}
    )
    return preset.model_copy(
        update={
            "training": preset.training.model_copy(
                update={"arousal": stage, "valence": stage, "fusion": stage.model_copy(update={"epochs": 2})}
            )
        }
    )


def test_pretraining_trains_the_encoders_and_regressors_reach_ccc_08(tmp_path):
    preset = learnable_preset()
    data = FoldData(train=rated_items(96, 0), val=rated_items(32, 1), test=rated_items(48, 2))
    torch.manual_seed(0)
    outcome = train_fold(FoldTask(data, preset, CLASSES, tmp_path, seed=0, text_dim=512), ("fusion",))
    assert outcome.pretrained == {"arousal": True, "valence": True}
    assert outcome.regression["arousal"]["ccc"] >= 0.8, outcome.regression
    assert outcome.regression["valence"]["ccc"] >= 0.8, outcome.regression
    # The scale of the ratings is kept with the head, so predictions come back on the 1-5 scale.
    head = outcome.models["arousal"].head
    assert 2.0 < float(head.target_mean) < 4.0 and float(head.target_std) > 0.5
    # Weights moved: compare with an untrained model built from the same seed.
    torch.manual_seed(0)
    from vamer.presets.build import build_models

    untrained = build_models(preset, len(CLASSES))
    for stage in ("arousal", "valence"):
        before = untrained[stage].encoder.state_dict()
        after = outcome.models[stage].encoder.state_dict()
        moved = [key for key in before if key.endswith("weight") and not torch.equal(before[key], after[key])]
        assert len(moved) >= 0.9 * sum(key.endswith("weight") for key in before), stage
    fusion = outcome.models["fusion"]
    assert fusion.frozen == ("audio", "text")
    torch.testing.assert_close(fusion.audio.state_dict(), outcome.models["arousal"].encoder.state_dict())


def test_without_ratings_nothing_is_pretrained_and_fusion_trains_its_encoders(tmp_path):
    preset = learnable_preset()
    data = FoldData(*(rated_items(n, seed) for n, seed in ((24, 0), (12, 1), (12, 2))))
    for split in (data.train, data.val, data.test):
        for item in split:
            item["arousal"] = item["valence"] = float("nan")
    outcome = train_fold(FoldTask(data, preset, CLASSES, tmp_path, text_dim=512), ("fusion", "fusion_no_pretraining"))
    assert outcome.pretrained == {"arousal": False, "valence": False}
    fusion = outcome.models["fusion"]
    assert fusion.frozen == ()
    assert all(p.requires_grad for p in fusion.audio.parameters())
    assert "fusion_no_pretraining" not in outcome.predictions
    assert any("no arousal ratings" in note for note in outcome.notes)


@pytest.mark.parametrize("frozen", [True, False])
def test_fusion_freezes_pretrained_encoders_only_when_the_preset_says_so(tmp_path, frozen):
    preset = learnable_preset()
    preset = preset.model_copy(update={"fusion": preset.fusion.model_copy(update={"freeze_encoders": frozen})})
    data = FoldData(train=rated_items(24, 0), val=rated_items(12, 1), test=rated_items(12, 2))
    outcome = train_fold(FoldTask(data, preset, CLASSES, tmp_path, seed=0, text_dim=512), ("fusion",))
    assert outcome.models["fusion"].frozen == (("audio", "text") if frozen else ())


def test_refit_trains_again_on_train_and_val_for_the_chosen_epochs(tmp_path):
    preset = learnable_preset()
    preset = preset.model_copy(update={"training": preset.training.model_copy(update={"refit": True})})
    data = FoldData(train=rated_items(24, 0), val=rated_items(12, 1), test=rated_items(12, 2))
    outcome = train_fold(FoldTask(data, preset, CLASSES, tmp_path, seed=0, text_dim=512), ("fusion",))
    refit_logs = pd.read_csv(tmp_path / "fusion-refit" / "logs" / "metrics.csv")
    # Kept or, on this tiny set, judged degenerate and replaced by the validated model: either way
    # the refit trained on train + val for the epochs it names (the floor of 5, capped at the 2 the
    # stage allows).
    notes = [note for note in outcome.notes if "on train + val for " in note]
    assert len(notes) == 1
    epochs = int(notes[0].split("on train + val for ")[1].split(" epochs")[0])
    assert epochs == 2 and refit_logs["epoch"].max() == epochs - 1
    assert "val_loss" not in refit_logs.columns  # nothing validated on data it trained on
    assert len(outcome.predictions["fusion"]) == 12


@pytest.mark.parametrize("blank", [None, "audio", "text"])
def test_encoding_once_gives_the_logits_of_the_whole_model(blank):
    """Fusion on frozen encoders trains on encode_split's outputs; they must give the same logits
    as the whole model on the raw items, even when one modality is blanked out."""
    from vamer.presets.build import build_models
    from vamer.recipe.fusion import Blanked, encode_split
    from vamer.training.data import collate

    preset = load_preset("tiny")
    torch.manual_seed(0)
    model = build_models(preset, len(CLASSES), 512)["fusion"]
    model.freeze(audio=True, text=True)
    model.eval()
    items = rated_items(20, 3)
    dataset = Blanked(items, blank) if blank else items
    encoded = encode_split(model, dataset, batch_size=7)  # batches padded differently from the check below
    batch = collate([dataset[i] for i in range(len(dataset))])
    cached = collate([encoded[i] for i in range(len(encoded))])
    with torch.no_grad():
        whole = model(batch["audio"], batch["audio_mask"], batch["text"], batch["text_mask"])
        fused = model.fuse(cached["audio_h"], cached["audio_h_mask"], cached["text_h"], cached["text_h_mask"])
    torch.testing.assert_close(fused, whole, atol=1e-4, rtol=1e-4)
    assert cached["utt_id"] == batch["utt_id"] and torch.equal(cached["label"], batch["label"])


def test_same_seed_gives_identical_predictions(tmp_path):
    """`make demo` twice must print the same numbers: a fold trained twice with one seed predicts
    the same probabilities (length buckets, balanced draws, encoded splits and refit included)."""
    preset = learnable_preset()
    preset = preset.model_copy(
        update={"training": preset.training.model_copy(update={"refit": True, "balanced_sampler": True})}
    )
    data = FoldData(train=rated_items(40, 0), val=rated_items(16, 1), test=rated_items(16, 2))
    runs = [
        train_fold(FoldTask(data, preset, CLASSES, tmp_path / name, seed=3, text_dim=512), ("fusion", "audio_only"))
        for name in ("a", "b")
    ]
    for variant in ("fusion", "audio_only"):
        assert runs[0].predictions[variant] == runs[1].predictions[variant]
    assert runs[0].regression == runs[1].regression


def test_fusion_trains_in_training_mode_after_encoding_once(tmp_path):
    """Encoding runs the model in eval mode; the fusion block must still train with dropout on
    (Lightning keeps whatever mode a module starts fit in), the frozen encoders in eval mode."""
    import lightning

    from vamer.presets.build import build_models
    from vamer.recipe.fusion import encode_split
    from vamer.training.data import VamerDataModule
    from vamer.training.modules import FusionModule
    from vamer.training.stages import FitOptions, fit_stage

    class Modes(lightning.Callback):
        seen: list = []

        def on_train_batch_start(self, trainer, module, batch, index):
            self.seen.append((module.model.training, module.model.audio.training, module.model.text.training))

    preset = load_preset("tiny")
    model = build_models(preset, len(CLASSES), 512)["fusion"]
    model.freeze(audio=True, text=True)
    train, val = (encode_split(model, rated_items(16, seed)) for seed in (0, 1))
    assert model.training and not model.audio.training  # encoding gave the mode back
    model.eval()  # as a test or a checkpoint load may leave it
    training = preset.training.fusion.model_copy(update={"epochs": 1})
    modes = Modes()
    fit_stage(
        "fusion",
        FusionModule(model, training, CLASSES),
        VamerDataModule(train, val, batch_size=8),
        tmp_path,
        training,
        FitOptions(progress=False, trainer=TrainerOptions(accelerator="cpu"), callbacks=(modes,)),
    )
    assert modes.seen and set(modes.seen) == {(True, False, False)}


def test_each_ablation_sees_what_its_name_says():
    """audio_only: the text is blanked (empty mask); text_only: the audio and its side inputs are;
    fusion_no_pretraining: the encoders start untrained and are not frozen."""
    from vamer.presets.build import build_models
    from vamer.recipe.fusion import Blanked
    from vamer.recipe.task import fresh_fusion

    items = [{**item, "functionals": np.ones(88, dtype=np.float32)} for item in rated_items(3, 0)]
    for index, item in enumerate(items):
        audio_only, text_only = Blanked(items, "text")[index], Blanked(items, "audio")[index]
        assert not audio_only["text_mask"].any() and not audio_only["text"].any()
        assert np.array_equal(audio_only["audio"], item["audio"]) and audio_only["functionals"].all()
        assert not text_only["audio_mask"].any() and not text_only["audio"].any()
        assert not text_only["functionals"].any()  # eGeMAPS are audio too
        assert np.array_equal(text_only["text"], item["text"]) and item["text_mask"].any()  # the source is intact
    preset = load_preset("tiny")
    models = build_models(preset, len(CLASSES), 512)
    untrained = build_models(preset, len(CLASSES), 512)
    with torch.no_grad():  # stands for pretraining: the regressors' encoders moved away from the start
        for stage in ("arousal", "valence"):
            for parameter in models[stage].encoder.parameters():
                parameter.add_(1.0)
    task = FoldTask(FoldData(rated_items(2, 0), [], []), preset, CLASSES, Path("unused"), text_dim=512)
    fused = fresh_fusion(task, models, {"arousal": True, "valence": True})
    plain = fresh_fusion(task, untrained, {"arousal": False, "valence": False})
    for name, stage in (("audio", "arousal"), ("text", "valence")):
        pretrained_state, untrained_state = models[stage].encoder.state_dict(), untrained[stage].encoder.state_dict()
        assert all(torch.equal(v, pretrained_state[k]) for k, v in getattr(fused, name).state_dict().items())
        assert all(torch.equal(v, untrained_state[k]) for k, v in getattr(plain, name).state_dict().items())
    assert set(fused.frozen) == {"audio", "text"} and plain.frozen == ()
    assert all(p.requires_grad for p in plain.audio.parameters())


def test_a_refit_that_degenerates_is_not_kept(tmp_path, monkeypatch):
    """A refit that collapses onto one class (here: its head forced to answer the first class, as a
    one-epoch refit once did on a real corpus) must not replace the model validation chose."""
    from vamer.recipe import fusion

    real_fit = fusion.fit_stage

    def collapsing_refit(stage, module, data, out_dir, training, options):
        if not options.validate:  # the refit: a head that always answers class 0, which training cannot move
            last = module.model.head.out[-1]
            with torch.no_grad():
                last.weight.zero_()
                last.bias.copy_(torch.tensor([50.0, -50.0, -50.0]))
            last.requires_grad_(False)
        return real_fit(stage, module, data, out_dir, training, options)

    monkeypatch.setattr(fusion, "fit_stage", collapsing_refit)
    preset = learnable_preset()
    stats = {"head": "stats"}
    preset = preset.model_copy(
        update={
            "fusion": preset.fusion.model_copy(update=stats),
            "training": preset.training.model_copy(update={"refit": True, "fusion": preset.training.arousal}),
        }
    )
    data = FoldData(train=rated_items(48, 0), val=rated_items(24, 1), test=rated_items(24, 2))
    outcome = train_fold(FoldTask(data, preset, CLASSES, tmp_path, seed=0, text_dim=512), ("fusion",))
    kept = [note for note in outcome.notes if "degenerated" in note]
    assert len(kept) == 1 and "the validated model is kept" in kept[0], outcome.notes
    assert (tmp_path / "fusion-refit" / "checkpoints" / "last.ckpt").is_file()  # the refit did train
    predicted = {row["pred"] for row in outcome.predictions["fusion"]}
    assert len(predicted) > 1  # the collapsed refit would answer one class


def test_a_healthy_refit_is_kept_and_trains_at_least_the_floor(tmp_path):
    preset = learnable_preset()
    preset = preset.model_copy(
        update={
            "training": preset.training.model_copy(
                update={
                    "refit": True,
                    "refit_min_epochs": 3,
                    "fusion": preset.training.arousal.model_copy(update={"epochs": 6, "patience": 1}),
                }
            )
        }
    )
    data = FoldData(train=rated_items(48, 0), val=rated_items(24, 1), test=rated_items(24, 2))
    outcome = train_fold(FoldTask(data, preset, CLASSES, tmp_path, seed=0, text_dim=512), ("fusion",))
    refit_logs = pd.read_csv(tmp_path / "fusion-refit" / "logs" / "metrics.csv")
    assert refit_logs["epoch"].max() + 1 >= 3
    assert any("refitted on train + val" in note for note in outcome.notes), outcome.notes

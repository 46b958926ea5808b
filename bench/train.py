"""Benchmark: training throughput per stage and preset on this machine (2 CPU cores here).

    .venv/bin/python bench/train.py [--presets cpu,tiny] [--seconds 3.0] [--steps 5]
    .venv/bin/python bench/train.py --loop [--epochs 3] [--profile]

Model steps: for each preset and stage, utterances/s and seconds per optimiser step at the
preset's batch size, on random inputs of ``--seconds`` of audio each (the demo's clips average
3.0 s; each preset turns that into its own number of frames, and batches are trimmed to their
longest clip), the FLOP/s that makes (a training step taken
as 3 forward passes, FLOPs counted at those lengths), and its share of this machine's matmul peak
(measured first, as bench/predict.py does: bench/machine.py).

``--loop``: the whole training loop of the ``cpu`` preset (Lightning, data loading, validation,
logging) on fold 0 of the demo corpus (made in build/ when absent), per stage: utterances/s over
the training batches, against the same batches through the bare model step; the difference is
the loop's own cost.  ``--profile`` adds the functions that take the loop's time (cProfile).
"""

from __future__ import annotations

import argparse
import time

import lightning
import numpy as np
import torch
from machine import matmul_peak  # bench/machine.py, beside this script

from vamer.features.inputs import batch_length
from vamer.presets import frames_for, functionals_dim, load_preset
from vamer.presets.build import build_models, flops_per_utterance
from vamer.training.data import collate
from vamer.training.devices import TrainerOptions


def batch(size: int, frames: int, max_frames: int, tokens: int, length: int, functionals: int = 0) -> dict:
    items = []
    for i in range(size):
        audio = torch.full((2, max_frames, 128), -80.0)
        audio[0, :frames] = torch.rand(frames, 128) * -80
        audio_mask = torch.zeros(max_frames, dtype=torch.bool)
        audio_mask[:frames] = True
        text_mask = torch.zeros(length, dtype=torch.bool)
        text_mask[:tokens] = True
        items.append(
            {
                "utt_id": str(i),
                "audio": audio.numpy(),
                "audio_mask": audio_mask.numpy(),
                "text": torch.randn(length, 512).numpy(),
                "text_mask": text_mask.numpy(),
                "label": i % 5,
                "arousal": 3.0,
                "valence": 3.0,
                "functionals": np.random.randn(functionals).astype(np.float32),
            }
        )
    return collate(items)


def model_steps(args, peak: float) -> None:
    print(f"torch threads {torch.get_num_threads()}; {args.seconds:g} s of audio, {args.tokens} tokens per utterance")
    for name in args.presets.split(","):
        preset = load_preset(name)
        models = build_models(preset, 5)
        frames = min(frames_for(preset, args.seconds), preset.audio_features.max_frames)
        tokens = min(args.tokens, preset.text.max_length)
        flops = flops_per_utterance(preset, frames=batch_length(frames), tokens=batch_length(tokens))
        for stage in ("arousal", "valence", "fusion"):
            size = getattr(preset.training, stage).batch_size
            data = batch(
                size, frames, preset.audio_features.max_frames, tokens, preset.text.max_length, functionals_dim(preset)
            )
            model = models[stage].train()
            optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
            inputs = {
                "arousal": ("audio", "audio_mask", "functionals"),
                "valence": ("text", "text_mask"),
                "fusion": ("audio", "audio_mask", "text", "text_mask", "functionals"),
            }[stage]
            for step in range(args.steps + 1):
                if step == 1:
                    started = time.perf_counter()  # the first step warms up
                out = model(*(data[k] for k in inputs))
                loss = out.float().pow(2).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            seconds = (time.perf_counter() - started) / args.steps
            achieved = 3 * flops[stage] * size / seconds
            print(
                f"{name:<6} {stage:<8} batch {size:3d}: {seconds * 1000:8.1f} ms/step, {size / seconds:8.1f} utt/s, "
                f"{flops[stage] / 1e9:7.3f} GFLOP/utt forward, {achieved / 1e9:6.1f} GFLOP/s = "
                f"{achieved / peak:4.0%} of the matmul peak"
            )


class _BatchClock(lightning.Callback):
    """Wall time and utterances of the training batches (data loading included), per fit."""

    def __init__(self) -> None:
        self.seconds, self.utterances, self.batches = 0.0, 0, []
        self._since = None

    def on_train_epoch_start(self, trainer, module) -> None:
        self._since = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, index) -> None:
        now = time.perf_counter()
        self.seconds += now - self._since
        self.utterances += len(batch["utt_id"])
        self.batches.append(batch)
        self._since = now


def bare_steps(module: lightning.LightningModule, batches: list[dict]) -> float:
    """Seconds of forward, backward and optimiser step over ``batches``, without the loop."""
    optimizer = module.configure_optimizers()["optimizer"]
    module.log = lambda *args, **kwargs: None  # no loop to log to: the step itself is measured
    module.train()
    started = time.perf_counter()
    for batch in batches:
        loss = module.training_step(batch, 0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started


def loop(args) -> None:
    import cProfile
    import logging
    import pstats
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from vamer.data.readers import load
    from vamer.features.splits import make_folds
    from vamer.features.store import FeatureStore
    from vamer.recipe import FoldTask
    from vamer.recipe.fusion import encode_split
    from vamer.recipe.task import fresh_fusion, scale_inputs
    from vamer.training.data import VamerDataModule, rated, rating_scale
    from vamer.training.modules import FusionModule, RegressionModule
    from vamer.training.stages import FitOptions, fit_stage

    logging.getLogger("lightning").setLevel(logging.ERROR)
    corpus = Path("build/demo-corpus")
    if not (corpus / "vamer_demo.json").is_file():
        subprocess.run([str(Path(sys.executable).with_name("vamer")), "data", "demo", str(corpus)], check=True)
    preset = load_preset("cpu")
    result = load(corpus, read_bio=False)
    store = FeatureStore.build(
        result.utterances, result.classes, preset.audio_features, preset.text, "build/cache", progress=False
    )
    data = store.fold_inputs(make_folds(store.table, "session:5", seed=0)[0])
    models = build_models(preset, len(result.classes), store.encoder.dim)
    scale_inputs(models, data.train, preset)
    print(
        f"cpu preset, demo fold 0: {len(data.train)} training utterances, {args.epochs} epochs per stage, "
        f"torch threads {torch.get_num_threads()}"
    )
    for stage in ("arousal", "valence", "fusion"):
        training = getattr(preset.training, stage).model_copy(update={"epochs": args.epochs, "patience": args.epochs})
        if stage == "fusion":
            task = FoldTask(data, preset, result.classes, Path("unused"), text_dim=store.encoder.dim)
            model = fresh_fusion(task, models, {"arousal": True, "valence": True})
            train, val = (encode_split(model, getattr(data, split)) for split in ("train", "val"))
            module = FusionModule(model, training, result.classes)
        else:
            train, val = (rated(getattr(data, split), stage) for split in ("train", "val"))
            models[stage].head.set_scale(*rating_scale(data.train, stage))
            module = RegressionModule(models[stage], training, stage)
        clock = _BatchClock()
        profiler = cProfile.Profile() if args.profile else None
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            if profiler:
                profiler.enable()
            fit_stage(
                stage,
                module,
                VamerDataModule(train, val, batch_size=training.batch_size),
                Path(out),
                training,
                FitOptions(progress=False, trainer=TrainerOptions(accelerator="cpu"), callbacks=(clock,)),
            )
            if profiler:
                profiler.disable()
            wall = time.perf_counter() - started
        bare = min(bare_steps(module, clock.batches) for _ in range(2))  # the first pass warms up
        print(
            f"{stage:<8} fit {wall:6.1f} s; training batches {clock.seconds:6.1f} s = "
            f"{clock.utterances / clock.seconds:7.1f} utt/s; the same batches as bare model steps {bare:6.1f} s = "
            f"{clock.utterances / bare:7.1f} utt/s; the loop's own share {1 - bare / clock.seconds:4.0%}"
        )
        if profiler:
            stats = pstats.Stats(profiler).sort_stats("tottime")
            print("  where the fit's time goes (own time, top 12):")
            stats.print_stats(12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="cpu,tiny")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--tokens", type=int, default=12)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--loop", action="store_true", help="the whole training loop on the demo corpus")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if args.loop:
        loop(args)
        return
    peak = matmul_peak() * 1e9
    print(f"fp32 matmul peak (best of 2048 x 2048 products): {peak / 1e9:.1f} GFLOP/s")
    model_steps(args, peak)


if __name__ == "__main__":
    main()

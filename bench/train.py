"""Benchmark: training throughput per stage and preset on this machine (2 CPU cores here).

    .venv/bin/python bench/train.py [--presets cpu,tiny] [--frames 96] [--steps 5]

For each preset and stage: utterances/s and seconds per optimiser step at the preset's batch size,
on random inputs of ``--frames`` valid frames (the demo's clips average ~94 frames; batches are
trimmed to their longest clip), and forward FLOPs per full-length utterance.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from vamer.models.presets import build_models, flops_per_utterance, functionals_dim, load_preset
from vamer.training.data import collate


def batch(size: int, frames: int, max_frames: int, tokens: int, length: int, functionals: int = 0) -> dict:
    items = []
    for i in range(size):
        audio = torch.full((2, max_frames, 128), -80.0)
        audio[0, :frames] = torch.rand(frames, 128) * -80
        audio_mask = torch.zeros(max_frames, dtype=torch.bool)
        audio_mask[:frames] = True
        text_mask = torch.zeros(length, dtype=torch.bool)
        text_mask[:tokens] = True
        items.append({"utt_id": str(i), "audio": audio.numpy(), "audio_mask": audio_mask.numpy(),
                      "text": torch.randn(length, 512).numpy(), "text_mask": text_mask.numpy(), "label": i % 5,
                      "arousal": 3.0, "valence": 3.0, "functionals": np.random.randn(functionals).astype(np.float32)})
    return collate(items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="cpu,tiny")
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--tokens", type=int, default=12)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    print(f"torch threads {torch.get_num_threads()}; {args.frames} valid frames, {args.tokens} tokens per utterance")
    for name in args.presets.split(","):
        preset = load_preset(name)
        models = build_models(preset, 5)
        flops = flops_per_utterance(preset)
        for stage in ("arousal", "valence", "fusion"):
            size = getattr(preset.training, stage).batch_size
            data = batch(size, min(args.frames, preset.audio_features.max_frames), preset.audio_features.max_frames,
                         min(args.tokens, preset.text.max_length), preset.text.max_length, functionals_dim(preset))
            model = models[stage].train()
            optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
            inputs = {"arousal": ("audio", "audio_mask", "functionals"), "valence": ("text", "text_mask"),
                      "fusion": ("audio", "audio_mask", "text", "text_mask", "functionals")}[stage]
            for step in range(args.steps + 1):
                if step == 1:
                    started = time.perf_counter()  # the first step warms up
                out = model(*(data[k] for k in inputs))
                loss = out.float().pow(2).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            seconds = (time.perf_counter() - started) / args.steps
            print(f"{name:<6} {stage:<8} batch {size:3d}: {seconds * 1000:8.1f} ms/step, {size / seconds:8.1f} utt/s, "
                  f"{flops[stage] / 1e9:8.3f} GFLOPs/utt (forward, full length)")


if __name__ == "__main__":
    main()

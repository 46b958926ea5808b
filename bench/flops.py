"""Benchmark: forward FLOPs per utterance and parameters of every preset's three models.

    .venv/bin/python bench/flops.py

FLOPs are counted by torch.utils.flop_counter on one utterance of SECONDS of audio (the paper
preset's full 512 frames; presets differ in hop length, so in frames per second) with every frame
and token valid, so they are an upper bound for shorter clips.
"""

from __future__ import annotations

from vamer.presets import PRESETS, frames_for, load_preset
from vamer.presets.build import flops_per_utterance

SECONDS = 512 * 512 / 16_000  # the paper preset's full length: 16.4 s


def main() -> None:
    counts = {
        name: flops_per_utterance(preset, frames=min(frames_for(preset, SECONDS), preset.audio_features.max_frames))
        for name in PRESETS
        for preset in [load_preset(name)]
    }
    print(f"forward FLOPs for {SECONDS:.1f} s of audio and 64 tokens")
    print(f"{'preset':<12} {'arousal GFLOPs':>15} {'valence GFLOPs':>15} {'fusion GFLOPs':>14} {'fusion params':>14}")
    for name, c in counts.items():
        print(
            f"{name:<12} {c['arousal'] / 1e9:15.3f} {c['valence'] / 1e9:15.3f} {c['fusion'] / 1e9:14.3f} "
            f"{c['parameters']['fusion']:14,d}"
        )
    for stage in ("arousal", "valence", "fusion"):
        print(f"paper / cpu, {stage}: {counts['paper'][stage] / counts['cpu'][stage]:.0f}x fewer FLOPs in cpu")


if __name__ == "__main__":
    main()

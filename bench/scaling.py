"""Benchmark: what the paper preset needs on KEMDy20, per GPU and per epoch, from measured counts.

    .venv/bin/python bench/scaling.py [--preset paper] [--utterances 13462]

Measured here (on the CPU, one full-length utterance of 16.4 s and 64 tokens):
- forward FLOPs per model (torch.utils.flop_counter, as bench/flops.py);
- activation memory a training step keeps for backward, per utterance: the bytes of every tensor
  autograd saves (torch.autograd.graph.saved_tensors_hooks, each storage counted once);
- parameters, hence weights + gradients + Adam's two moments (16 bytes each in fp32).
Computed from them: memory per GPU at the preset's batch size, and the time of one epoch over the
training split of a session:5 fold (4/5 of the sessions, 15 % of them kept for validation) on a
few GPUs at an assumed 40 % of their dense peak, with a training step taken as 3 forward passes.
Those GPU times are estimates: nothing here ran on a GPU.
"""

from __future__ import annotations

import argparse

import torch

from vamer.presets import functionals_dim, load_preset
from vamer.presets.build import build_models, flops_per_utterance

TRAIN_SHARE = 4 / 5 * (1 - 0.15)
# Dense peak TFLOP/s (vendor figures) and the precision each is quoted for.
GPUS = {"A100 (bf16-mixed)": 312.0, "A100 (32-true, TF32)": 156.0, "V100 (32-true)": 15.7, "L4 (bf16-mixed)": 121.0}
UTILISATION = 0.40


def activation_bytes(model: torch.nn.Module, inputs: tuple) -> int:
    """Bytes autograd saves for backward in one training forward of ``model`` on ``inputs``."""
    seen: dict[int, int] = {}

    def pack(tensor: torch.Tensor):
        storage = tensor.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        output = model(*inputs)
    del output
    return sum(seen.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--utterances", type=int, default=13_462, help="corpus size (KEMDy20: 13,462 segments)")
    args = parser.parse_args()
    preset = load_preset(args.preset)
    frames, length, mels = preset.audio_features.max_frames, preset.text.max_length, preset.audio_features.n_mels
    flops = flops_per_utterance(preset)
    models = build_models(preset, 5, 512)
    audio, audio_mask = torch.randn(1, 2, frames, mels), torch.ones(1, frames, dtype=torch.bool)
    text, text_mask = torch.randn(1, length, 512), torch.ones(1, length, dtype=torch.bool)
    functionals = torch.randn(1, functionals_dim(preset)) if functionals_dim(preset) else None
    calls = {
        "arousal": (audio, audio_mask, functionals, None),
        "valence": (text, text_mask),
        "fusion": (audio, audio_mask, text, text_mask, functionals, None),
    }
    train_utterances = int(args.utterances * TRAIN_SHARE)
    print(
        f"preset {preset.name}: {frames} frames x {mels} mels, {length} tokens; {train_utterances:,} training "
        f"utterances per epoch ({args.utterances:,} x {TRAIN_SHARE:.2f})"
    )
    print(
        f"{'stage':<8} {'GFLOP fwd':>10} {'params':>12} {'activations':>12} {'batch':>6} {'GB/GPU fp32':>12}"
        + "".join(f" {name:>22}" for name in GPUS)
    )
    for stage, model in models.items():
        if stage == "fusion" and preset.fusion.freeze_encoders:
            model.freeze(audio=True, text=True)  # the method's fusion stage trains only the fusion block
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in model.parameters())
        saved = activation_bytes(model, calls[stage])
        batch = getattr(preset.training, stage).batch_size
        memory = (total * 4 + trainable * 12 + batch * saved) / 1e9
        step_flops = 3 * flops[stage] * train_utterances  # forward + backward over one epoch
        times = [f"{step_flops / (peak * 1e12 * UTILISATION):20.0f} s" for peak in GPUS.values()]
        print(
            f"{stage:<8} {flops[stage] / 1e9:10.1f} {total:12,d} {saved / 1e6:9.0f} MB {batch:6d} {memory:12.1f}"
            + "".join(f" {t:>22}" for t in times)
        )
    print(f"epoch times at {UTILISATION:.0%} of the dense peak on one GPU; with N GPUs (DDP) divide by about N.")
    if preset.fusion.freeze_encoders:
        print(
            "fusion: an upper bound; with frozen encoders vamer encodes each utterance once (forward only) and "
            "each epoch then trains the fusion block alone"
        )


if __name__ == "__main__":
    main()

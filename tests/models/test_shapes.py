import pytest
import torch

from vamer.errors import VamerError
from vamer.features.upstream import upstream_shape
from vamer.presets import PRESETS, frames_for, functionals_dim, load_preset
from vamer.presets.build import build_models, flops_per_utterance


@pytest.mark.parametrize("name", PRESETS)
def test_every_model_of_every_preset_has_the_documented_shapes(name):
    preset = load_preset(name)
    models = build_models(preset, n_classes=5, text_dim=512)
    frames, length = preset.audio_features.max_frames, preset.text.max_length
    audio = torch.randn(2, 2, frames, 128)
    audio_mask = torch.zeros(2, frames, dtype=torch.bool)
    audio_mask[0], audio_mask[1, : frames // 3] = True, True  # one full, one short clip
    text = torch.randn(2, length, 512)
    text_mask = torch.zeros(2, length, dtype=torch.bool)
    text_mask[0, :5] = True  # the second has no text at all
    extra = functionals_dim(preset)
    functionals = torch.randn(2, extra) if extra else None  # eGeMAPS become one more audio token
    rows, hidden = upstream_shape(preset.audio_features.upstream)
    upstream = torch.randn(2, rows, hidden) if rows else None  # so do a frozen encoder's states
    for model in models.values():
        model.eval()
    with torch.no_grad():
        encoded, pooled_mask = models["arousal"].encoder(audio, audio_mask, functionals, upstream)
        steps = -(-frames // preset.audio_block.time_pool) + (1 if extra else 0) + (1 if rows else 0)
        assert encoded.shape == (2, steps, preset.audio_block.d_model)
        assert pooled_mask[1].sum() < pooled_mask[0].sum()
        assert models["arousal"](audio, audio_mask, functionals, upstream).shape == (2,)
        assert models["valence"](text, text_mask).shape == (2,)
        logits = models["fusion"](audio, audio_mask, text, text_mask, functionals, upstream)
    assert logits.shape == (2, 5) and torch.isfinite(logits).all()


@pytest.mark.parametrize("recipe", [{}, {"cnn": "conv2d", "positional": True, "head": "stats"}])
def test_padding_does_not_change_the_output(recipe):
    preset = load_preset("tiny")
    preset = preset.model_copy(update={"audio_block": preset.audio_block.model_copy(update=recipe)})
    model = build_models(preset, 5)["fusion"].eval()
    audio, text = torch.randn(1, 2, 128, 128), torch.randn(1, 32, 512)
    audio_mask = torch.zeros(1, 128, dtype=torch.bool)
    audio_mask[0, :43] = True  # not a multiple of the pooling window
    text_mask = torch.zeros(1, 32, dtype=torch.bool)
    text_mask[0, :6] = True
    with torch.no_grad():
        before = model(audio, audio_mask, text, text_mask)
        audio[:, :, 43:] = 123.0  # garbage where the masks say "padding"
        text[:, 6:] = -55.0
        after = model(audio, audio_mask, text, text_mask)
    torch.testing.assert_close(before, after)


def test_encoders_train_until_fusion_freezes_them():
    preset = load_preset("tiny")
    models = build_models(preset, 5)
    # Built trainable: pretraining must move the encoders (the bug this guards against froze them
    # at construction, so "pretraining" fitted only the heads).
    assert all(p.requires_grad for p in models["arousal"].encoder.parameters())
    assert all(p.requires_grad for p in models["valence"].encoder.parameters())
    fusion = models["fusion"]
    fusion.freeze(audio=True, text=False)
    assert not any(p.requires_grad for p in fusion.audio.parameters())
    assert all(p.requires_grad for p in fusion.text.parameters())
    assert any(p.requires_grad for p in fusion.encoder.parameters())
    fusion.train()
    assert not fusion.audio.training and fusion.text.training


@pytest.mark.slow
def test_the_cpu_preset_is_many_times_cheaper_than_paper():
    """Builds the paper-size models (77 M parameters) and counts their FLOPs: slow, so `make test-slow`."""
    # Compared on the same audio: paper's full 512 frames (16.4 s) are 256 of cpu's 64 ms frames.
    paper_preset, cpu_preset = load_preset("paper"), load_preset("cpu")
    seconds = paper_preset.audio_features.max_frames * paper_preset.audio_features.hop_length / 16_000
    paper = flops_per_utterance(paper_preset)
    cpu = flops_per_utterance(cpu_preset, frames=frames_for(cpu_preset, seconds))
    for stage in ("arousal", "valence", "fusion"):
        assert paper[stage] >= 50 * cpu[stage]


def test_bad_presets_are_clear_errors(tmp_path):
    with pytest.raises(VamerError, match="unknown preset"):
        load_preset("huge")
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\naudio_block: {d_model: 100, heads: 3}\n")
    with pytest.raises(VamerError, match="not divisible by heads"):
        load_preset(path)


@pytest.mark.parametrize(
    "cnn, n_mels, fits",
    [
        ("mel_1d", 128, True),
        ("mel_1d", 100, True),
        ("mel_1d", 66, False),
        ("conv2d", 64, True),
        ("conv2d", 100, False),
        ("conv2d", 8, False),
    ],
)
def test_the_preset_validator_refuses_an_n_mels_the_cnn_cannot_use(tmp_path, cnn, n_mels, fits):
    path = tmp_path / "mine.yaml"
    path.write_text(
        f"name: mine\naudio_features: {{n_mels: {n_mels}}}\naudio_block: {{cnn: {cnn}, d_model: 32, "
        "heads: 2, ffn: 64, layers: 1}\ntext_block: {d_model: 32, heads: 2, ffn: 64, layers: 1}\n"
        "fusion: {heads: 2, ffn: 64, layers: 1}\n"
    )
    if not fits:
        with pytest.raises(VamerError, match=f"n_mels {n_mels} does not fit the {cnn} front"):
            load_preset(path)
        return
    preset = load_preset(path)
    models = build_models(preset, 3)
    audio = torch.randn(2, 2, 24, n_mels)
    mask = torch.ones(2, 24, dtype=torch.bool)
    assert models["arousal"](audio, mask).shape == (2,)  # the model it accepts builds and runs


def _ge2e_like(**block):
    from vamer.models.config import AudioBlockConfig

    return AudioBlockConfig(
        cnn="conv2d",
        channels=(2, 4),
        d_model=16,
        heads=2,
        ffn=32,
        layers=1,
        dropout=0.0,
        upstream_read="concat",
        **block,
    )


def test_concat_read_standardises_every_state_and_learns_from_them():
    from vamer.models.audio import AudioEncoder

    encoder = AudioEncoder(_ge2e_like(), upstream_shape=(7, 256), n_mels=128)
    assert not hasattr(encoder, "layer_weights")  # no layer mix: rows differ in kind
    states = torch.randn(3, 7, 256) * 50 + 10
    encoder.set_upstream_scale(states.mean(dim=0), states.std(dim=0))
    audio, mask = torch.randn(3, 2, 16, 128), torch.ones(3, 16, dtype=torch.bool)
    out, out_mask = encoder(audio, mask, upstream=states)
    assert out.shape == (3, 17, 16) and out_mask.all()  # one token in front of 16 frames
    out.sum().backward()
    assert encoder.upstream[1].weight.grad.abs().sum() > 0
    moved = encoder(audio, mask, upstream=states * 2)[0]
    assert not torch.allclose(moved, out)


@pytest.mark.parametrize("skip", [True, False])
def test_summary_skip_hands_the_token_to_the_head_intact(skip):
    """With the skip, position 0 leaves the Transformer as it entered: other frames cannot change it,
    in the audio encoder and in fusion alike."""
    from vamer.models.audio import AudioEncoder
    from vamer.models.config import EncoderConfig, FusionConfig
    from vamer.models.fusion import FusionClassifier
    from vamer.models.text import TextEncoder

    torch.manual_seed(0)
    audio_encoder = AudioEncoder(_ge2e_like(summary_skip=skip), upstream_shape=(7, 256), n_mels=128).eval()
    text_encoder = TextEncoder(EncoderConfig(d_model=16, heads=2, ffn=32, layers=1), input_dim=512).eval()
    fusion = FusionClassifier(
        audio_encoder, text_encoder, FusionConfig(heads=2, ffn=32, layers=1, head="stats", summary_skip=skip), 5
    ).eval()
    states, mask = torch.randn(1, 7, 256), torch.ones(1, 16, dtype=torch.bool)
    text, text_mask = torch.randn(1, 4, 512), torch.ones(1, 4, dtype=torch.bool)
    with torch.no_grad():
        first, second = (audio_encoder(torch.randn(1, 2, 16, 128), mask, upstream=states)[0][0, 0] for _ in range(2))
        assert torch.allclose(first, second) == skip
        seen = []
        fusion.head.register_forward_pre_hook(lambda module, args: seen.append(args[0][0, 0].clone()))
        for _ in range(2):
            fusion(torch.randn(1, 2, 16, 128), mask, text, text_mask, None, states)
        # What fusion's head reads at position 0: the audio token as it entered fusion, or not.
        assert torch.allclose(seen[0], seen[1]) == skip

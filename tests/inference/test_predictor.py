import json
import math
import os
import shutil

import numpy as np
import pytest
import soundfile
import torch

import vamer.inference
from tests.builders import reseal_bundle, write_wav
from vamer.data.readers import load
from vamer.errors import VamerError
from vamer.features.audio import read_seconds
from vamer.features.inputs import MODEL_INPUTS, stack_batch
from vamer.features.store import FeatureStore
from vamer.inference.predictor import PredictionError, Predictor
from vamer.limits import PredictionLimits
from vamer.training.data import collate


@pytest.fixture(scope="module")
def predictor(bundle_dir):
    return Predictor.from_bundle(bundle_dir)


def demo_wavs(trained, count=3):
    return sorted((trained[0] / "wav").rglob("*.wav"))[:count]


def test_a_prediction_has_label_probabilities_ratings_and_what_was_used(predictor, trained):
    wav = demo_wavs(trained, 1)[0]
    result = predictor.predict(wav)
    assert result.label in predictor.classes
    assert set(result.probabilities) == set(predictor.classes)
    assert abs(sum(result.probabilities.values()) - 1) < 1e-4
    assert result.label == max(result.probabilities, key=result.probabilities.get)
    assert isinstance(result.arousal, float) and isinstance(result.valence, float)
    assert result.text_source == "given" and result.text and not result.audio_only  # the .txt beside it
    assert result.duration_s == pytest.approx(soundfile.info(str(wav)).duration, abs=1e-3)
    assert result.engine == "torch" and result.truncated is False


def test_audio_as_path_bytes_or_array_gives_the_same_prediction(predictor, trained):
    wav = demo_wavs(trained, 1)[0]
    samples, rate = soundfile.read(str(wav), dtype="float32")
    by_path = predictor.predict(wav, text="오늘 정말 좋았어")
    by_bytes = predictor.predict(wav.read_bytes(), text="오늘 정말 좋았어")
    by_array = predictor.predict(samples, text="오늘 정말 좋았어", sample_rate=rate)
    assert by_path.probabilities == by_bytes.probabilities
    for c in predictor.classes:
        assert by_array.probabilities[c] == pytest.approx(by_path.probabilities[c], abs=1e-4)
    assert by_path.text_source == "given"


def test_without_text_the_model_runs_on_audio_and_says_so(predictor, tmp_path, trained):
    wav = tmp_path / "alone.wav"
    shutil.copy(demo_wavs(trained, 1)[0], wav)  # no .txt beside this copy
    result = predictor.predict(wav)
    assert result.audio_only is True and result.text_source == "none"
    assert result.valence is None and isinstance(result.arousal, float)  # valence is read from words
    assert any("audio alone" in note for note in result.notes)
    assert predictor.predict(wav, text="").audio_only is True
    nuls = predictor.predict(wav, text=chr(0) * 8)  # no words: no valence
    assert nuls.audio_only is True and nuls.valence is None and nuls.text == ""


def test_predict_time_inputs_equal_train_time_inputs(predictor, trained, tmp_path):
    """Every model input a prediction builds equals the training item of the same utterance, and
    both go through the same batching."""
    result = load(trained[0], read_bio=False)
    table = result.utterances.head(4)
    store = FeatureStore.build(
        table,
        sorted(set(table["emotion"])),
        predictor.bundle.preset.audio_features,
        predictor.bundle.preset.text,
        tmp_path / "cache",
        progress=False,
    )
    assert predictor.bundle.preset.audio_features.functionals == "egemaps"
    split = store.split()
    paths = dict(zip(store.table["utt_id"], store.table["audio_path"]))
    prepared = [predictor.prepare(paths[row.utt_id], row.text) for row in split.rows.itertuples()]
    # A clip without speaker context is normalised with the bundle's population statistics; its raw
    # frozen inputs are the store's.
    population, kind = predictor.bundle.population, predictor.bundle.preset.audio_features.speaker_norm
    items = []
    for index in range(len(split)):
        item = dict(split[index])
        assert np.array_equal(prepared[index].frozen[0], item["upstream"])
        assert np.array_equal(prepared[index].frozen[1], item["functionals"])
        item["upstream"], item["functionals"] = population.normalise(item["upstream"], item["functionals"], kind)
        items.append(item)
    for item, one in zip(items, prepared):
        assert set(one.inputs) == set(MODEL_INPUTS)
        for key in MODEL_INPUTS:
            assert one.inputs[key].dtype == np.asarray(item[key]).dtype, key
            assert np.array_equal(one.inputs[key], item[key]), key
        assert one.inputs["functionals"].shape == (88,) and one.inputs["text_mask"].any()
    batch = collate(items)
    for key, value in stack_batch([one.inputs for one in prepared]).items():
        assert np.array_equal(batch[key].numpy(), value), key


def test_many_inputs_are_batched_and_a_bad_one_does_not_stop_the_rest(predictor, trained, tmp_path):
    wavs = demo_wavs(trained, 5)
    write_wav(tmp_path / "corrupt.wav", "corrupt")
    inputs = [(w, None) for w in wavs[:2]] + [(tmp_path / "corrupt.wav", None)] + [(w, None) for w in wavs[2:]]
    results = predictor.predict_many(inputs, batch_size=2)
    assert len(results) == 6 and results[2].error_kind == "unreadable_wav"
    single = [predictor.predict(w) for w in wavs]
    for batched, alone in zip(results[:2] + results[3:], single):
        for c in predictor.classes:  # batching pads other rows; the masks keep outputs equal
            assert batched.probabilities[c] == pytest.approx(alone.probabilities[c], abs=1e-5)


@pytest.mark.parametrize(
    "kind, make, message",
    [
        ("unreadable_wav", lambda p: p.write_bytes(b"%PDF-1.4 not audio at all"), "not a readable audio file"),
        ("unreadable_wav", lambda p: write_wav(p, "truncated"), "not a readable audio file"),
        ("empty_wav", lambda p: p.write_bytes(b""), "0 bytes"),
        ("empty_wav", lambda p: write_wav(p, "empty"), "no samples"),
        ("too_long", lambda p: write_wav(p, seconds=600), "600.0 s long; the limit is 60 s"),
        ("sample_rate", lambda p: write_wav(p, seconds=1, rate=8_000), "8000 Hz is below 16000 Hz"),
        ("silent", lambda p: soundfile.write(str(p), np.zeros(16_000), 16_000), "silent"),
        ("non_finite_audio", lambda p: write_wav(p, "nan", seconds=1), "8,000 of 16,000 samples are NaN or infinite"),
        ("out_of_range_audio", lambda p: write_wav(p, "huge", seconds=1), "refuses samples beyond 10,000"),
        ("not_found", lambda p: p.symlink_to(p.parent / "gone.wav"), "a symbolic link to a file that does not exist"),
        ("not_a_file", lambda p: os.mkfifo(p), "is a FIFO"),
        ("not_a_file", lambda p: p.mkdir(), "is a folder"),
    ],
)
def test_bad_audio_gets_a_clear_error(predictor, tmp_path, kind, make, message):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(PredictionError) as error:
        predictor.predict(path)
    assert error.value.kind == kind and message in str(error.value)


def test_other_rates_and_stereo_are_converted_and_reported(predictor, tmp_path):
    write_wav(tmp_path / "stereo.wav", seconds=1.0, rate=44_100, channels=2)
    result = predictor.predict(tmp_path / "stereo.wav")
    assert result.sample_rate == 44_100 and result.channels == 2
    assert any("resampled from 44100 Hz" in n for n in result.notes)
    assert any("2 channels averaged" in n for n in result.notes)


def test_long_text_is_refused_and_limits_are_configurable(bundle_dir, predictor, trained):
    wav = demo_wavs(trained, 1)[0]
    with pytest.raises(PredictionError, match="10,000 characters; the limit is 2,000"):
        predictor.predict(wav, text="가" * 10_000)
    roomy = Predictor.from_bundle(bundle_dir, limits=PredictionLimits(max_text_chars=20_000))
    result = roomy.predict(wav, text="가나 " * 3_000)
    assert any("cut to the model's" in note for note in result.notes)


def test_a_bundle_from_another_version_or_with_a_missing_file_is_refused(bundle_dir, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(bundle_dir, other)
    manifest = json.loads((other / "bundle.json").read_text())
    manifest["vamer_version"] = "0.0.9"
    (other / "bundle.json").write_text(json.dumps(manifest))
    with pytest.raises(VamerError, match=f"written by vamer 0.0.9; this is vamer {vamer.__version__}"):
        Predictor.from_bundle(other)
    (other / "bundle.json").write_text((bundle_dir / "bundle.json").read_text())
    (other / "valence.safetensors").unlink()
    with pytest.raises(VamerError, match="missing valence.safetensors"):
        Predictor.from_bundle(other)
    (other / "valence.safetensors").write_bytes(b"garbage")
    reseal_bundle(other)
    with pytest.raises(VamerError, match="valence.safetensors is not readable safetensors"):
        Predictor.from_bundle(other)
    with pytest.raises(VamerError, match="not a folder"):
        Predictor.from_bundle(tmp_path / "nowhere")


def test_the_documented_entry_point_predicts(bundle_dir, trained):
    """The package docstring's one line: ``Predictor.from_bundle("RUN/bundle").predict("clip.wav")``."""
    wav = sorted((trained[0] / "wav").rglob("*.wav"))[0]
    result = vamer.inference.Predictor.from_bundle(bundle_dir).predict(wav)
    assert result.label in result.probabilities and result.error is None


def test_a_non_finite_array_is_refused_too(predictor):
    samples = np.full(16_000, np.inf, dtype=np.float32)
    with pytest.raises(PredictionError) as error:
        predictor.predict(samples, sample_rate=16_000)
    assert error.value.kind == "non_finite_audio"


def test_decoding_is_bounded_by_a_budget_read_from_the_header(bundle_dir, tmp_path):
    """Only what the model reads is decoded, and that is refused from the header when it is too big."""
    path = tmp_path / "wide.wav"
    write_wav(path, seconds=30, rate=48_000, channels=8)
    config = Predictor.from_bundle(bundle_dir).audio_config
    needed = math.ceil(read_seconds(config) * 48_000) * 8 * 4 / 1e6  # MB of float32 for the part read
    assert needed < 30 * 48_000 * 8 * 4 / 1e6  # less than the whole file would take
    tight = Predictor.from_bundle(bundle_dir, limits=PredictionLimits(max_decoded_mb=needed * 0.9))
    with pytest.raises(PredictionError) as error:
        tight.predict(path)
    assert error.value.kind == "too_large" and "8 channel(s) at 48,000 Hz" in str(error.value)
    result = Predictor.from_bundle(bundle_dir, limits=PredictionLimits(max_decoded_mb=needed * 1.1)).predict(path)
    assert result.audio_seconds == pytest.approx(30.0) and result.truncated


def test_anything_an_input_raises_becomes_its_error_row(predictor, trained, monkeypatch):
    wav = demo_wavs(trained, 1)[0]
    too_long_name = wav.parent / ("x" * 300 + ".wav")  # the file system refuses the name: OSError
    results = predictor.predict_many([(wav, None), (too_long_name, None), (wav, None)])
    assert [bool(r.label) for r in results] == [True, False, True]
    assert results[1].error_kind == "unreadable_file" and "File name too long" in results[1].error
    prepare = predictor.prepare

    def flaky(audio, text=None, sample_rate=None, *, speaker=None):
        if text == "boom":
            raise RuntimeError("a bug in one input's path")
        return prepare(audio, text, sample_rate, speaker=speaker)

    monkeypatch.setattr(predictor, "prepare", flaky)
    results = predictor.predict_many([(wav, None), (wav, "boom"), (wav, None)])
    assert [r.error_kind for r in results] == [None, "internal_error", None]
    assert "a bug in one input's path" in results[1].error


def test_the_device_is_chosen_and_an_absent_one_is_a_clear_error(bundle_dir, trained):
    import torch

    on_cpu = Predictor.from_bundle(bundle_dir, device="cpu")
    assert on_cpu.engine.device.type == "cpu" and on_cpu.predict(demo_wavs(trained, 1)[0]).label
    if not torch.cuda.is_available():
        with pytest.raises(VamerError, match="no CUDA GPU"):
            Predictor.from_bundle(bundle_dir, device="cuda")
    with pytest.raises(VamerError, match="needs --engine torch"):
        Predictor.from_bundle(bundle_dir, engine="onnx", device="cuda")
    with pytest.raises(VamerError, match="--device tpu"):
        Predictor.from_bundle(bundle_dir, device="tpu")


def test_a_too_long_array_is_refused_like_a_too_long_file(predictor):
    with pytest.raises(PredictionError) as error:
        predictor.predict(np.zeros(16_000 * 61, dtype=np.float32), sample_rate=16_000)
    assert error.value.kind == "too_long" and "61.0 s long; the limit is 60 s" in str(error.value)


def test_non_finite_outputs_are_refused_with_a_reason(bundle_dir, trained):
    """A NaN inside the model answered label "neutral" (the argmax of NaNs) with null probabilities."""
    from vamer.inference.predictor import PredictionError

    predictor = Predictor.from_bundle(bundle_dir)
    with torch.no_grad():
        next(predictor.engine.graph.fusion.head.parameters()).fill_(float("nan"))
    wav = sorted((trained[0] / "wav").rglob("*.wav"))[0]
    with pytest.raises(PredictionError) as caught:
        predictor.predict(wav)
    assert caught.value.kind == "non_finite_output" and "NaN or infinite outputs" in str(caught.value)
    rows = predictor.predict_many([(wav, None), (wav, "네")])
    assert [row.error_kind for row in rows] == ["non_finite_output"] * 2 and rows[0].label is None


def test_a_success_and_a_failure_have_one_shape(bundle_dir, trained, tmp_path):
    from vamer.inference.result import PredictionResult

    predictor = Predictor.from_bundle(bundle_dir)
    wav = sorted((trained[0] / "wav").rglob("*.wav"))[0]
    good, bad = predictor.predict_many([(wav, None), (tmp_path / "missing.wav", None)])
    assert isinstance(good, PredictionResult) and isinstance(bad, PredictionResult)
    assert good.error is None and good.label and bad.label is None and bad.error_kind == "not_found"
    # What the service sends and a client reads back is the same result.
    assert PredictionResult.model_validate_json(good.model_dump_json()) == good

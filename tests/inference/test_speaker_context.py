"""Speaker context at prediction time: clips of one speaker normalised together, saved profiles
through the command line, and a clip without context normalised by the bundle's population."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from vamer.cli import app
from vamer.inference.intake import PredictionError

runner = CliRunner()


def _speaker_clips(trained):
    wavs = sorted((trained[0] / "wav").rglob("*.wav"))
    speaker = wavs[0].stem.split("_")[2]
    return speaker, [w for w in wavs if w.stem.split("_")[2] == speaker]


def test_a_clip_is_normalised_by_its_speaker_or_else_by_the_population(predictor, trained):
    speaker, clips = _speaker_clips(trained)
    statistics, failed = predictor.enrol(clips)
    assert failed == [] and statistics.clips == len(clips)
    alone = predictor.prepare(clips[0])
    known = predictor.with_speaker(alone, speaker, statistics)
    raw_upstream, raw_functionals = alone.frozen
    # The speaker's variances pooled with the bundle's population (the preset's speaker_prior_clips).
    prior = predictor.bundle.preset.audio_features.speaker_prior_clips
    assert prior > 0
    n, population_std = statistics.clips, predictor.bundle.population.upstream_std
    pooled = np.sqrt((n * statistics.upstream_std.astype(np.float64) ** 2 + prior * population_std**2) / (n + prior))
    expected = (raw_upstream - statistics.upstream_mean) / np.where(pooled > 1e-4, pooled, 1)
    assert np.allclose(known.inputs["upstream"], expected, atol=1e-5)
    population, _ = predictor.bundle.population.normalise(raw_upstream, raw_functionals, "z")
    assert np.allclose(alone.inputs["upstream"], population)
    assert alone.info["speaker_context"] == "population" and known.info["speaker_context"] == "speaker"
    assert (
        predictor.predict(clips[0]).probabilities
        != predictor.predict(clips[0], speaker=speaker, statistics=statistics).probabilities
    )
    with pytest.raises(PredictionError) as few:
        predictor.enrol(clips[:1])
    assert few.value.kind == "too_few_clips"


def test_predict_normalises_a_manifests_speakers_together_and_uses_saved_profiles(
    bundle_dir, trained, tmp_path, predictor
):
    speaker, clips = _speaker_clips(trained)
    manifest = tmp_path / "m.csv"
    pd.DataFrame({"audio": [str(c) for c in clips] + [str(clips[0])], "speaker": [speaker] * len(clips) + [""]}).to_csv(
        manifest, index=False
    )
    out = tmp_path / "r.csv"
    result = runner.invoke(
        app, ["predict", "--bundle", str(bundle_dir), "--manifest", str(manifest), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(out, keep_default_na=False)
    assert list(rows["speaker_context"]) == ["speaker"] * len(clips) + ["population"]
    statistics, _ = predictor.enrol(clips)
    direct = predictor.predict(clips[0], speaker=speaker, statistics=statistics)
    assert rows.loc[0, f"p_{direct.label}"] == pytest.approx(direct.probabilities[direct.label], abs=1e-5)
    # --speaker names every input's speaker; a saved profile does the same for one clip later.
    grouped = tmp_path / "g.csv"
    assert (
        runner.invoke(
            app, ["predict", "--bundle", str(bundle_dir), *map(str, clips), "--speaker", speaker, "--out", str(grouped)]
        ).exit_code
        == 0
    )
    assert (pd.read_csv(grouped)["speaker"] == speaker).all()
    profiles = tmp_path / "speakers.sqlite"
    enrolled = runner.invoke(
        app, ["speakers", "enrol", speaker, *map(str, clips), "--bundle", str(bundle_dir), "--profiles", str(profiles)]
    )
    assert enrolled.exit_code == 0, enrolled.output
    again = runner.invoke(
        app, ["speakers", "enrol", speaker, str(clips[0]), "--bundle", str(bundle_dir), "--profiles", str(profiles)]
    )
    assert again.exit_code == 2 and "--replace" in again.output  # a profile is never replaced unasked
    listed = runner.invoke(app, ["speakers", "list", "--bundle", str(bundle_dir), "--profiles", str(profiles)])
    assert speaker in listed.output and f"{len(clips)} clips" in listed.output
    single = tmp_path / "one.csv"
    assert (
        runner.invoke(
            app,
            [
                "predict",
                "--bundle",
                str(bundle_dir),
                str(clips[0]),
                "--profile",
                speaker,
                "--profiles",
                str(profiles),
                "--out",
                str(single),
            ],
        ).exit_code
        == 0
    )
    row = pd.read_csv(single).iloc[0]
    assert row["speaker_context"] == "speaker" and row[f"p_{direct.label}"] == pytest.approx(
        direct.probabilities[direct.label], abs=1e-5
    )
    missing = runner.invoke(
        app, ["predict", "--bundle", str(bundle_dir), str(clips[0]), "--profile", "Nobody", "--profiles", str(profiles)]
    )
    assert missing.exit_code == 2 and "no speaker profile" in missing.output
    bad = runner.invoke(
        app, ["speakers", "enrol", "../x", str(clips[0]), "--bundle", str(bundle_dir), "--profiles", str(profiles)]
    )
    assert bad.exit_code == 2 and "speaker id" in bad.output
    assert (
        runner.invoke(
            app, ["speakers", "delete", speaker, "--bundle", str(bundle_dir), "--profiles", str(profiles)]
        ).exit_code
        == 0
    )
    assert (
        runner.invoke(
            app, ["speakers", "delete", speaker, "--bundle", str(bundle_dir), "--profiles", str(profiles)]
        ).exit_code
        == 2
    )

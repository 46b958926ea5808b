import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from vamer.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, demo_corpus, demo_cache):
    """One `vamer run --preset tiny` with every ablation on the small demo, read by the tests below
    (each checks one output, so one failure does not hide the others)."""
    out = tmp_path_factory.mktemp("tiny-run") / "run"
    result = runner.invoke(
        app,
        [
            "run",
            str(demo_corpus),
            "--out",
            str(out),
            "--preset",
            "tiny",
            "--cv",
            "session:2",
            "--cache",
            str(demo_cache),
        ],
    )
    assert result.exit_code == 0, result.output
    return out


# One `vamer run --variants text_only` with a few options given, shared by the tests of variants,
# replay and resume (each compares against it or reads it).
TEXT_ONLY = [
    "--preset",
    "tiny",
    "--cv",
    "session:2",
    "--variants",
    "text_only",
    "--no-balanced-sampler",
    "--classes",
    "neutral,happy,sad,angry",
]


@pytest.fixture(scope="module")
def text_only_run(tmp_path_factory, demo_corpus, demo_cache):
    out = tmp_path_factory.mktemp("text-only") / "run"
    result = runner.invoke(app, ["run", str(demo_corpus), "--out", str(out), *TEXT_ONLY, "--cache", str(demo_cache)])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.espeak
def test_metrics_hold_every_model_baseline_and_the_protocol(tiny_run):
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    for key in ("macro_f1", "weighted_f1", "ua", "accuracy"):
        assert set(metrics[key]) == {"mean", "std"} and 0 <= metrics[key]["mean"] <= 1
    assert set(metrics["ablations"]) == {"fusion", "audio_only", "text_only", "fusion_no_pretraining"}
    assert set(metrics["baseline"]) == {"audio", "egemaps", "text", "both", "all", "best"}
    assert "macro_f1" in metrics["majority"] and len(metrics["baseline"]["best"]["chosen"]) == 2
    assert metrics["protocol"]["description"].startswith("session 2-fold") and metrics["seeds"] == [0]
    assert set(metrics["rating_baseline"]) == {"arousal", "valence"}
    assert set(metrics["timings"]) >= {"features", "classic baselines", "training"}
    # The headline is each fold's fusion predictions scored whole, then averaged over the folds.
    from vamer.metrics import classification_metrics

    predictions = pd.read_csv(tiny_run / "predictions.csv")
    fused = predictions[predictions["variant"] == "fusion"]
    classes = list(metrics["per_class"])
    per_fold = [
        classification_metrics(list(rows["true"]), list(rows["pred"]), classes)["macro_f1"]
        for _, rows in fused.groupby("fold")
    ]
    assert len(per_fold) == 2 and metrics["macro_f1"]["mean"] == pytest.approx(sum(per_fold) / 2)


@pytest.mark.espeak
def test_predictions_test_every_utterance_once_with_probabilities(tiny_run):
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    predictions = pd.read_csv(tiny_run / "predictions.csv")
    fused = predictions[predictions["variant"] == "fusion"]
    assert len(fused) == metrics["protocol"]["utterances"]
    assert {"utt_id", "fold", "seed", "true", "pred", "p_neutral", "p_sad"} <= set(predictions.columns)
    assert abs(fused.filter(like="p_").sum(axis=1) - 1).max() < 1e-4


@pytest.mark.espeak
def test_the_report_puts_its_findings_first_beside_the_baselines(tiny_run):
    report = (tiny_run / "report.md").read_text()
    assert "always majority" in report and "classic baseline (egemaps)" in report and "![confusion]" in report
    assert "strongest, chosen on validation" in report
    assert report.index("## Findings") < report.index("## Results")
    sources = json.loads((tiny_run / "metrics.json").read_text())["protocol"]["text_sources"]
    assert sum(sources.values()) == json.loads((tiny_run / "metrics.json").read_text())["protocol"]["utterances"]
    assert f"Text: {sources['given']} utterances with the corpus's own transcript" in report


@pytest.mark.espeak
def test_the_bundle_holds_the_three_models_and_the_classes(tiny_run):
    bundle = json.loads((tiny_run / "bundle" / "bundle.json").read_text())
    assert bundle["classes"] == ["neutral", "happy", "surprise", "angry", "sad"]
    assert all((tiny_run / "bundle" / f"{name}.safetensors").is_file() for name in ("arousal", "valence", "fusion"))


@pytest.mark.espeak
def test_a_finished_run_folder_is_replaced_only_with_force(tiny_run, demo_corpus):
    again = runner.invoke(app, ["run", str(demo_corpus), "--out", str(tiny_run), "--preset", "tiny"])
    assert again.exit_code == 2 and "--force" in again.output


@pytest.mark.espeak
def test_findings_say_a_run_in_words_and_refuse_other_folders(tiny_run, demo_corpus):
    said = runner.invoke(app, ["findings", str(tiny_run)])
    assert said.exit_code == 0 and "audio only" in said.output and "always-majority" in said.output
    assert "Arousal regressor (audio): test CCC" in said.output
    not_a_run = runner.invoke(app, ["findings", str(demo_corpus)])
    assert not_a_run.exit_code == 2 and "not a vamer run folder" in not_a_run.output


@pytest.mark.espeak
def test_metrics_json_validates_against_its_model_on_write_and_read(tiny_run, tmp_path):
    """The run metrics' schema lived only in the code that wrote them and in three readers."""
    import shutil

    from vamer.evaluation.run_metrics import SCHEMA_VERSION, RunMetrics

    out = tmp_path / "run"
    shutil.copytree(tiny_run, out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert RunMetrics.model_validate(metrics).schema_version == SCHEMA_VERSION == metrics["schema_version"]
    for damage, said in (
        (lambda m: m.pop("protocol"), "protocol: Field required"),
        (lambda m: m["macro_f1"].update(mean="high"), "macro_f1.mean"),
        (lambda m: m.update(schema_version=99), "metrics schema 99"),
    ):
        edited = json.loads((out / "metrics.json").read_text())
        damage(edited)
        (out / "metrics.json").write_text(json.dumps(edited))
        answer = runner.invoke(app, ["findings", str(out)])
        assert answer.exit_code == 2 and said in answer.output, answer.output


@pytest.mark.espeak
def test_run_variants_choose_the_ablations_and_refuse_unknown_ones(tmp_path, demo_corpus, demo_cache, text_only_run):
    common = [str(demo_corpus), "--preset", "tiny", "--cv", "session:2", "--cache", str(demo_cache)]
    bad = runner.invoke(app, ["run", *common, "--out", str(tmp_path / "bad"), "--variants", "fusion,audio"])
    assert bad.exit_code == 2 and "unknown variant(s) audio" in bad.output
    assert set(json.loads((text_only_run / "metrics.json").read_text())["ablations"]) == {"fusion", "text_only"}


@pytest.mark.espeak
def test_stages_train_alone_and_fusion_loads_their_checkpoints(tmp_path, demo_corpus, demo_cache):
    common = [
        str(demo_corpus),
        "--out",
        str(tmp_path / "stages"),
        "--preset",
        "tiny",
        "--cv",
        "session:2",
        "--cache",
        str(demo_cache),
    ]
    for stage in ("arousal", "valence"):
        result = runner.invoke(app, ["train", stage, *common])
        assert result.exit_code == 0, result.output
        assert f"{stage}: best val RMSE" in result.output and f"{stage} test: RMSE" in result.output
    checkpoints = {stage: tmp_path / "stages" / stage / "checkpoints" / "best.ckpt" for stage in ("arousal", "valence")}
    assert all(path.is_file() for path in checkpoints.values())
    result = runner.invoke(
        app,
        [
            "train",
            "fusion",
            *common,
            "--arousal",
            str(checkpoints["arousal"]),
            "--valence",
            str(checkpoints["valence"]),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "fusion test: macro F1" in result.output and "note:" not in result.output
    again = runner.invoke(app, ["train", "arousal", *common])  # would overwrite its checkpoints and logs
    assert again.exit_code == 2 and "--resume" in again.output
    resumed = runner.invoke(app, ["train", "arousal", *common, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    bad = runner.invoke(
        app, ["train", "fusion", *common, "--arousal", str(tmp_path / "nope.ckpt"), "--out", str(tmp_path / "other")]
    )
    assert bad.exit_code == 2 and "no such checkpoint" in bad.output


@pytest.mark.espeak
def test_sweep_compares_layer_counts_with_confusion_matrices(tmp_path, demo_corpus, demo_cache):
    out = tmp_path / "sweep"
    result = runner.invoke(
        app,
        [
            "sweep",
            str(demo_corpus),
            "--out",
            str(out),
            "--preset",
            "tiny",
            "--layers",
            "1/1,2/1",
            "--cv",
            "session:2",
            "--cache",
            str(demo_cache),
            "--format",
            "kemdy20",
            "--classes",
            "neutral,happy,sad,angry",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "sweep.json").read_text())
    assert [(r["audio_layers"], r["text_layers"]) for r in summary["combinations"]] == [(1, 1), (2, 1)]
    assert all(set(r["recall"]) == {"neutral", "happy", "sad", "angry"} for r in summary["combinations"])
    assert (out / "confusion_audio2_text1.png").is_file() and "| 2/1 " in (out / "sweep.md").read_text()
    bad = runner.invoke(app, ["sweep", str(demo_corpus), "--out", str(tmp_path / "x"), "--layers", "7"])
    assert bad.exit_code == 2 and "bad --layers" in bad.output


@pytest.mark.espeak
def test_a_second_train_of_the_same_stage_into_the_same_folder_is_refused_at_once(tmp_path, demo_corpus):
    """Two identical `vamer train arousal --out tr3` both exited 0, their metrics.csv rows
    interleaved and best-v1.ckpt beside best.ckpt."""
    from vamer.fileio import output_lock

    out = tmp_path / "tr3"
    with output_lock(out / "arousal"):  # the first, still training
        result = runner.invoke(
            app, ["train", "arousal", str(demo_corpus), "--out", str(out), "--preset", "tiny", "--cv", "session:2"]
        )
    assert result.exit_code == 2 and "being written by another vamer" in result.output, result.output
    assert not (out / "arousal").exists()


def test_run_on_a_manifest_without_ratings_skips_pretraining_with_a_note(tmp_path, demo_corpus, demo_cache):
    from vamer.data import load

    table = load(demo_corpus, read_bio=False).utterances
    manifest = pd.DataFrame(
        {
            "audio": table["audio_path"],
            "text": table["text"],
            "emotion": table["emotion"],
            "session": table["session"],
            "speaker": table["speaker"],
        }
    )
    # A corpus with its own label set: 4 classes, one of them outside KEMDy's seven.
    manifest = manifest[manifest["emotion"] != "sad"].replace({"emotion": {"angry": "Frustrated"}})
    manifest.to_csv(tmp_path / "manifest.csv", index=False)
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "run",
            str(tmp_path / "manifest.csv"),
            "--out",
            str(out),
            "--preset",
            "tiny",
            "--cv",
            "session:4",
            "--no-ablations",
            "--cache",
            str(demo_cache),
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["protocol"]["dataset"] == "manifest" and metrics["protocol"]["folds"] == 4
    assert any("arousal pretraining skipped" in note for note in metrics["notes"])
    assert any("valence pretraining skipped" in note for note in metrics["notes"])
    assert len(pd.read_csv(out / "predictions.csv")) == len(manifest)
    classes = json.loads((out / "bundle" / "bundle.json").read_text())["classes"]
    assert sorted(classes) == ["frustrated", "happy", "neutral", "surprise"]
    assert len(metrics["pooled_over_folds"]["confusion"]) == 4 and set(metrics["per_class"]) == set(classes)
    from vamer.inference.predictor import Predictor

    assert json.loads((out / "bundle" / "bundle.json").read_text())["regressors"] == {
        "arousal": False,
        "valence": False,
    }
    result = Predictor.from_bundle(out / "bundle").predict(table["audio_path"].iloc[0])
    assert result.arousal is None and result.valence is None and result.label


@pytest.mark.espeak
def test_a_run_with_the_voice_encoder_names_it_and_reports_its_linear_probe(trained):
    """The shared trained run reads the GE2E encoder: the report names it, shows the linear probe of
    its states on the same folds and says which of the two won; the bundle records the encoder."""
    from vamer.features.voice import load_ge2e

    _, run = trained
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["protocol"]["audio_encoder"] == "ge2e"
    probe = metrics["baseline"]["probe"]
    assert 0 <= probe["ua"]["mean"] <= 1 and len(metrics["baseline"]["best"]["chosen"]) == 2
    assert all(chosen["features"] != "probe" for chosen in metrics["baseline"]["best"]["chosen"])
    report = (run / "report.md").read_text()
    assert "with the frozen `ge2e` audio encoder" in report and "linear probe of the ge2e encoder" in report
    said = [line for line in report.splitlines() if "Linear probe of the ge2e audio encoder" in line]
    won = metrics["macro_f1"]["mean"] > probe["macro_f1"]["mean"]
    assert len(said) == 1 and ("the network wins" in said[0]) == won and ("the linear probe wins" in said[0]) != won
    bundle = json.loads((run / "bundle" / "bundle.json").read_text())
    assert bundle["audio_encoder"] == {"spec": "ge2e", "identity": load_ge2e().identity}


@pytest.mark.espeak
def test_a_killed_run_resumes_from_its_finished_folds_with_identical_metrics(
    tmp_path, demo_corpus, demo_cache, text_only_run
):
    """A run killed after its first fold resumes from it (fold 0 is not trained again) to the
    metrics, predictions and weights of an uninterrupted run, and removes the scratch left behind."""
    import re
    import signal
    import subprocess
    import sys
    import time

    common = [str(demo_corpus), *TEXT_ONLY, "--cache", str(demo_cache)]
    whole = text_only_run  # the same run, uninterrupted

    out = tmp_path / "run"
    command = [sys.executable, "-m", "vamer.cli", "run", *common, "--out", str(out)]
    job = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    fold0 = tmp_path / ".run.partial" / "runs" / "fold0-seed0"
    deadline = time.monotonic() + 300
    while not (fold0 / "journal" / "text_only.json").exists():  # the first fold, every variant, finished
        assert job.poll() is None and time.monotonic() < deadline, job.communicate()
        time.sleep(0.05)
    job.send_signal(signal.SIGKILL)
    job.wait(timeout=60)
    assert not out.exists()
    kept = {path: path.stat().st_mtime_ns for path in fold0.rglob("*.ckpt")}
    stale = tmp_path / ".run.k2j4xz.partial"  # what vamer 0.3's atomic folders left after a kill
    stale.mkdir()

    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert re.search(r"resuming the unfinished run in .*: \d+ finished step\(s\) kept", resumed.stderr)
    assert f"removed {stale}" in resumed.stderr and not stale.exists()
    assert not (tmp_path / ".run.partial").exists() and not (tmp_path / ".run.lock").exists()
    moved = {out / path.relative_to(tmp_path / ".run.partial"): mtime for path, mtime in kept.items()}
    assert {path: path.stat().st_mtime_ns for path in moved} == moved  # fold 0 was not trained again

    a, b = (json.loads((folder / "metrics.json").read_text()) for folder in (whole, out))
    for key in ("macro_f1", "ua", "per_class", "ablations", "regression", "pooled_over_folds", "notes"):
        assert a[key] == b[key], key
    assert (whole / "predictions.csv").read_text() == (out / "predictions.csv").read_text()
    assert (whole / "bundle" / "fusion.safetensors").read_bytes() == (
        out / "bundle" / "fusion.safetensors"
    ).read_bytes()
    nothing = subprocess.run(
        [*command, "--out", str(tmp_path / "fresh"), "--resume"], capture_output=True, text=True, timeout=120
    )
    assert nothing.returncode == 2 and "nothing to continue" in nothing.stderr


def test_a_second_run_into_the_same_folder_stops_at_once(tmp_path, demo_corpus):
    """It used to train fully, then fail with advice to pass --force."""
    import subprocess
    import sys

    from vamer.fileio import output_lock

    out = tmp_path / "run"
    with output_lock(out):  # what a first `vamer run --out run` holds from its start to its end
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "vamer.cli",
                "run",
                str(demo_corpus),
                "--out",
                str(out),
                "--preset",
                "tiny",
                "--cv",
                "session:2",
                "--cache",
                str(tmp_path / "cache"),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert second.returncode == 2, second.stderr
    assert f"{out} is being written by another vamer (pid " in second.stderr
    assert not (tmp_path / "cache").exists()  # stopped before any feature was computed


@pytest.mark.espeak
def test_a_run_folder_says_what_produced_it_and_replays_to_identical_metrics(tmp_path, demo_corpus, text_only_run):
    """metrics.json recorded the preset's name only: encoder and imbalance overrides, classes and
    devices changed a run without being written down."""
    import yaml

    first = text_only_run
    config = yaml.safe_load((first / "config.yaml").read_text())
    assert config["command"] == "run" and config["options"]["variants"] == "text_only"
    assert config["options"]["balanced_sampler"] is False and config["options"]["classes"] == "neutral,happy,sad,angry"
    assert config["options"]["path"] == str(demo_corpus.absolute()) and config["options"]["devices"] == "1"
    assert config["preset"]["name"] == "tiny" and config["versions"]["torch"] and "out" not in config["options"]

    replay = tmp_path / "replay"
    again = runner.invoke(app, ["run", "--config", str(first / "config.yaml"), "--out", str(replay)])
    assert again.exit_code == 0, again.output
    a, b = (json.loads((folder / "metrics.json").read_text()) for folder in (first, replay))
    for key in ("macro_f1", "ua", "per_class", "ablations", "regression", "protocol"):
        assert a[key] == b[key], key
    assert (first / "predictions.csv").read_text() == (replay / "predictions.csv").read_text()
    assert yaml.safe_load((replay / "config.yaml").read_text())["options"] == config["options"]

    other = runner.invoke(app, ["baseline", "--config", str(first / "config.yaml"), "--out", str(tmp_path / "b")])
    assert other.exit_code == 2 and "written by `vamer run`" in other.output


@pytest.mark.espeak
def test_options_on_the_command_line_override_the_replayed_file(tmp_path, demo_corpus, demo_cache):
    import yaml

    first = tmp_path / "b1"
    common = ["--cache", str(demo_cache)]
    result = runner.invoke(
        app, ["baseline", str(demo_corpus), "--out", str(first), "--preset", "tiny", "--cv", "session:2", *common]
    )
    assert result.exit_code == 0, result.output
    second = tmp_path / "b2"
    result = runner.invoke(
        app, ["baseline", "--config", str(first / "config.yaml"), "--out", str(second), "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    replayed = yaml.safe_load((second / "config.yaml").read_text())
    assert replayed["options"]["seed"] == 3 and replayed["options"]["cv"] == "session:2"
    assert replayed["preset"] == yaml.safe_load((first / "config.yaml").read_text())["preset"]
    broken = tmp_path / "broken.yaml"
    broken.write_text("command: baseline\noptions: {}\npreset: {name: 3}\n")
    bad = runner.invoke(app, ["baseline", "--config", str(broken), "--out", str(tmp_path / "b3")])
    assert bad.exit_code == 2 and "--config" in bad.output and "Traceback" not in bad.output

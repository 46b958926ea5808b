import json
import signal
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

import vamer
from tests.builders import Kemdy20Builder, Segment
from vamer.cli import app

runner = CliRunner()


@pytest.fixture
def dataset(tmp_path):
    builder = Kemdy20Builder(tmp_path / "KEMDy20")
    builder.add(1, Segment("Sess01_script01_User001F_001", emotion="happy"))
    builder.add(1, Segment("Sess01_script01_User002M_001"))
    builder.add(2, Segment("Sess02_script01_User003F_001", emotion="happy;neutral"))
    builder.add(2, Segment("Sess02_script01_User003F_002", wav="missing"))
    return builder.write()


def test_version_and_help_everywhere():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"vamer {vamer.__version__}"
    for command in (
        [],
        ["data"],
        ["data", "check"],
        ["data", "demo"],
        ["analyze"],
        ["baseline"],
        ["features"],
        ["run"],
        ["train"],
        ["sweep"],
    ):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output


def test_check_prints_summary_and_writes_documented_json(dataset, tmp_path):
    out = tmp_path / "reports" / "check.json"
    skipped = tmp_path / "reports" / "skipped.csv"
    result = runner.invoke(app, ["data", "check", str(dataset), "--json", str(out), "--skipped", str(skipped)])
    assert result.exit_code == 0, result.output
    rows = skipped.read_text(encoding="utf-8").splitlines()
    assert rows[0] == "utt_id,source,reason,detail" and len(rows) == 3
    assert "kept 2, skipped 2" in result.output
    assert "multi_label" in result.output and "missing_wav" in result.output
    summary = json.loads(out.read_text())
    assert summary["kept"] == 2
    assert summary["skipped_by_reason"] == {"multi_label": 1, "missing_wav": 1}
    assert summary["per_class"] == {"neutral": 1, "happy": 1, "surprise": 0, "angry": 0, "sad": 0}
    assert set(summary["sessions"]) == {"Sess01"}
    assert set(summary["speakers"]) == {"User001F", "User002M"}
    assert summary["duration_s"]["mean"] == pytest.approx(0.5)
    assert summary["source_rows"] == 4


def test_check_refuses_to_overwrite_json_without_force(dataset, tmp_path):
    out = tmp_path / "mine.json"
    out.write_text("user data")
    result = runner.invoke(app, ["data", "check", str(dataset), "--json", str(out)])
    assert result.exit_code == 2
    assert "already exists" in result.output and out.read_text() == "user data"
    result = runner.invoke(app, ["data", "check", str(dataset), "--json", str(out), "--force"])
    assert result.exit_code == 0 and json.loads(out.read_text())["kept"] == 2


def test_check_refuses_one_file_for_both_json_and_skipped(dataset, tmp_path):
    out = tmp_path / "report.json"
    for second in (str(out), str(tmp_path / "." / "report.json")):
        result = runner.invoke(app, ["data", "check", str(dataset), "--json", str(out), "--skipped", second, "--force"])
        assert result.exit_code == 2 and "same file" in result.output
        assert not out.exists()  # refused before anything was written


def test_check_options_change_the_class_set_and_policy(dataset):
    result = runner.invoke(app, ["data", "check", str(dataset), "--multi-label", "first", "--classes", "happy,neutral"])
    assert result.exit_code == 0, result.output
    assert "kept 3, skipped 1" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["data", "check", "{tmp}"], "not a dataset"),
        (["data", "check", "{tmp}/missing"], "no such file or folder"),
        (
            ["baseline", "{dataset}", "--classes", "happy,bored", "--cache", "{tmp}/cache"],
            "class(es) bored have no usable utterance",
        ),
        (["data", "check", "{dataset}", "--format", "kemdy19"], "not a KEMDy19 folder"),
    ],
)
def test_errors_are_one_line_without_traceback(dataset, tmp_path, args, message):
    args = [a.format(tmp=tmp_path / "empty", dataset=dataset) for a in args]
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]


@pytest.mark.espeak
def test_demo_then_check_through_the_cli(tmp_path):
    out = tmp_path / "demo"
    result = runner.invoke(app, ["data", "demo", str(out), "--sessions", "2", "--segments", "6", "--seed", "5"])
    assert result.exit_code == 0, result.output
    assert "synthetic" in result.output
    result = runner.invoke(app, ["data", "check", str(out), "--json", str(tmp_path / "c.json")])
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC" in result.output
    summary = json.loads((tmp_path / "c.json").read_text())
    assert summary["synthetic"] is True and summary["source_rows"] == 12
    assert set(summary["bio"]) == {"EDA", "TEMP", "IBI"}
    again = runner.invoke(app, ["data", "demo", str(out)])
    assert again.exit_code == 2 and "--force" in again.output


def test_readme_documents_every_column_and_skip_reason():
    from pathlib import Path

    from vamer.data import UTTERANCE_COLUMNS
    from vamer.reasons import Reason

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert readme.splitlines()[3:5] == [
        "make demo   # fresh machine -> venv, espeak-ng, pip install, synthetic demo corpus, main job on it",
        "make test   # fresh machine -> the same setup, then the default test suite (what CI runs)",
    ]
    for column in UTTERANCE_COLUMNS:
        assert f"`{column}`" in readme, column
    from vamer.serving.forms import HTTP_STATUS

    for reason in Reason:  # the one table of reasons, with each one's meaning and the service's status
        assert f"| `{reason.value}` | {reason.meaning} | {HTTP_STATUS.get(reason, '—')} |" in readme, reason


def test_manifest_without_speakers_and_nothing_kept(tmp_path):
    from tests.builders import write_wav

    write_wav(tmp_path / "a.wav")
    (tmp_path / "m.csv").write_text("audio,emotion\na.wav,sad\nnone.wav,sad\n", encoding="utf-8")
    out = tmp_path / "s.json"
    result = runner.invoke(app, ["data", "check", str(tmp_path / "m.csv"), "--json", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text())
    assert summary["sessions"]["(unknown)"]["utterances"] == 1 and summary["bio"] is None
    (tmp_path / "n.csv").write_text("audio,emotion\nnone.wav,sad\n", encoding="utf-8")
    result = runner.invoke(app, ["data", "check", str(tmp_path / "n.csv")])
    assert result.exit_code == 0 and "no utterance was kept" in result.output


def test_analyze_writes_report_and_prints_conclusions(tmp_path):
    builder = Kemdy20Builder(tmp_path / "k")
    for number, (label, rating) in enumerate(
        [
            ("neutral", "3.0"),
            ("neutral", "3.2"),
            ("neutral", "2.9"),
            ("happy", "4.1"),
            ("happy", "4.4"),
            ("happy", "3.9"),
        ],
        start=1,
    ):
        builder.add(1, Segment(f"Sess01_script01_User001F_{number:03d}", emotion=label, valence=rating))
    out = tmp_path / "analysis"
    result = runner.invoke(app, ["analyze", str(builder.write()), "--out", str(out), "--k-max", "3"])
    assert result.exit_code == 0, result.output
    assert "- Valence differs across emotions" in result.output
    saved = json.loads((out / "analysis.json").read_text())
    assert saved["anova"]["valence"]["p"] < 0.05
    again = runner.invoke(app, ["analyze", str(tmp_path / "k"), "--out", str(out)])
    assert again.exit_code == 2 and "--force" in again.output
    bad = runner.invoke(
        app, ["analyze", str(tmp_path / "k"), "--out", str(tmp_path / "x"), "--k-min", "5", "--k-max", "3"]
    )
    assert bad.exit_code == 2 and "k_max (3) is below k_min (5)" in bad.output


def test_analyze_rejects_an_unknown_signal(tmp_path):
    result = runner.invoke(app, ["analyze", str(tmp_path), "--out", str(tmp_path / "o"), "--dtw-signal", "BLOOD"])
    assert result.exit_code == 2 and "unknown bio-signal 'BLOOD'" in result.output


@pytest.mark.espeak
def test_baseline_writes_metrics_with_the_run_keys(tmp_path, demo_corpus):
    out = tmp_path / "baseline"
    result = runner.invoke(
        app, ["baseline", str(demo_corpus), "--cv", "session:2", "--out", str(out), "--cache", str(tmp_path / "cache")]
    )
    assert result.exit_code == 0, result.output
    assert "session 2-fold (speaker-independent)" in result.output and "majority" in result.output
    from vamer.evaluation.run_metrics import BaselineMetrics

    metrics = BaselineMetrics.model_validate_json((out / "metrics.json").read_text())  # its schema, whole
    models = metrics.models
    assert {"audio", "text", "both", "majority", "best"} <= set(models)
    assert all(len(models[name].folds) == 2 for name in models)
    assert metrics.protocol.cv == "session:2" and metrics.seeds == [0]
    # The default preset's frozen voice encoder gets its linear probe, beside the classic rows.
    assert metrics.protocol.preset == "cpu-ge2e" and metrics.protocol.audio_encoder == "ge2e"
    assert "probe" in models and "probe" in result.output
    assert all(chosen["features"] != "probe" for chosen in models["best"].chosen)
    bad = runner.invoke(app, ["baseline", str(demo_corpus), "--cv", "speaker:99"])
    assert bad.exit_code == 2 and "need 2 <= K" in bad.output


@pytest.mark.espeak
def test_features_command_reports_folds_and_augmentation(tmp_path, demo_corpus):
    result = runner.invoke(
        app,
        ["features", str(demo_corpus), "--cv", "session:2", "--augment", "both", "--cache", str(tmp_path / "cache")],
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("leakage check passed") == 2
    assert "| class    |   before |   added |   after |" in result.output
    # It fills the cache `vamer run --preset cpu-ge2e` reads: the voice encoder's states included.
    assert "preset cpu-ge2e" in result.output and "with ge2e encoder states" in result.output
    assert any((tmp_path / "cache" / "audio-upstream").rglob("*.npy"))
    bad = runner.invoke(app, ["features", str(demo_corpus), "--augment", "lots"])
    assert bad.exit_code == 2 and "policy" in bad.output


@pytest.mark.parametrize("command", [["baseline"], ["run"], ["analyze"]])
def test_force_leaves_a_users_folder_and_another_commands_output(dataset, tmp_path, command):
    from vamer.fileio import atomic_directory

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "metrics.json").write_text("my numbers")
    result = runner.invoke(app, [*command, str(dataset), "--out", str(mine), "--force"])
    assert result.exit_code == 2 and "not written by vamer" in result.output
    assert (mine / "metrics.json").read_text() == "my numbers"
    earlier = tmp_path / "earlier"
    other = "baseline" if command == ["run"] else "run"  # e.g. `baseline --out RUN --force`
    with atomic_directory(earlier, other) as scratch:
        (scratch / "bundle").mkdir()
        (scratch / "bundle" / "model.pt").write_text("weights")
    result = runner.invoke(app, [*command, str(dataset), "--out", str(earlier), "--force"])
    assert result.exit_code == 2 and f"written by `vamer {other}`" in result.output
    assert (earlier / "bundle" / "model.pt").read_text() == "weights"


def test_a_corpus_with_non_finite_audio_skips_that_file_and_goes_on(tmp_path):
    from tests.builders import write_wav

    rows = ["audio,emotion,speaker,text"]
    for number in range(12):
        write_wav(tmp_path / f"c{number}.wav", seconds=0.6)
        rows.append(f"c{number}.wav,{'sad' if number // 4 % 2 else 'happy'},s{number % 4},문장 {number}")
    write_wav(tmp_path / "nan.wav", kind="nan", seconds=0.6)
    rows.append("nan.wav,sad,s0,고장")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    common = [str(tmp_path / "m.csv"), "--cv", "speaker:2", "--cache", str(tmp_path / "cache")]
    result = runner.invoke(app, ["features", *common])
    assert result.exit_code == 0, result.output
    assert "skipped nan: non_finite_audio" in result.output
    result = runner.invoke(app, ["baseline", *common, "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    skipped = json.loads((tmp_path / "b" / "metrics.json").read_text())["skipped"]
    assert [(row["utt_id"], row["reason"]) for row in skipped] == [("nan", "non_finite_audio")]
    # The fast preset has no pretrained encoder, so no probe; its own audio settings are used.
    result = runner.invoke(app, ["baseline", *common, "--preset", "cpu", "--out", str(tmp_path / "fast")])
    assert result.exit_code == 0, result.output
    fast = json.loads((tmp_path / "fast" / "metrics.json").read_text())
    assert "probe" not in fast and fast["protocol"]["preset"] == "cpu" and fast["protocol"]["audio_encoder"] is None


def test_a_fold_whose_training_split_has_one_class_is_a_clear_error(tmp_path):
    from tests.builders import write_wav

    rows = ["audio,emotion,speaker"]
    for number in range(8):
        write_wav(tmp_path / f"c{number}.wav", seconds=0.6)
        rows.append(f"c{number}.wav,{'sad' if number % 2 else 'happy'},s{number % 4}")  # each speaker one class
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = runner.invoke(
        app, ["baseline", str(tmp_path / "m.csv"), "--cv", "speaker:2", "--cache", str(tmp_path / "cache")]
    )
    assert result.exit_code == 2 and "holds the class" in result.output and "internal error" not in result.output


def test_the_python_api_refuses_what_the_cli_refuses(dataset, tmp_path):
    from tests.builders import run_config
    from vamer.commands.baseline import baseline
    from vamer.errors import VamerError
    from vamer.presets import load_preset

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "metrics.json").write_text("my numbers")
    with pytest.raises(VamerError, match="not written by vamer"):
        config = run_config(dataset, load_preset("cpu-ge2e"), "baseline", cv="speaker:2", cache=tmp_path / "cache")
        baseline(config, mine, force=True)
    assert (mine / "metrics.json").read_text() == "my numbers"


@pytest.mark.espeak
@pytest.mark.parametrize("signum, code, command", [(signal.SIGTERM, 143, "run"), (signal.SIGINT, 130, "train")])
def test_a_job_stopped_from_outside_exits_non_zero_and_says_so(
    tmp_path, demo_corpus, demo_cache, signum, code, command
):
    """SLURM, Docker and systemd stop jobs with SIGTERM: a training stopped that way must not exit 0
    (Lightning turned it into a plain SystemExit), and Ctrl-C inside fit must give 130, not 1."""
    from importlib import resources

    import yaml

    out = tmp_path / "out"
    # The tiny preset with epochs enough that the signal lands inside the fit: with 3, a loaded
    # machine could finish training between the first checkpoint and the signal (exit 0).
    preset = yaml.safe_load(resources.files("vamer.presets").joinpath("tiny.yaml").read_text(encoding="utf-8"))
    for stage in preset["training"].values():
        stage.update(epochs=500, patience=500)
    (tmp_path / "long.yaml").write_text(yaml.safe_dump({**preset, "name": "tiny-long"}), encoding="utf-8")
    words = ["run", "--no-ablations"] if command == "run" else ["train", "arousal"]
    job = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vamer.cli",
            *words,
            str(demo_corpus),
            "--out",
            str(out),
            "--preset",
            str(tmp_path / "long.yaml"),
            "--cv",
            "session:2",
            "--cache",
            str(demo_cache),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while not any(tmp_path.glob("**/checkpoints")):  # inside a Lightning fit
        assert job.poll() is None and time.monotonic() < deadline, job.communicate()
        time.sleep(0.05)
    job.send_signal(signum)
    _, stderr = job.communicate(timeout=120)
    assert job.returncode == code, stderr
    assert f"stopped by {signal.Signals(signum).name}" in stderr and "Traceback" not in stderr
    if command == "run":
        assert not out.exists()  # nothing half-written stands where the run folder would be


def test_an_option_means_one_thing_with_one_help_and_one_default_everywhere():
    """``--format`` was declared seven times, ``--force`` and ``--seed`` each with another help in
    every command, and ``--cv`` defaulted to another split in ``baseline`` than in ``run``."""
    import typer.main

    seen: dict[str, set] = {}

    def walk(command, prefix):
        for param in command.params:
            if param.param_type_name == "option":  # typer carries its own click: not isinstance
                for flag in param.opts:
                    seen.setdefault(flag, set()).add((param.help, repr(param.default), param.required))
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{prefix} {name}")

    walk(typer.main.get_command(app), "vamer")
    # Two options that share a spelling but not a meaning: --out is a required output folder or an
    # optional results path; --onnx names the file export writes, or the one predict and serve read.
    kinds = {"--out": 2, "--onnx": 2}
    repeated = {flag: found for flag, found in seen.items() if len(found) > kinds.get(flag, 1)}
    assert not repeated, repeated
    assert len(seen["--format"]) == len(seen["--force"]) == len(seen["--cv"]) == 1

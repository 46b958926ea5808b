"""``--config``: a replayed config.yaml gets the command line's checks, before any work."""

import logging

import pytest
import yaml
from typer.testing import CliRunner

from vamer.cli import app
from vamer.presets import load_preset
from vamer.replay import ResolvedConfig

runner = CliRunner()


def config_file(tmp_path, options=None, preset=None, versions=None, name="config.yaml"):
    record = ResolvedConfig(
        command="run",
        options={"path": str(tmp_path / "corpus"), "preset": "tiny", "cv": "session:2", **(options or {})},
        preset=load_preset("tiny"),
    )
    values = record.model_dump(mode="json")
    for section, changes in (preset or {}).items():
        values["preset"][section].update(changes)
    if versions is not None:
        values["versions"] = versions
    path = tmp_path / name
    path.write_text(yaml.safe_dump(values))
    return path


@pytest.mark.parametrize(
    ("options", "preset", "said"),
    [
        ({"seeds": "many"}, None, "options.seeds: Invalid value for '--seeds': Input should be a valid integer"),
        ({"seeds": 0}, None, "options.seeds: Invalid value for '--seeds': Input should be greater than or equal to 1"),
        ({"workers": -3}, None, "options.workers: Invalid value for '--workers'"),
        ({"num_nodes": 0}, None, "options.num_nodes: Invalid value for '--num-nodes'"),
        ({"cv": [1, 2]}, None, "options.cv: expected one value, not [1, 2]"),
        ({"cache": "/proc/self"}, None, "options.cache: Invalid value: /proc/self is not a folder vamer can write in"),
        ({"frobnicate": 3}, None, "unknown option(s) frobnicate for `vamer run`"),
        (None, {"fusion": {"layers": 10**9}}, "preset.fusion.layers: Input should be less than or equal to 64"),
        (
            None,
            {"audio_block": {"d_model": 8192, "layers": 64}, "text_block": {"d_model": 8192}},
            "its Transformer layers alone would hold 17,",
        ),
    ],
)
def test_a_replayed_value_the_command_line_would_refuse_is_refused_before_any_work(tmp_path, options, preset, said):
    """Issue 30, item 10: these ended in internal errors (some after the baselines), a layer count of
    10^9 hung, and unknown keys were ignored."""
    config = config_file(tmp_path, options, preset)
    result = runner.invoke(app, ["run", "--config", str(config), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and said in result.output and "Traceback" not in result.output, result.output
    assert not (tmp_path / "out").exists() and not (tmp_path / ".out.partial").exists()


def test_the_command_line_overrides_a_bad_replayed_value_and_an_old_config_is_named(tmp_path, caplog):
    """A config written by vamer 0.1.0 replayed without a word."""
    config = config_file(tmp_path, {"seeds": "many"}, versions={"vamer": "0.1.0"})
    with caplog.at_level(logging.WARNING, logger="vamer.replay"):
        result = runner.invoke(app, ["run", "--config", str(config), "--seeds", "1", "--out", str(tmp_path / "out")])
    # --seeds on the command line wins over the file's; what stops the run now is the missing corpus.
    assert result.exit_code == 2 and "seeds" not in result.output and "corpus" in result.output, result.output
    assert "was written by vamer 0.1.0; this is vamer" in caplog.text

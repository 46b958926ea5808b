"""RunConfig: one object per training command, what a resume hashes and config.yaml records."""

import pandas as pd
import pytest

from vamer.commands.config import DatasetChoice, RunConfig
from vamer.data.table import LoadResult
from vamer.presets import load_preset


def config(**fields) -> RunConfig:
    return RunConfig(command="run", dataset=DatasetChoice(path="corpus"), preset=load_preset("tiny"), **fields)


def corpus(emotions=("happy", "sad")) -> LoadResult:
    table = pd.DataFrame({"utt_id": ["a", "b"], "audio_path": ["a.wav", "b.wav"], "emotion": list(emotions)})
    return LoadResult(table, pd.DataFrame(), "t", "manifest", "corpus", ["happy", "sad"])


def test_the_signature_follows_what_decides_the_results_and_nothing_else():
    same = config().signature(corpus())
    assert config(progress=False, options={"out": "x"}).signature(corpus()) == same  # how it reports
    for changed in (config(cv="session:3"), config(seeds=2), config(variants=("fusion", "text_only"))):
        assert changed.signature(corpus()) != same
    assert config().signature(corpus(("sad", "sad"))) != same  # the rows read


def test_a_config_without_fusion_or_with_a_bad_field_is_refused():
    with pytest.raises(ValueError, match="must include fusion"):
        config(variants=("text_only",))
    with pytest.raises(ValueError, match="seeds"):
        config(seeds=0)


@pytest.mark.parametrize("command", ["run", "sweep", "train", "baseline"])
def test_a_config_built_in_python_records_options_its_command_replays(command):
    """Every option it records is one that `vamer COMMAND --config` accepts."""
    import typer.main

    from vamer.cli import app

    click_app = typer.main.get_command(app)
    accepted = {param.name for param in click_app.commands[command].params}
    recorded = config().model_copy(update={"command": command}).record()
    assert recorded.command == command and set(recorded.options) <= accepted, set(recorded.options) - accepted
    assert recorded.options["path"].endswith("corpus") and recorded.preset.name == "tiny"

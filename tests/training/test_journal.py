"""A fold's journal is checked before a resumed run trusts it: a damaged entry is trained again."""

import json
import logging

import pytest

from tests.test_recipe import CLASSES, learnable_preset, rated_items
from vamer.features.store import FoldData
from vamer.recipe import FoldTask, train_fold
from vamer.training.journal import FoldJournal


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A fold trained once with its journal: the folder, its data and what it predicted."""
    preset = learnable_preset()
    stage = preset.training.arousal.model_copy(update={"epochs": 2, "patience": 2})
    preset = preset.model_copy(
        update={"training": preset.training.model_copy(update={"arousal": stage, "valence": stage})}
    )
    data = FoldData(train=rated_items(24, 0), val=rated_items(12, 1), test=rated_items(12, 2))
    folder = tmp_path_factory.mktemp("fold")
    outcome = train_fold(FoldTask(data, preset, CLASSES, folder, text_dim=512), ("fusion",), FoldJournal(folder, "run"))
    return folder, data, preset, outcome


def truth(data):
    return {item["utt_id"]: CLASSES[item["label"]] for item in data.test}


def entry(folder, step):
    return json.loads((folder / "journal" / f"{step}.json").read_text())


def damaged(folder, step, change):
    path = folder / "journal" / f"{step}.json"
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


@pytest.mark.parametrize(
    ("step", "change", "said"),
    [
        ("fusion", lambda e: e.pop("predictions"), "is not a fusion entry (predictions: Field required)"),
        ("pretraining", lambda e: e.update(checkpoints=list(e["checkpoints"].values())), "is not a pretraining entry"),
        ("fusion", lambda e: e.update(predictions=[]), "predictions holds no predictions"),
        ("fusion", lambda e: e["predictions"][0].update(utt_id="someone-else"), "1 not in it, 1 of it missing"),
        ("fusion", lambda e: e["predictions"][0].update(pred="bored"), "predicts 'bored'"),
        ("fusion", lambda e: e["predictions"][0].update(utt_id=[1]), "has rows without an utt_id"),
        (
            "fusion",
            lambda e: e["predictions"][1].update(true="sad" if e["predictions"][1]["true"] != "sad" else "happy"),
            "the true class",
        ),
        ("fusion", lambda e: e["predictions"][2].pop("p_happy"), "lacks a probability"),
        ("fusion", lambda e: e.update(checkpoint="../../elsewhere.ckpt"), "outside the fold's folder"),
    ],
)
def test_a_damaged_entry_is_not_used_and_the_warning_says_why(finished, tmp_path, caplog, step, change, said):
    """Issue 30, item 8: entries without predictions, with checkpoints as a list or empty predictions
    crashed every resume; foreign utterance ids and an unknown class were accepted into the metrics."""
    import shutil

    folder = tmp_path / "fold"
    shutil.copytree(finished[0], folder)
    journal = FoldJournal(folder, "run")
    assert journal.load(step, truth(finished[1]), CLASSES) is not None  # whole, it is used
    damaged(folder, step, change)
    with caplog.at_level(logging.WARNING, logger="vamer.journal"):
        assert journal.load(step, truth(finished[1]), CLASSES) is None
    assert said in caplog.text and "that step trains again" in caplog.text, caplog.text


def test_a_resumed_fold_trains_a_damaged_step_again_and_gets_what_it_got_before(finished, tmp_path, caplog):
    """A truncated checkpoint behind an entry, and an entry of another fold's utterances: both steps
    train again, and the fold predicts what the uninterrupted one did."""
    import shutil

    source, data, preset, outcome = finished
    folder = tmp_path / "fold"
    shutil.copytree(source, folder)
    pretrained = folder / entry(folder, "pretraining")["checkpoints"]["arousal"]
    pretrained.write_bytes(pretrained.read_bytes()[:1000])
    damaged(folder, "fusion", lambda e: [row.update(utt_id="x" + row["utt_id"]) for row in e["predictions"]])
    with caplog.at_level(logging.WARNING, logger="vamer.journal"):
        again = train_fold(
            FoldTask(data, preset, CLASSES, folder, text_dim=512), ("fusion",), FoldJournal(folder, "run")
        )
    assert "is not a whole checkpoint" in caplog.text and "12 not in it, 12 of it missing" in caplog.text
    assert again.predictions["fusion"] == outcome.predictions["fusion"]
    assert again.regression == outcome.regression
    assert FoldJournal(folder, "run").load("fusion", truth(data), CLASSES) is not None  # rewritten whole

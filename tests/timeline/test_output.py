"""Timeline subtitles: one cue per speech segment that a player (and vamer's own transcript reader)
reads back, with the speaker, the emotion and the words."""

import pytest

from tests.builders import srt
from vamer.timeline.build import TimelineOptions, build_timeline
from vamer.timeline.output import subtitles, write_table
from vamer.timeline.transcript import read_cues


@pytest.fixture(scope="module")
def worded(predictor, long_recording):
    cues = read_cues(
        srt([(start, end, text) for (start, end), text in zip(long_recording.speech, long_recording.texts)]), "srt"
    )
    timeline = build_timeline(predictor, long_recording.path, cues, TimelineOptions(transcript="long.srt"))
    next(s for s in timeline.segments if s.kind == "speech").text = "a < b & c --> d"  # what a cue must survive
    return timeline


@pytest.mark.parametrize("kind", ["srt", "vtt"])
def test_subtitles_read_back_one_cue_per_speech_segment(worded, kind, tmp_path):
    speech = [s for s in worded.segments if s.kind == "speech"]
    out = tmp_path / f"t.{kind}"
    write_table(worded, out)
    text = out.read_text(encoding="utf-8")
    assert text.startswith("WEBVTT") == (kind == "vtt")
    cues = read_cues(text, kind)
    assert len(cues) == len(speech)
    for cue, segment in zip(cues, speech):
        assert abs(cue.start_s - segment.start_s) < 2e-3 and abs(cue.end_s - segment.end_s) < 2e-3
        assert segment.label in cue.text and segment.text in cue.text or segment is speech[0]
    if kind == "vtt":
        assert f"<v {speech[0].speaker}>{speech[0].label}" in text and "\na &lt; b &amp; c -&gt; d\n" in text
    else:
        assert f"\n{speech[0].speaker} · {speech[0].label}" in text and "\na ‹ b & c -› d\n" in text
    assert subtitles(worded, kind) == text

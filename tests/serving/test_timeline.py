"""``POST /timeline`` on a real server: a long recording's segments, with /predict's rules for bad input."""

import httpx

from tests.builders import srt
from vamer.timeline.result import Timeline


def timeline(url, audio: bytes, transcript: str | None = None, name="long.wav"):
    files = {"audio": (name, audio, "audio/wav")}
    if transcript is not None:
        files["transcript"] = ("long.srt", transcript.encode("utf-8"), "application/x-subrip")
    return httpx.post(url + "/timeline", files=files, timeout=300)


def test_a_long_recording_gets_its_timeline(server, long_recording):
    cues = srt([(start, end, text) for (start, end), text in zip(long_recording.speech, long_recording.texts)])
    response = timeline(server, long_recording.path.read_bytes(), cues)
    assert response.status_code == 200, response.text
    answer = Timeline.model_validate(response.json())     # the declared schema, whole
    speech = [s for s in answer.segments if s.kind == "speech"]
    assert len(speech) == len(long_recording.speech) and answer.source == "long.wav"
    assert answer.transcript == "long.srt" and all(s.text for s in speech)
    schema = httpx.get(server + "/openapi.json").json()
    declared = schema["paths"]["/timeline"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert declared == {"$ref": "#/components/schemas/Timeline"}


def test_bad_timeline_requests_get_a_clear_4xx(server, long_recording):
    audio = long_recording.path.read_bytes()
    late = timeline(server, audio, srt([(1.0, 2.0, "하나"), (900.0, 901.0, "둘")]))
    assert late.status_code == 422 and "runs to 901.0 s" in late.json()["detail"]
    garbled = timeline(server, audio, "no cues here\n")
    assert garbled.status_code == 422 and "not valid SRT" in garbled.json()["detail"]
    assert "00:00:01,000 --> 00:00:02,500" in garbled.json()["detail"]     # it says what it expected
    assert timeline(server, b"not audio at all").status_code == 415
    empty = httpx.post(server + "/timeline", files={"text": (None, "x")}, timeout=30)
    assert empty.status_code == 422 and "audio" in empty.json()["detail"]
    assert httpx.get(server + "/health").status_code == 200


def test_the_timeline_streams_its_progress_when_asked(server, long_recording):
    import json

    ndjson = {"Accept": "application/x-ndjson"}
    files = {"audio": ("long.wav", long_recording.path.read_bytes(), "audio/wav")}
    with httpx.stream("POST", server + "/timeline", files=files, headers=ndjson, timeout=300) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in response.iter_lines() if line]
    phases = [line["phase"] for line in lines if "phase" in line]
    assert phases[0] == "speech" and phases[-1] == "emotion" and len(phases) >= 3
    done = [line["done"] for line in lines if line.get("phase") == "emotion"]
    assert done == sorted(done) and done[-1] == len(long_recording.speech)
    answer = Timeline.model_validate(lines[-1]["timeline"])
    assert len([s for s in answer.segments if s.kind == "speech"]) == len(long_recording.speech)
    # What is refused is refused before the answer starts: a status, not a line in a 200.
    refused = httpx.post(server + "/timeline", files={"audio": ("x.wav", b"not audio", "audio/wav")},
                         headers=ndjson, timeout=30)
    assert refused.status_code == 415


def test_a_client_that_leaves_mid_stream_frees_the_timeline_slot(server, long_recording):
    import time

    files = {"audio": ("long.wav", long_recording.path.read_bytes(), "audio/wav")}
    with httpx.stream("POST", server + "/timeline", files=files, headers={"Accept": "application/x-ndjson"},
                      timeout=300) as response:
        next(response.iter_lines())        # the first progress line, then the client is gone
    deadline = time.monotonic() + 30
    while True:
        answer = httpx.post(server + "/timeline", files=files, timeout=300)
        if answer.status_code != 503 or time.monotonic() > deadline:
            break
    assert answer.status_code == 200, answer.text

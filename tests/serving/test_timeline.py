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
    answer = Timeline.model_validate(response.json())  # the declared schema, whole
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
    assert "00:00:01,000 --> 00:00:02,500" in garbled.json()["detail"]  # it says what it expected
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
    refused = httpx.post(
        server + "/timeline", files={"audio": ("x.wav", b"not audio", "audio/wav")}, headers=ndjson, timeout=30
    )
    assert refused.status_code == 415


def test_a_client_that_leaves_mid_stream_frees_the_timeline_slot(server, long_recording):
    import time

    files = {"audio": ("long.wav", long_recording.path.read_bytes(), "audio/wav")}
    with httpx.stream(
        "POST", server + "/timeline", files=files, headers={"Accept": "application/x-ndjson"}, timeout=300
    ) as response:
        next(response.iter_lines())  # the first progress line, then the client is gone
    deadline = time.monotonic() + 30
    while True:
        answer = httpx.post(server + "/timeline", files=files, timeout=300)
        if answer.status_code != 503 or time.monotonic() > deadline:
            break
    assert answer.status_code == 200, answer.text


def test_a_huge_transcript_is_refused_and_the_service_keeps_answering(server, predictor, long_recording):
    """Issue 30, item 1: an 18 MB SRT of 300k cues was parsed in the event loop: /health waited 59 s."""
    from dataclasses import replace

    from tests.serving.conftest import LIMITS, health_latencies, running
    from vamer.serving.app import create_app

    audio = long_recording.path.read_bytes()
    huge = srt([(i * 0.01, i * 0.01 + 0.005, "안녕하세요 여러분 반갑습니다") for i in range(300_000)])
    assert len(huge.encode()) > 17e6
    answer, latencies = health_latencies(server, lambda: timeline(server, audio, huge))
    assert answer.status_code == 413 and "'transcript' is over its limit" in answer.json()["detail"], answer.text
    assert max(latencies, default=0.0) < 0.2, sorted(latencies)[-5:]
    dense = srt([(i * 0.001, i * 0.001 + 0.0005, "네") for i in range(40_001)])  # 1.7 MB, one cue too many
    crowded = timeline(server, audio, dense)
    assert crowded.status_code == 422 and "40,001 cues; the limit is 40,000" in crowded.json()["detail"]
    # A transcript within both limits still parses within the service's time budget, or is refused.
    hurried = replace(LIMITS, transcript_timeout_s=0.001)
    with running(create_app(predictor, hurried), hurried) as url:
        late = timeline(url, audio, srt([(i * 0.05, i * 0.05 + 0.04, "네") for i in range(30_000)]))
    assert late.status_code == 422 and "did not parse within 0.001 s" in late.json()["detail"], late.text


def test_a_client_that_leaves_a_plain_timeline_stops_its_work(server, long_recording, monkeypatch):
    """Issue 30, item 4: the non-streamed /timeline kept building after its client left, and the
    next request waited twice as long."""
    import threading
    import time

    import vamer.serving.app as service

    reports, ended = [], threading.Event()
    real = service.build_timeline

    def watched(*args, progress, **kwargs):
        def slowed(phase, done, total):
            reports.append((phase, done, total))
            time.sleep(0.2)  # long enough that the client leaves mid-work
            progress(phase, done, total)

        try:
            return real(*args, progress=slowed, **kwargs)
        finally:
            ended.set()

    monkeypatch.setattr(service, "build_timeline", watched)
    files = {"audio": ("long.wav", long_recording.path.read_bytes(), "audio/wav")}
    try:
        httpx.post(server + "/timeline", files=files, timeout=httpx.Timeout(60, read=1.5))
        raise AssertionError("the timeline was answered within 1.5 s: nothing was left unfinished")
    except httpx.ReadTimeout:
        left = time.monotonic()  # the client gave up and closed its connection
    assert ended.wait(10) and time.monotonic() - left < 3, "the work went on after its client left"
    assert ("emotion", len(long_recording.speech), len(long_recording.speech)) not in reports, reports[-3:]

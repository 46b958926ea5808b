"""Speaker profiles through the service: enrol, list, predict with speaker=, delete; refused across
API keys; a malformed id gets a 4xx with its reason; profiles survive a restart of the service."""

import httpx
import pytest

from tests.serving.conftest import running
from vamer.serving.app import create_app

KEYS = ["a" * 20, "b" * 20]


def _clips(trained, count=6):
    speaker = sorted((trained[0] / "wav").rglob("*.wav"))[0].stem.split("_")[2]
    return [p.read_bytes() for p in sorted((trained[0] / "wav").rglob(f"*{speaker}*.wav"))[:count]]


def _enrol(url, speaker, clips, key):
    files = [("audio", (f"c{i}.wav", data, "audio/wav")) for i, data in enumerate(clips)]
    return httpx.put(f"{url}/speakers/{speaker}", files=files, headers={"X-API-Key": key}, timeout=120)


def _predict(url, clip, key, speaker=None):
    return httpx.post(
        url + "/predict",
        files={"audio": ("c.wav", clip, "audio/wav")},
        data={"speaker": speaker} if speaker else None,
        headers={"X-API-Key": key},
        timeout=60,
    )


@pytest.fixture(scope="module")
def profiles_path(tmp_path_factory):
    return tmp_path_factory.mktemp("profiles") / "speakers.sqlite"


def test_profiles_are_enrolled_used_listed_and_deleted_per_key(predictor, trained, profiles_path):
    clips = _clips(trained)
    app = create_app(predictor, api_key=KEYS, profiles=predictor.profiles(profiles_path))
    with running(app) as url:
        enrolled = _enrol(url, "User001F", clips, KEYS[0])
        assert enrolled.status_code == 200, enrolled.text
        assert enrolled.json()["clips"] == len(clips)
        assert [p["speaker"] for p in httpx.get(url + "/speakers", headers={"X-API-Key": KEYS[0]}).json()] == [
            "User001F"
        ]
        # Another key sees nothing, and cannot use or delete the profile.
        assert httpx.get(url + "/speakers", headers={"X-API-Key": KEYS[1]}).json() == []
        assert _predict(url, clips[0], KEYS[1], "User001F").status_code == 404
        assert httpx.delete(url + "/speakers/User001F", headers={"X-API-Key": KEYS[1]}).status_code == 404
        assert httpx.get(url + "/speakers").status_code == 401
        with_profile = _predict(url, clips[0], KEYS[0], "User001F").json()
        without = _predict(url, clips[0], KEYS[0]).json()
        assert with_profile["speaker"] == "User001F" and with_profile["speaker_context"] == "speaker"
        assert without["speaker"] is None and without["speaker_context"] == "population"
        assert with_profile["probabilities"] != without["probabilities"]
        # The same as predicting with the statistics in Python.
        statistics, _ = predictor.enrol(clips)
        local = predictor.predict(clips[0], statistics=statistics, speaker="User001F")
        assert local.probabilities == pytest.approx(with_profile["probabilities"], abs=1e-4)
        # Malformed ids and too few clips get a 4xx that says why.
        for bad in ("-x", "a" * 65, "sp%20ace"):
            refused = _enrol(url, bad, clips, KEYS[0])
            assert refused.status_code in (404, 422) and "speaker id" in refused.json()["detail"]
        assert _predict(url, clips[0], KEYS[0], "no such!").status_code == 422
        few = _enrol(url, "Short", clips[:2], KEYS[0])
        assert few.status_code == 422 and "at least" in few.json()["detail"]
    # A new service on the same file keeps the profile; deleting it works once.
    with running(create_app(predictor, api_key=KEYS, profiles=predictor.profiles(profiles_path))) as url:
        assert _predict(url, clips[0], KEYS[0], "User001F").json()["speaker_context"] == "speaker"
        assert httpx.delete(url + "/speakers/User001F", headers={"X-API-Key": KEYS[0]}).status_code == 200
        assert httpx.delete(url + "/speakers/User001F", headers={"X-API-Key": KEYS[0]}).status_code == 404

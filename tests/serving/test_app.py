import asyncio
import io

import httpx
import numpy as np
import soundfile

from tests.builders import write_wav
from tests.serving.conftest import UPLOAD_LIMIT


def demo_wav(trained):
    return sorted((trained[0] / "wav").rglob("*.wav"))[0]


def post(url, data: bytes | None, text: str | bytes | None = None, name="clip.wav", **kwargs):
    files = {"audio": (name, data, "audio/wav")} if data is not None else {}
    form = {"text": text} if text is not None else {}
    if isinstance(text, bytes):  # raw bytes as a form part, to send non-UTF-8 text
        files["text"] = (None, text)
        form = {}
    return httpx.post(url + "/predict", files=files or None, data=form or None, timeout=60, **kwargs)


def test_health_page_and_openapi(server):
    health = httpx.get(server + "/health").json()
    assert health["status"] == "ok" and health["classes"][0] == "neutral" and health["engine"] == "torch"
    assert health["limits"]["max_upload_bytes"] == UPLOAD_LIMIT
    page = httpx.get(server + "/")
    assert page.status_code == 200 and 'id="chart"' in page.text and "getUserMedia" in page.text
    schema = httpx.get(server + "/openapi.json").json()
    assert "/predict" in schema["paths"] and "multipart/form-data" in str(schema["paths"]["/predict"])
    assert httpx.get(server + "/docs").status_code == 200


def test_predict_returns_the_json_of_predict(server, trained):
    response = post(server, demo_wav(trained).read_bytes(), "오늘 정말 재밌었어")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["label"] in body["probabilities"] and abs(sum(body["probabilities"].values()) - 1) < 1e-4
    assert body["text"] == "오늘 정말 재밌었어" and body["text_source"] == "argument"
    alone = post(server, demo_wav(trained).read_bytes()).json()
    assert alone["audio_only"] is True and alone["valence"] is None   # no words, no valence


def wav_bytes(tmp_path, **kwargs) -> bytes:
    write_wav(tmp_path / "x.wav", **kwargs)
    return (tmp_path / "x.wav").read_bytes()


def wide_flac() -> bytes:
    """113 KB of FLAC that decodes to 20 s of 8 channels at 655,350 Hz (~420 MB as float32)."""
    buffer = io.BytesIO()
    with soundfile.SoundFile(buffer, "w", samplerate=655_350, channels=8, format="FLAC", subtype="PCM_16") as sink:
        for _ in range(20):
            sink.write(np.zeros((655_350, 8), dtype=np.int16))
    return buffer.getvalue()


def raw_form(url, boundary: bytes, audio: bytes, cut: bool = False):
    """A multipart body written by hand: any boundary, optionally without its closing line."""
    body = (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="audio"; filename="a.wav"\r\n'
            b"Content-Type: audio/wav\r\n\r\n" + audio + b"\r\n")
    if not cut:
        body += b"--" + boundary + b"--\r\n"
    return httpx.post(url + "/predict", content=body, timeout=60,
                      headers={"content-type": "multipart/form-data; boundary=" + boundary.decode()})


def test_bad_requests_get_a_clear_4xx_and_the_server_stays_up(server, trained, tmp_path):
    clip = demo_wav(trained).read_bytes()
    assert raw_form(server, b"b0undary", clip).status_code == 200  # the hand-written form itself is fine
    cases = {
        "non-wav": (post(server, b"%PDF-1.4 this is a document"), 415, "not a readable audio file"),
        "truncated": (post(server, wav_bytes(tmp_path, kind="truncated")), 415, "not a readable audio file"),
        "0 bytes": (post(server, b""), 400, "0 bytes"),
        "10 minutes": (post(server, wav_bytes(tmp_path, seconds=600)), 422, "the limit is 60 s"),
        "8 kHz": (post(server, wav_bytes(tmp_path, seconds=1, rate=8_000)), 422, "below 16000 Hz"),
        "10k chars": (post(server, demo_wav(trained).read_bytes(), "가" * 10_000), 422, "the limit is 2,000"),
        "cp949 text": (post(server, demo_wav(trained).read_bytes(), "안녕하세요".encode("cp949")), 422, "not UTF-8"),
        "no audio": (httpx.post(server + "/predict", files={"text": (None, "안녕")}), 422, "missing file field 'audio'"),
        "urlencoded": (post(server, None, "안녕"), 422, "multipart/form-data"),
        "not a form": (httpx.post(server + "/predict", json={"audio": "x"}), 422, "multipart/form-data"),
        "too big": (post(server, b"\0" * (UPLOAD_LIMIT + 1)), 413, "over the limit"),
        "NaN samples": (post(server, wav_bytes(tmp_path, kind="nan", seconds=1)), 422, "NaN or infinite"),
        "1e18 samples": (post(server, wav_bytes(tmp_path, kind="huge", seconds=1)), 422, "refuses samples beyond"),
        "8 ch at 655 kHz": (post(server, wide_flac()), 413, "would take"),
        "long boundary": (raw_form(server, b"x" * 300, clip), 400, "malformed multipart form"),
        "cut off": (raw_form(server, b"b0undary", clip, cut=True), 400, "ends before its closing boundary"),
    }
    for name, (response, status, message) in cases.items():
        assert response.status_code == status, (name, response.status_code, response.text)
        assert message in response.json()["detail"], (name, response.text)
    stereo = post(server, wav_bytes(tmp_path, seconds=1, rate=44_100, channels=2))
    assert stereo.status_code == 200 and any("2 channels" in n for n in stereo.json()["notes"])
    assert httpx.get(server + "/health").status_code == 200


def test_a_chunked_upload_over_the_limit_is_refused_without_content_length(server):
    def body():
        for _ in range(UPLOAD_LIMIT // (1 << 20) + 2):
            yield b"\0" * (1 << 20)

    response = httpx.post(server + "/predict", content=body(), timeout=60,
                          headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert response.status_code == 413


def test_concurrent_requests_all_succeed_and_health_answers_meanwhile(server, trained):
    data = demo_wav(trained).read_bytes()

    async def main():
        async with httpx.AsyncClient(base_url=server, timeout=120) as client:
            predictions = [client.post("/predict", files={"audio": ("a.wav", data, "audio/wav")}) for _ in range(16)]
            health = client.get("/health")
            return await asyncio.gather(*predictions), await health

    responses, health = asyncio.run(main())
    assert all(r.status_code == 200 for r in responses) and health.status_code == 200
    labels = {r.json()["label"] for r in responses}
    assert len(labels) == 1  # the same clip gives the same answer under concurrency


def test_a_float_wav_is_accepted(server, tmp_path):
    soundfile.write(str(tmp_path / "f.wav"), 0.2 * np.sin(np.arange(16_000) / 5), 16_000, subtype="FLOAT")
    assert post(server, (tmp_path / "f.wav").read_bytes()).status_code == 200


def test_serve_refuses_a_bad_bundle_before_listening(tmp_path):
    from typer.testing import CliRunner

    from vamer.cli import app

    result = CliRunner().invoke(app, ["serve", "--bundle", str(tmp_path)])
    assert result.exit_code == 2 and "missing bundle.json" in result.output


def test_a_model_that_outputs_nan_gets_a_500_with_its_reason(bundle_dir, trained):
    """vamer 0.3 answered 200 with null probabilities and the label neutral."""
    import torch

    from tests.serving.conftest import running
    from vamer.inference.predictor import Predictor
    from vamer.serving.app import create_app

    broken = Predictor.from_bundle(bundle_dir)
    with torch.no_grad():
        next(broken.engine.graph.fusion.head.parameters()).fill_(float("nan"))
    with running(create_app(broken)) as url:
        response = post(url, demo_wav(trained).read_bytes())
    assert response.status_code == 500 and "NaN or infinite outputs" in response.json()["detail"]

"""The upload reader on its own, without FastAPI or a socket: a body as an async iterator of chunks."""

import tracemalloc

import anyio
import pytest

from vamer.serving.uploads import Refused, UploadBudget, UploadRules, read_form

BOUNDARY = b"b0undary"
CONTENT_TYPE = "multipart/form-data; boundary=b0undary"


def body_of(**fields: bytes) -> bytes:
    parts = [
        b"--"
        + BOUNDARY
        + b'\r\nContent-Disposition: form-data; name="'
        + name.encode()
        + b'"; filename="f"\r\n\r\n'
        + data
        + b"\r\n"
        for name, data in fields.items()
    ]
    return b"".join(parts) + b"--" + BOUNDARY + b"--\r\n"


async def chunks_of(body: bytes, size: int = 65_536, pause_s: float = 0.0):
    for at in range(0, len(body), size):
        if pause_s:
            await anyio.sleep(pause_s)
        yield body[at : at + size]


def read(body: bytes, budget: UploadBudget | None = None, **rules):
    async def run():
        return await read_form(
            chunks_of(body), CONTENT_TYPE, UploadRules(most=rules.pop("most", 10**9), **rules), budget or UploadBudget()
        )

    return anyio.run(run)


def test_a_form_is_parsed_as_it_arrives_and_held_once():
    """A 230 MB WAV upload cost about 970 MB: the body was copied about 4 times on its way to the parts."""
    audio = bytes(range(256)) * (24 * 4096)  # 24 MB
    body = body_of(audio=audio, text="안녕".encode())
    budget = UploadBudget()
    tracemalloc.start()
    try:
        form = read(body, budget)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert form.fields["audio"] == ("f", audio) and form.fields["text"][1] == "안녕".encode()
    assert peak < 1.3 * len(audio), f"{peak / 1e6:.0f} MB to receive {len(audio) / 1e6:.0f} MB"
    assert budget.held == len(body)
    form.release()
    form.release()  # idempotent
    assert budget.held == 0


def test_a_field_over_its_cap_is_refused_after_the_body_is_drained():
    body = body_of(audio=b"RIFF" * 100, transcript=b"x" * 5000)
    budget = UploadBudget()
    with pytest.raises(Refused) as refused:
        read(body, budget, field_caps={"transcript": 4096})
    assert refused.value.status == 413 and "'transcript' is over its limit of 4,096 bytes" in refused.value.detail
    assert budget.held == 0 and budget.arriving == 0


def test_bad_forms_get_their_status():
    cases = {
        400: body_of(**{f"f{i}": b"v" for i in range(9)}),  # more parts than max_parts
        413: body_of(audio=b"a" * 2000),
    }
    for status, body in cases.items():
        with pytest.raises(Refused) as refused:
            read(body, most=1000)
        assert refused.value.status == status, refused.value.detail
    with pytest.raises(Refused) as cut:
        read(body_of(audio=b"a")[:-20])
    assert cut.value.status == 400 and "before its closing boundary" in cut.value.detail
    with pytest.raises(Refused) as wrong:
        anyio.run(lambda: read_form(chunks_of(b"x"), "text/plain", UploadRules(most=10), UploadBudget()))
    assert wrong.value.status == 422


def test_a_full_budget_makes_an_upload_wait_then_503_and_room_lets_it_in():
    first, second = body_of(audio=b"a" * 60_000), body_of(audio=b"b" * 60_000)
    budget = UploadBudget(held_most=100_000)
    rules = UploadRules(most=10**6, queue_timeout_s=0.3)

    async def crowded():
        held = await read_form(chunks_of(first), CONTENT_TYPE, rules, budget)
        with pytest.raises(Refused) as refused:
            await read_form(chunks_of(second), CONTENT_TYPE, rules, budget)
        assert refused.value.status == 503 and budget.held == len(first)

        async def release_soon():
            await anyio.sleep(0.1)
            held.release()

        async with anyio.create_task_group() as group:
            group.start_soon(release_soon)
            admitted = await read_form(chunks_of(second), CONTENT_TYPE, rules, budget)
        assert admitted.fields["audio"][1] == b"b" * 60_000
        admitted.release()

    anyio.run(crowded)
    assert budget.held == 0


def test_the_rate_floor_rises_as_bodies_crowd_in():
    """60 clients trickling 10 KB/s (above the 8 KB/s floor) took every upload slot for 30 s."""
    budget = UploadBudget(uploads_at_floor=16)
    assert budget.floor_bps(8192) == 8192
    budget.arriving = 60
    assert budget.floor_bps(8192) == 8192 * 60 / 16
    body = body_of(audio=b"a" * 50_000)

    async def trickle():
        rules = UploadRules(most=10**6, min_body_rate_bps=8192, rate_grace_s=0.3)
        await read_form(chunks_of(body, size=1024, pause_s=0.1), CONTENT_TYPE, rules, budget)

    with pytest.raises(Refused) as refused:  # 10 KB/s, against 8 KB/s x 61 / 16 (it counts itself)
        anyio.run(trickle)
    assert refused.value.status == 408 and "slower than 31,232 bytes/s" in refused.value.detail
    assert budget.arriving == 60 and budget.held == 0

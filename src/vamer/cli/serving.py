"""``vamer predict|export|serve``: the commands that read a model bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from vamer.cli.app import app
from vamer.cli.groups import service_options, speaker_options, timeline_options, user_errors
from vamer.cli.options import (
    ASR,
    ASR_LANGUAGE,
    BUNDLE,
    DEVICE,
    ENGINE,
    FORCE,
    MAX_SECONDS,
    ONNX_FILE,
    PROFILES,
    RESULTS,
    Engine,
)


@app.command("predict")
@user_errors
@timeline_options
@speaker_options
def predict_command(  # noqa: PLR0913 - a Typer command: its parameters are its options
    inputs: list[Path] = typer.Argument(None, help="Audio files and folders (searched recursively)."),
    bundle: Path = BUNDLE,
    text: Optional[str] = typer.Option(
        None, "--text", help="Transcript of the single input (else the .txt beside the wav, else audio only)."
    ),
    manifest: Optional[Path] = typer.Option(
        None, "--manifest", help="CSV/Parquet with columns audio [, text, utt_id]."
    ),
    out: Optional[Path] = RESULTS,
    engine: Engine = ENGINE,
    onnx: Optional[Path] = ONNX_FILE,
    batch_size: int = typer.Option(16, "--batch-size", min=1),
    max_seconds: float = MAX_SECONDS,
    device: str = DEVICE,
    asr: str = ASR,
    asr_language: str = ASR_LANGUAGE,
    force: bool = FORCE,
    timeline=None,
    speakers=None,
) -> None:
    """Predict the emotion of recordings; a file that fails is reported in the output and the rest go on.
    With --timeline, one long recording becomes a timeline of its speech segments."""
    from vamer.inference.batch import check_output, gather, predict_inputs, results_table
    from vamer.inference.predictor import PredictorSettings
    from vamer.limits import PredictionLimits
    from vamer.progress import progress_reporter

    model = PredictorSettings(
        bundle, engine.value, onnx, PredictionLimits(max_seconds=max_seconds), device, asr, asr_language
    )
    load = model.load

    if timeline.enabled:
        from vamer.timeline.command import predict_timeline

        for line in predict_timeline(load, list(inputs or []), timeline, out, force):
            typer.echo(line)
        return
    if out is not None:
        check_output(out, force)  # before any input is read or the model loads
    requests = gather(list(inputs or []), manifest, text, speakers.speaker)
    predictor = load()
    with progress_reporter("predicting", len(requests), quiet=len(requests) <= batch_size) as advance:
        outcome = predict_inputs(
            predictor,
            requests,
            out,
            force,
            batch_size,
            advance,
            stopped=lambda message: typer.echo(message, err=True),
            choice=speakers,
        )
    if out is not None:
        typer.echo(
            f"wrote {outcome.total} rows to {out} ({outcome.total - outcome.failed} predicted, {outcome.failed} failed)"
        )
    else:
        Console().print(results_table(outcome.rows))
    if outcome.failed:
        typer.echo(
            f"{outcome.failed} of {outcome.total} inputs could not be predicted (see the error column)", err=True
        )


@app.command("export")
@user_errors
def export_command(
    bundle: Path = BUNDLE,
    onnx: Path = typer.Option(..., "--onnx", help="The .onnx file to write."),
    int8: bool = typer.Option(False, "--int8", help="Dynamic int8 quantisation (onnxruntime)."),
    force: bool = FORCE,
) -> None:
    """Export the bundle's models as one ONNX graph (probabilities, arousal, valence) and check parity."""
    from vamer.inference.bundle import read_bundle
    from vamer.inference.export import export_onnx

    written = export_onnx(read_bundle(bundle), onnx, int8=int8, force=force)
    typer.echo(
        f"wrote {written['path']} ({written['precision']}, {written['bytes'] / 1e6:.2f} MB); max |p_torch - "
        f"p_onnx| = {written['max_abs_diff_probabilities']:.2e} on test inputs"
    )


@app.command("serve")
@user_errors
@service_options
def serve_command(  # noqa: PLR0913 - a Typer command: its parameters are its options
    bundle: Path = BUNDLE,
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port", min=0, max=65535),
    engine: Engine = ENGINE,
    onnx: Optional[Path] = ONNX_FILE,
    max_seconds: float = MAX_SECONDS,
    max_text_chars: int = typer.Option(2000, "--max-text-chars", min=1),
    api_key_file: Optional[Path] = typer.Option(
        None, "--api-key-file", help="File holding the API key POST /predict then needs (or set VAMER_API_KEY)."
    ),
    allowed_host: Optional[list[str]] = typer.Option(
        None,
        "--allowed-host",
        help="A Host header value to answer "
        "(repeat it; default: the loopback names when --host is "
        "loopback, any otherwise).",
    ),
    device: str = DEVICE,
    profiles: Optional[Path] = PROFILES,
    asr: str = ASR,
    asr_language: str = ASR_LANGUAGE,
    limits=None,
) -> None:
    """REST service + web page: POST /predict, /timeline, PUT/GET/DELETE /speakers, GET /health, / (page), /docs."""
    from vamer.inference.predictor import PredictorSettings
    from vamer.limits import PredictionLimits
    from vamer.serving.server import Access, Listen, serve

    model = PredictorSettings(
        bundle,
        engine.value,
        onnx,
        PredictionLimits(max_seconds=max_seconds, max_text_chars=max_text_chars),
        device,
        asr,
        asr_language,
    )
    serve(
        model,
        Listen(host, port, allowed_host),
        limits,
        Access(api_key_file, profiles),
        say=typer.echo,
        warn=lambda line: typer.echo(line, err=True),
    )

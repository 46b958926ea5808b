"""Benchmark: what recognised words cost the emotion model against the corpus's own words.

    .venv/bin/python bench/asr_emotion.py [--corpus build/demo-corpus] [--language ko] [--out build/asr-emotion]
                                          [-- extra `vamer run` options, e.g. --cv session:5 --seeds 1]

Writes two manifests of the same utterances: ``gold.csv`` with the corpus's transcripts, and
``transcribed.csv``: the same rows with their text removed (the audio linked from a folder without
the ``.txt`` files), then filled by ``vamer data transcribe``
(its CER against the gold text is printed). Then ``vamer run`` trains on each, with the same
options and seeds, and the script prints the two runs side by side: the fused model, text only,
audio only, and the valence regressor (read from the words).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from vamer.data import load
from vamer.speech import character_error_rate


def write_manifests(corpus: Path, out: Path) -> tuple[Path, Path]:
    table = load(corpus, read_bio=False).utterances
    rows = pd.DataFrame(
        {
            "utt_id": table["utt_id"],
            "audio": table["audio_path"],
            "text": table["text"],
            "emotion": table["emotion"],
            "arousal": table["arousal"],
            "valence": table["valence"],
            "speaker": table["speaker"],
            "session": table["session"],
            "gender": table["gender"],
        }
    )
    out.mkdir(parents=True, exist_ok=True)
    rows.to_csv(out / "gold.csv", index=False)
    # A manifest row without text reads the .txt beside its wav: the clips without words are links
    # in a folder of their own.
    bare = out / "audio"
    bare.mkdir(exist_ok=True)
    links = []
    for utt_id, audio in zip(rows["utt_id"], rows["audio"]):
        link = bare / f"{utt_id}.wav"
        if not link.is_symlink():
            link.symlink_to(Path(audio).resolve())
        links.append(str(link.absolute()))
    rows.assign(text="", audio=links).to_csv(out / "no-text.csv", index=False)
    return out / "gold.csv", out / "no-text.csv"


def vamer(*arguments: str) -> float:
    started = time.perf_counter()
    job = subprocess.run([sys.executable, "-m", "vamer.cli", *arguments], capture_output=True, text=True)
    if job.returncode:
        sys.exit(f"vamer {' '.join(arguments)} failed ({job.returncode}):\n{job.stdout}\n{job.stderr}")
    print(job.stdout.strip())
    return time.perf_counter() - started


def figures(run: Path) -> dict[str, str]:
    metrics = json.loads((run / "metrics.json").read_text())
    row = {"fusion UA": metrics["ua"], "fusion macro F1": metrics["macro_f1"]}
    for variant in ("text_only", "audio_only"):
        if variant in metrics["ablations"]:
            row[f"{variant.replace('_', ' ')} UA"] = metrics["ablations"][variant]["ua"]
    row["valence CCC"] = metrics["regression"].get("valence_ccc")
    return {name: f"{v['mean']:.3f} ± {v['std']:.3f}" if v else "-" for name, v in row.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=Path("build/demo-corpus"))
    parser.add_argument("--language", default="ko")
    parser.add_argument("--out", type=Path, default=Path("build/asr-emotion"))
    args, run_options = parser.parse_known_args()
    run_options = [option for option in run_options if option != "--"]
    gold, no_text = write_manifests(args.corpus, args.out)
    transcribed = args.out / "transcribed.csv"
    seconds = vamer(
        "data", "transcribe", str(no_text), "--out", str(transcribed), "--asr-language", args.language, "--force"
    )
    heard = pd.read_csv(transcribed, keep_default_na=False)
    reference = pd.read_csv(gold, keep_default_na=False).set_index("utt_id").loc[heard["utt_id"], "text"]
    print(
        f"transcribed {len(heard)} clips in {seconds:.0f} s; character error rate against the corpus's text "
        f"{character_error_rate(list(reference), list(heard['text'])):.3f}"
    )
    table = {}
    for name, manifest in (("given words", gold), ("recognised words", transcribed)):
        run = args.out / f"run-{name.split()[0]}"
        seconds = vamer("run", str(manifest), "--out", str(run), "--force", *run_options)
        table[name] = {**figures(run), "minutes": f"{seconds / 60:.1f}"}
    print(pd.DataFrame(table).to_markdown())


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# `make demo`: set up, make the SYNTHETIC demo corpus if absent, run the main job on it, and say where
# the time went.  Every step is a vamer command a user can run alone (see README).
set -euo pipefail
DEMO_DIR=${DEMO_DIR:-build/demo-corpus}
DEMO_OUT=${DEMO_OUT:-build/demo-run}
CACHE=${CACHE:-build/cache}
# cpu-ge2e, the default preset: the frozen GE2E voice encoder hears the demo's arousal (pitch, tempo,
# loudness) as eGeMAPS does, at a fifth of eGeMAPS' cost per prediction.  DEMO_PRESET=cpu trains the
# fast preset, cpu-egemaps the one with openSMILE's functionals.
DEMO_PRESET=${DEMO_PRESET:-cpu-ge2e}
BIN=.venv/bin
declare -a NAMES=() TIMES=()

step() {  # step NAME command...: run it, remember how long it took
  local name=$1 start=$SECONDS
  shift
  echo "== $name"
  "$@"
  NAMES+=("$name")
  TIMES+=($((SECONDS - start)))
}

step "setup (system packages, venv, pip)" make --no-print-directory setup-core
if [ -f "$DEMO_DIR/vamer_demo.json" ]; then
  echo "== corpus: $DEMO_DIR exists, kept"
else
  step "corpus (vamer data demo)" "$BIN/vamer" data demo "$DEMO_DIR"
fi
mkdir -p "$DEMO_OUT"
step "data check" "$BIN/vamer" data check "$DEMO_DIR" --json "$DEMO_OUT/data-check.json" --force
# The demo cuts the work, not the method: DTW on 60 series, 2 folds of 10 sessions.  `vamer run` with
# its defaults (--cv session:5) is the protocol the README's results use.
step "analysis (ratings, bio-signals; DTW on 60 series)" "$BIN/vamer" analyze "$DEMO_DIR" --out "$DEMO_OUT/analysis" \
  --max-series 60 --force
step "run (features, baselines, 2 folds x 3 variants)" "$BIN/vamer" run "$DEMO_DIR" --out "$DEMO_OUT/run" \
  --preset "$DEMO_PRESET" --cv session:2 --variants fusion,audio_only,text_only --cache "$CACHE" --force
step "ONNX export" "$BIN/vamer" export --bundle "$DEMO_OUT/run/bundle" --onnx "$DEMO_OUT/run/bundle/model.onnx" --force
step "predict Session01" "$BIN/vamer" predict --bundle "$DEMO_OUT/run/bundle" "$DEMO_DIR/wav/Session01" \
  --out "$DEMO_OUT/predict-session01.csv" --force

echo
echo "Where the time went:"
total=0
for i in "${!NAMES[@]}"; do
  printf '  %-52s %4d s\n' "${NAMES[$i]}" "${TIMES[$i]}"
  total=$((total + TIMES[i]))
done
printf '  %-52s %4d s\n' "total" "$total"
echo
echo "What the run found (SYNTHETIC demo corpus; numbers say nothing about real speech):"
"$BIN/vamer" findings "$DEMO_OUT/run"
echo
echo "Reports: $DEMO_OUT/analysis/report.md (the method's analysis), $DEMO_OUT/run/report.md (models, ablations,"
echo "  classic and majority baselines, arousal/valence regressors); bundle: $DEMO_OUT/run/bundle (ONNX: model.onnx)"
echo "Predictions for Session01: $DEMO_OUT/predict-session01.csv"
echo "Serve it: $BIN/vamer serve --bundle $DEMO_OUT/run/bundle   (then open http://127.0.0.1:8000/)"

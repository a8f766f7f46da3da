#!/usr/bin/env bash
# Issue 14's short-run check of the GPU speech recipes, for any session with a lent GPU (about 3 minutes on an
# H100 / H200; the four recipes run side by side on the one card).  Each of sc09-mel, sc09-unet, sc09 and
# sc09-cond trains STEPS steps on digits-tts (its previews log sample statistics against the data's: std, share at
# full scale, largest octave-band gap), then 16 samples are written and scored by the digit classifier
# (FID, IS, accuracy and the same statistics).  Everything lands in $OUT (default benchmarks/results/speech_check).
#
#   CLASSIFIER=runs/sc09-classifier benchmarks/speech_check.sh
#
# Env: PYTHON (default python), DATA (a Speech Commands tree; default ../shared/data/digits-tts/SpeechCommands/
# speech_commands_v0.02), CLASSIFIER (a run of recipes/sc09-classifier trained on DATA: 30 s on an H200),
# STEPS (default 200), RECIPES (default the four), LIMIT / SLIMIT (seconds for training / for sampling + scoring).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
OUT=${OUT:-benchmarks/results/speech_check}
DATA=$(realpath "${DATA:-../shared/data/digits-tts/SpeechCommands/speech_commands_v0.02}")
CLASSIFIER=${CLASSIFIER:?set CLASSIFIER to a run of recipes/sc09-classifier trained on DATA}
STEPS=${STEPS:-200}
RECIPES=${RECIPES:-sc09-mel sc09-unet sc09 sc09-cond}
WORK=$(mktemp -d)
mkdir -p "$OUT"

one() {   # one recipe: a short run, then 16 samples scored
  local r=$1
  mkdir -p "$WORK/r/$r"
  sed -e "s#^root = .*#root = \"$DATA\"\ncache_dir = \"$WORK/cache-$r\"#" -e 's#^download = true.*#download = false#' \
      -e "s#^max_steps = .*#max_steps = $STEPS#" -e "s#^checkpoint_every = .*#checkpoint_every = 50#" \
      -e "s#^log_every = .*#log_every = 25#" -e "s#^warmup_steps = .*#warmup_steps = 50#" \
      -e "s#^ema_decay = .*#ema_decay = 0.99#" "recipes/$r/recipe.toml" > "$WORK/r/$r/recipe.toml"
  grep -q '^preview_every' "$WORK/r/$r/recipe.toml" || \
    sed -i "s#^\[train\]#[train]\npreview_every = $((STEPS / 2))\npreview_n = 8#" "$WORK/r/$r/recipe.toml"
  local t0=$(date +%s)
  timeout "${LIMIT:-100}" "$PY" cli.py train "$WORK/r/$r" --out "$WORK/runs/$r" --no-progress > "$OUT/$r.log" 2>&1
  echo "$r: train rc $? in $(( $(date +%s) - t0 )) s" >> "$OUT/$r.log"
  timeout "${SLIMIT:-40}" "$PY" cli.py sample --model "$WORK/runs/$r" --n 16 --out "$WORK/s/$r" --seed 0 >> "$OUT/$r.log" 2>&1
  timeout "${SLIMIT:-40}" "$PY" cli.py eval "$WORK/s/$r" --classifier "$CLASSIFIER" --reference "$DATA" \
    --json "$OUT/$r.eval.json" >> "$OUT/$r.log" 2>&1
  echo "$r: sample + eval rc $? at $(( $(date +%s) - t0 )) s" >> "$OUT/$r.log"
}
for r in $RECIPES; do one "$r" & done
wait
for r in $RECIPES; do
  grep -E "rc |preview std|step [0-9]+/" "$OUT/$r.log" | tail -8
  "$PY" -c "import json; m = json.load(open('$OUT/$r.eval.json')); m = m.get('metrics', m); \
print('$r', {k: round(v, 4) for k, v in m.items() if isinstance(v, (int, float))})" 2>&1 | cut -c1-600
done
rm -rf "$WORK"

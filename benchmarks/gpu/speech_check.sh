#!/usr/bin/env bash
# Issue 14's short-run check of the GPU speech recipes.  Each of sc09-mel, sc09-vocoder (recipes/sc09-mel/
# vocoder.toml), sc09-unet, sc09 and sc09-cond trains STEPS steps on digits-tts (its previews log sample statistics
# against the data's: std, share at full scale, largest octave-band gap), then 16 samples are written and scored
# by the digit classifier (FID, IS, accuracy and the same statistics); sc09-mel's samples are decoded by the
# short vocoder run when it is in RECIPES (else Griffin-Lim).  Everything lands in $OUT (default
# benchmarks/results/speech_check).
#
#   CLASSIFIER=runs/sc09-classifier benchmarks/gpu/speech_check.sh          # GPU: about 3 minutes, side by side
#   CLASSIFIER=runs/sc09-classifier benchmarks/gpu/speech_check.sh --cpu    # CPU: one after another, small batches
#
# --cpu keeps each recipe's network, schedule, loss and learning rate but trains at the batch sizes of CPU_BATCH
# below, with 1 DataLoader worker, and samples the two DiffWave recipes with their 6-step fast schedule instead of
# 200 DDPM steps (previews included): about an hour on a 2-core CPU with AMX (bf16), most of it the two
# 24M-parameter DiffWave recipes at batch 1 (about 18 minutes each; 2026-12-05).
# Env: PYTHON (default python), DATA (a Speech Commands tree; default ../shared/data/digits-tts/SpeechCommands/
# speech_commands_v0.02), CLASSIFIER (a run of recipes/sc09-classifier trained on DATA: 30 s on an H200, 60 s on
# the 2-core CPU), STEPS (default 200), RECIPES (default the five), N (samples scored, default 16), LIMIT / SLIMIT
# (seconds for training / for sampling + scoring).
set -uo pipefail
cd "$(dirname "$0")/../.."
CPU=0; [ "${1:-}" = "--cpu" ] && CPU=1
PY=${PYTHON:-python}
OUT=${OUT:-benchmarks/results/speech_check}
DATA=$(realpath "${DATA:-../shared/data/digits-tts/SpeechCommands/speech_commands_v0.02}")
CLASSIFIER=${CLASSIFIER:?set CLASSIFIER to a run of recipes/sc09-classifier trained on DATA}
STEPS=${STEPS:-200}
N=${N:-16}
RECIPES=${RECIPES:-sc09-mel sc09-vocoder sc09-unet sc09 sc09-cond}
declare -A CPU_BATCH=([sc09-mel]=8 [sc09-vocoder]=4 [sc09-unet]=16 [sc09]=1 [sc09-cond]=1)
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$OUT"

recipe_file() {   # the recipe's file: sc09-vocoder is recipes/sc09-mel/vocoder.toml
  [ "$1" = sc09-vocoder ] && echo recipes/sc09-mel/vocoder.toml || echo "recipes/$1/recipe.toml"
}

short_recipe() {   # recipe $1 on DATA, STEPS steps, early previews (and the CPU settings with --cpu)
  local r=$1 f="$WORK/r/$1/recipe.toml"
  mkdir -p "$WORK/r/$r"
  sed -e "s#^root = .*#root = \"$DATA\"\ncache_dir = \"$WORK/cache-$r\"#" -e 's#^download = true.*#download = false#' \
      -e "s#^max_steps = .*#max_steps = $STEPS#" -e "s#^checkpoint_every = .*#checkpoint_every = 50#" \
      -e "s#^log_every = .*#log_every = 25#" -e "s#^warmup_steps = .*#warmup_steps = 50#" \
      -e "s#^ema_decay = .*#ema_decay = 0.99#" -e "/^preview_every/d" -e "/^preview_n/d" \
      "$(recipe_file "$r")" > "$f"
  sed -i "s#^\[train\]#[train]\npreview_every = $((STEPS / 4))\npreview_n = $((CPU ? 4 : 8))#" "$f"
  if [ "$CPU" = 1 ]; then
    sed -i -e "s#^batch_size = .*#batch_size = ${CPU_BATCH[$r]}#" -e "s#^num_workers = .*#num_workers = 1#" "$f"
    grep -q '^fast_betas' "$f" && sed -i -e 's#^sampler = .*#sampler = "fast"#' -e '/^steps = /d' "$f"
  fi
}

one() {   # one recipe: a short run, then N samples scored
  local r=$1 t0=$(date +%s) extra=()
  short_recipe "$r"
  timeout "${LIMIT:-$((CPU ? 2400 : 100))}" "$PY" cli.py train "$WORK/r/$r" --out "$WORK/runs/$r" --no-progress \
    > "$OUT/$r.log" 2>&1
  echo "$r: train rc $? in $(( $(date +%s) - t0 )) s" >> "$OUT/$r.log"
  [ "$r" = sc09-mel ] && [ -d "$WORK/runs/sc09-vocoder" ] && extra=(--vocoder "$WORK/runs/sc09-vocoder")
  [ "$r" = sc09-vocoder ] && return   # scored through sc09-mel's samples
  timeout "${SLIMIT:-$((CPU ? 900 : 40))}" "$PY" cli.py sample --model "$WORK/runs/$r" --n "$N" --out "$WORK/s/$r" \
    --seed 0 "${extra[@]}" >> "$OUT/$r.log" 2>&1
  timeout "${SLIMIT:-$((CPU ? 900 : 40))}" "$PY" cli.py eval "$WORK/s/$r" --classifier "$CLASSIFIER" \
    --reference "$DATA" --json "$OUT/$r.eval.json" >> "$OUT/$r.log" 2>&1
  echo "$r: sample + eval rc $? at $(( $(date +%s) - t0 )) s" >> "$OUT/$r.log"
}

if [ "$CPU" = 1 ]; then
  for r in $RECIPES; do [ "$r" = sc09-mel ] || one "$r"; done      # the vocoder first, then sc09-mel uses it
  [[ " $RECIPES " = *" sc09-mel "* ]] && one sc09-mel
else
  [[ " $RECIPES " = *" sc09-vocoder "* ]] && one sc09-vocoder &
  for r in $RECIPES; do [ "$r" = sc09-mel ] || [ "$r" = sc09-vocoder ] || one "$r" & done
  wait
  [[ " $RECIPES " = *" sc09-mel "* ]] && one sc09-mel
fi
for r in $RECIPES; do
  grep -E "rc |preview std|step [0-9]+/" "$OUT/$r.log" | tail -10
  [ -f "$OUT/$r.eval.json" ] && "$PY" -c "import json; m = json.load(open('$OUT/$r.eval.json')); \
m = m.get('metrics', m); print('$r', {k: round(v, 4) for k, v in m.items() if isinstance(v, (int, float))})" \
    2>&1 | cut -c1-600
done
[ -n "${KEEP:-}" ] || rm -rf "$WORK"

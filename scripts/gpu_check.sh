#!/usr/bin/env bash
# Prove the CUDA path on a lent NVIDIA machine (issue 7): detection, fit accuracy, speed, partial offload.
# Run from the repo root there with .device/ carried (see ../shared/device/README.md): `bash scripts/gpu_check.sh`;
# results come back packed in $OUT/results.tgz, and scripts/gpu_report.py DIR writes docs/benchmarks/cuda-<card>.md.
# Steps are ordered cheapest-first and each is time-boxed, so a slow step never loses the earlier rows.
set -uo pipefail
# Everything is written under /tmp/gpu-out; at the end only results.tgz (all of it) and steps.log go to
# the device tool's $OUT, which returns at most 8 files.
RETURN_DIR=${OUT:-}
OUT=/tmp/gpu-out
M=${MODELS_DIR:-/tmp/models}
W=/tmp/llama
mkdir -p "$OUT" "$M" "$W"
export PYTHONUNBUFFERED=1
T0=$(date +%s)
log() { echo "[$(($(date +%s) - T0))s] $*" | tee -a "$OUT/steps.log"; }
tl() { python3 -m tuilab "$@"; }

# 0. the llama.cpp source first: its gguf-py writes the synthetic model while CUDA compiles.
[ -d "$W"/llama_cpp_python-* ] || tar xzf .device/llama-src.tgz -C "$W"
SRC=$(ls -d "$W"/llama_cpp_python-*/ | head -1)
export PYTHONPATH=$PWD:$SRC/vendor/llama.cpp/gguf-py${PYTHONPATH:+:$PYTHONPATH}

# 1. detection (issue 3 fixture) and the card's own report
nvidia-smi -q >"$OUT/nvidia-smi-q.txt" 2>&1
tl hw --json >"$OUT/hw.json" 2>"$OUT/hw.err"
log "hw rc=$?"
# measure the host's RAM bandwidth once: partial-offload predictions read host layers at this rate
tl hw --measure --json >"$OUT/hw-measured.json" 2>>"$OUT/hw.err"
log "hw --measure rc=$?"

# 2. a shape-true Llama-3-8B at F16 (random weights) while llama.cpp builds
# (a rerun on a warm machine reuses the files and the build already there)
if ls "$M"/*8b*f16*.gguf >/dev/null 2>&1; then echo 0 >"$M/make.rc"; else
  (timeout 240 python3 scripts/make_tiny_models.py "$M" --shape llama-3-8b >"$OUT/make.log" 2>&1
   echo $? >"$M/make.rc") &
fi
source .device/build-llama-cuda.sh >"$OUT/build.log" 2>&1 || { log "build failed"; tail -30 "$OUT/build.log"; exit 1; }
log "llama.cpp built"
wait
F16=$(ls "$M"/*8b*f16*.gguf 2>/dev/null | head -1)
log "F16 written rc=$(cat "$M/make.rc") file=$F16"
[ -n "$F16" ] || { tail -20 "$OUT/make.log"; exit 1; }
Q8=$M/llama-3-8b-q8_0.gguf
Q4=$M/llama-3-8b-q4_k_m.gguf
[ -f "$Q4" ] || timeout 120 "$LLAMA_BIN/llama-quantize" "$F16" "$Q4" Q4_K_M >"$OUT/quant.log" 2>&1; log "Q4_K_M rc=$?"
[ -f "$Q8" ] || timeout 90 "$LLAMA_BIN/llama-quantize" "$F16" "$Q8" Q8_0 >>"$OUT/quant.log" 2>&1; log "Q8_0 rc=$?"
ls -l "$M" >"$OUT/files.txt"

# 3. predicted (tuilab fit) against measured (NVML after a real load), ctx 4096 and 32768
LOADS=()
for f in "$F16" "$Q8" "$Q4"; do
  [ -f "$f" ] || continue
  q=$(basename "$f" .gguf)
  for ctx in 4096 32768; do
    tl fit "$f" --ctx "$ctx" --json >"$OUT/fit-$q-$ctx.json" 2>>"$OUT/fit.err"
    LOADS+=("$f:$ctx")
  done
done
timeout 150 python3 scripts/gpu_measure.py "${LOADS[@]}" >"$OUT/loads.jsonl" 2>"$OUT/loads.err"
log "loads rc=$?"

# 4. speed: llama-bench tg128 against `tuilab run` on the same files
timeout 90 "$LLAMA_BIN/llama-bench" -m "$F16" -m "$Q8" -m "$Q4" -p 512 -n 128 -ngl 99 -fa 1 -r 2 -o json \
  >"$OUT/bench.json" 2>"$OUT/bench.err"
log "llama-bench rc=$?"
for f in "$F16" "$Q8" "$Q4"; do
  q=$(basename "$f" .gguf)
  timeout 40 python3 -m tuilab run "$f" --ctx 4096 --max-tokens 128 --json \
    --prompt "Write a long story about a lighthouse keeper." >"$OUT/run-$q.txt" 2>"$OUT/run-$q.err"
  log "run $q rc=$?"
done

# 5. partial offload: the F16 model with the GPU capped at 12 GB, as on an RTX 3060
tl fit "$F16" --ctx 4096 --gpu-budget 12GB --json >"$OUT/fit-partial.json" 2>>"$OUT/fit.err"
N=$(python3 -c "import json;print(json.load(open('$OUT/fit-partial.json'))['gpu_layers'])" 2>/dev/null || echo 20)
log "partial: tuilab chose $N GPU layers"
timeout 45 python3 scripts/gpu_measure.py "$F16:4096:$N" >"$OUT/loads-partial.jsonl" 2>>"$OUT/loads.err"
timeout 60 "$LLAMA_BIN/llama-bench" -m "$F16" -p 0 -n 64 -ngl "$N" -fa 1 -r 1 -o json \
  >"$OUT/bench-partial.json" 2>>"$OUT/bench.err"
log "partial bench rc=$?"
# prompt at that offload: the host layers cross PCIe once per ubatch (op offload), so -ub matters
python3 scripts/predict_prompt.py "$F16" --gpu-budget 12GB --gpu-layers "$N" --prompts 512,4096 \
  --ubatches 512,2048 >"$OUT/pred-partial-pp.jsonl" 2>>"$OUT/fit.err"
timeout 60 "$LLAMA_BIN/llama-bench" -m "$F16" -p 512,4096 -n 0 -ub 512,2048 -ngl "$N" -fa 1 -r 1 -o json \
  >"$OUT/bench-partial-pp.json" 2>>"$OUT/bench.err"
log "partial prompt bench rc=$?"
timeout 60 python3 -m tuilab run "$F16" --ctx 4096 --gpu-layers "$N" --max-tokens 64 --json --force \
  --prompt "Write a long story about a lighthouse keeper." >"$OUT/run-partial.txt" 2>"$OUT/run-partial.err"
log "partial run rc=$?"
log "done"
# the device tool returns at most 8 files: pack them all
tar czf /tmp/gpu-results.tgz -C "$OUT" . && mv /tmp/gpu-results.tgz "$OUT/results.tgz"
[ -n "$RETURN_DIR" ] && cp "$OUT/results.tgz" "$OUT/steps.log" "$RETURN_DIR/"

#!/usr/bin/env bash
# A short second CUDA pass on a lent NVIDIA machine (follow-up to scripts/gpu_check.sh): `tuilab run`
# against llama-bench since the greedy argmax fast path, and partial offload with the host's RAM bandwidth
# measured (`tuilab hw --measure`) rather than assumed. Compiles nothing there: it unpacks the build
# scripts/build_llama_cuda_here.sh made (.device/llama-cuda-sm90.tar.xz). Steps go most-wanted first and
# are time-boxed. Results: $OUT/results.tgz + steps.log; `python scripts/gpu_report.py DIR --recheck`.
# .device/ also needs llama-src.tgz (../shared/device/prepare-llama-src.sh) and wheels/ with diskcache and
# tomli_w (`pip download --no-deps -d .device/wheels tomli_w`): the device image lacks tomli_w.
set -uo pipefail
RETURN_DIR=${OUT:-}
OUT=/tmp/gpu-out M=/tmp/models W=/tmp/llama
mkdir -p "$OUT" "$M" "$W/b/bin"
export PYTHONUNBUFFERED=1 TUILAB_HOME=/tmp/tuilab-home
T0=$(date +%s)
# After every step the results so far are packed into the device tool's $OUT (it returns at most 8
# files, and what is there when a time limit cuts the run short): nothing measured is lost to a timeout.
log() {
  echo "[$(($(date +%s) - T0))s] $*" | tee -a "$OUT/steps.log"
  [ -n "$RETURN_DIR" ] || return 0
  tar czf "$RETURN_DIR/.results.tgz" -C "$OUT" . && mv "$RETURN_DIR/.results.tgz" "$RETURN_DIR/results.tgz"
  cp "$OUT/steps.log" "$RETURN_DIR/"
}
finish() { log "done"; exit 0; }
tl() { python3 -m tuilab "$@"; }
PROMPT="Write a long story about a lighthouse keeper."

tar xJf .device/llama-cuda-sm90.tar.xz -C "$W/b/bin" && tar xzf .device/llama-src.tgz -C "$W" || { log "unpack failed"; finish; }
SRC=$(ls -d "$W"/llama_cpp_python-*/ | head -1)
python3 -m pip install -q --no-index --no-deps --target "$W/site" .device/wheels/*.whl 2>/dev/null
# CUDA's runtime and cuBLAS as this machine has them (the build linked them from elsewhere)
LIBDIRS=""
for lib in libcudart.so.13 libcublas.so.13; do
  p=$(ldconfig -p | awk -v l="$lib" '$1 == l {print $NF; exit}')
  [ -n "$p" ] || p=$(find /usr/local /opt /usr/lib -name "$lib" 2>/dev/null | head -1)
  [ -n "$p" ] && LIBDIRS="$LIBDIRS:$(dirname "$p")"
done
export LLAMA_BIN=$W/b/bin LLAMA_CPP_LIB_PATH=$W/b/bin
export LD_LIBRARY_PATH=$W/b/bin$LIBDIRS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PYTHONPATH=$PWD:$SRC:$SRC/vendor/llama.cpp/gguf-py:$W/site${PYTHONPATH:+:$PYTHONPATH}
nvidia-smi -q >"$OUT/nvidia-smi-q.txt" 2>&1
python3 -c "import llama_cpp; assert llama_cpp.llama_supports_gpu_offload()" >"$OUT/lib.err" 2>&1
log "llama.cpp CUDA loads rc=$? (libs from$LIBDIRS)"
[ -s "$OUT/lib.err" ] && tail -5 "$OUT/lib.err"  # go on: llama-bench's rows still come back

tl hw --measure --json >"$OUT/hw-measured.json" 2>"$OUT/hw.err"; log "hw --measure rc=$?"
tl hw --json >"$OUT/hw.json" 2>>"$OUT/hw.err"
timeout 100 python3 scripts/make_tiny_models.py "$M" --shape "${SHAPE:-llama-3-8b}" >"$OUT/make.log" 2>&1
rc=$?; F16=$(ls "$M"/*f16*.gguf 2>/dev/null | head -1)
log "F16 written rc=$rc file=$F16"
[ -n "$F16" ] || finish

# 1. F16: llama-bench tg128 against tuilab run (the overhead question)
timeout 45 "$LLAMA_BIN/llama-bench" -m "$F16" -p 0 -n 128 -ngl 99 -fa 1 -r 3 -o json >"$OUT/bench.json" 2>"$OUT/bench.err"
log "bench F16 rc=$?"
timeout 40 python3 -m tuilab run "$F16" --ctx 4096 --max-tokens 128 --json --prompt "$PROMPT" \
  >"$OUT/run-f16.txt" 2>"$OUT/run-f16.err"; log "run F16 rc=$?"

# 2. partial offload with the measured host bandwidth: F16 with the GPU capped at 12 GB
tl fit "$F16" --ctx 4096 --gpu-budget 12GB --json >"$OUT/fit-partial.json" 2>"$OUT/fit.err"
N=$(python3 -c "import json;print(json.load(open('$OUT/fit-partial.json'))['gpu_layers'])" 2>/dev/null || echo 20)
log "partial: $N GPU layers"
timeout 45 "$LLAMA_BIN/llama-bench" -m "$F16" -p 0 -n 64 -ngl "$N" -fa 1 -r 1 -o json \
  >"$OUT/bench-partial.json" 2>>"$OUT/bench.err"; log "bench partial rc=$?"
timeout 50 python3 -m tuilab run "$F16" --ctx 4096 --gpu-layers "$N" --max-tokens 64 --json --force \
  --prompt "$PROMPT" >"$OUT/run-partial.txt" 2>"$OUT/run-partial.err"; log "run partial rc=$?"
# 2b. prompt at that offload: the host layers cross PCIe once per ubatch (op offload), so -ub matters
python3 scripts/predict_prompt.py "$F16" --gpu-budget 12GB --gpu-layers "$N" --prompts 512,4096 \
  --ubatches 512,2048 >"$OUT/pred-partial-pp.jsonl" 2>>"$OUT/fit.err"
timeout 60 "$LLAMA_BIN/llama-bench" -m "$F16" -p 512,4096 -n 0 -ub 512,2048 -ngl "$N" -fa 1 -r 1 -o json \
  >"$OUT/bench-partial-pp.json" 2>>"$OUT/bench.err"; log "bench partial prompt rc=$?"

# 3. Q8_0, the shorter token time
Q8=${F16%f16.gguf}q8_0.gguf
timeout 60 "$LLAMA_BIN/llama-quantize" "$F16" "$Q8" Q8_0 >"$OUT/quant.log" 2>&1; log "Q8_0 rc=$?"
timeout 30 "$LLAMA_BIN/llama-bench" -m "$Q8" -p 0 -n 128 -ngl 99 -fa 1 -r 3 -o json >"$OUT/bench-q8.json" 2>>"$OUT/bench.err"
log "bench Q8_0 rc=$?"
timeout 30 python3 -m tuilab run "$Q8" --ctx 4096 --max-tokens 128 --json --prompt "$PROMPT" \
  >"$OUT/run-q8_0.txt" 2>"$OUT/run-q8_0.err"; log "run Q8_0 rc=$?"
finish

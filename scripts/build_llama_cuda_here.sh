#!/usr/bin/env bash
# Build llama.cpp with CUDA on this (GPU-less) machine and pack it for a lent GPU machine, so no device
# time goes to compiling (~260 s there, 40-60 min here on 2 cores). Needs nvcc here (CUDA 13.0, the
# device's version); cuBLAS comes from the nvidia-cublas wheel and libcuda from a symbol-less stub (the
# real driver resolves those symbols there).
# usage: bash scripts/build_llama_cuda_here.sh [ARCH] [WORK]   (defaults: 90 for H100/H200, /tmp/llama-pre)
# writes .device/llama-cuda-sm$ARCH.tar.xz: llama-bench, llama-quantize and the shared libraries.
set -euo pipefail
ARCH=${1:-90}; W=${2:-/tmp/llama-pre}; DEV=$PWD/.device
mkdir -p "$W"
[ -d "$W"/llama_cpp_python-* ] || tar xzf "$DEV/llama-src.tgz" -C "$W"
LC=$(ls -d "$W"/llama_cpp_python-*/)vendor/llama.cpp
CB=$W/cublas/nvidia/cu13
if [ ! -e "$CB/lib/libcublas.so" ]; then
  python3 -m pip download -q --no-deps -d "$W/cublas-whl" "nvidia-cublas>=13.0,<13.1"
  unzip -q -o "$W"/cublas-whl/nvidia_cublas-*.whl -d "$W/cublas"
  ln -sf libcublas.so.13 "$CB/lib/libcublas.so"; ln -sf libcublasLt.so.13 "$CB/lib/libcublasLt.so"
  echo "" >"$W/stub.c" && gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$CB/lib/libcuda.so" "$W/stub.c"
fi
if [ ! -x "$W/b/bin/llama-bench" ]; then
  cmake -S "$LC" -B "$W/b" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$ARCH" \
    -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=OFF -DBUILD_SHARED_LIBS=ON \
    -DCUDA_cublas_LIBRARY="$CB/lib/libcublas.so" -DCUDA_cublasLt_LIBRARY="$CB/lib/libcublasLt.so" \
    -DCUDA_cuda_driver_LIBRARY="$CB/lib/libcuda.so" -DCMAKE_CUDA_FLAGS="-I$CB/include" \
    -DCMAKE_CXX_FLAGS="-I$CB/include" -DCMAKE_EXE_LINKER_FLAGS="-Wl,--allow-shlib-undefined" \
    -DCMAKE_SHARED_LINKER_FLAGS="-Wl,--no-as-needed" >"$W/cfg.log"  # keep libcuda.so.1 NEEDED: the stub
    # defines nothing, so --as-needed would drop it and cuMemCreate & co. would not resolve there
  cmake --build "$W/b" -j"$(nproc)" --target llama llama-bench llama-quantize >"$W/build.log"
fi
readelf -d "$W"/b/bin/libggml-cuda.so.* | grep -q 'libcuda.so.1' || { echo "libggml-cuda lacks libcuda.so.1"; exit 1; }
cd "$W/b/bin"
strip --strip-unneeded ./*.so* llama-bench llama-quantize 2>/dev/null || true
tar cJf "$DEV/llama-cuda-sm$ARCH.tar.xz" ./*.so* llama-bench llama-quantize
ls -l "$DEV/llama-cuda-sm$ARCH.tar.xz"

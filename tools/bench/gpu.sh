#!/usr/bin/env bash
# The GPU measurement of issue 24, prepared for a machine with a GPU and no network (build
# first: `npm ci && npm run build` on a machine that has the same OS). Reports what graphics
# stack the machine exposes, then steps/s of W1, W2 and G (T 100, batch 256, 4 layers of
# 1024) for LSTM, STAR and NRU on webgpu (LSTM with and without its WGSL kernel) against the
# CPU path (wasm, fused kernels) on the same machine. JSON lines on stdout; usage:
#   tools/bench/gpu.sh [steps=5] [warmup=2] > gpu-bench.jsonl
set -uo pipefail
cd "$(dirname "$0")/../.."
steps=${1:-5}
warmup=${2:-2}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
{
  echo "== machine: $(uname -srm), $(nproc) cores"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  echo "== Vulkan ICDs: $(ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>/dev/null | tr '\n' ' ')"
  command -v vulkaninfo >/dev/null && vulkaninfo --summary 2>&1 | grep -E 'deviceName|driverName|apiVersion' || echo "(no vulkaninfo)"
  node --input-type=module -e "
    import { create, globals } from 'webgpu';
    Object.assign(globalThis, globals);
    const a = await create([]).requestAdapter({ powerPreference: 'high-performance' });
    console.log(a ? '== WebGPU adapter: ' + JSON.stringify(a.info) : '== WebGPU: no adapter (no usable Vulkan driver?)');"
} >&2
bench() { npx tsx --conditions=@cellstack/source tools/bench/bench.ts --steps "$steps" --warmup "$warmup" "$@" || echo "{\"failed\": \"$*\"}"; }
for w in W1 W2 G; do
  for cell in LSTM STAR NRU; do
    bench --workload "$w" --cell "$cell" --backend webgpu
    [ "$cell" = LSTM ] && CELLSTACK_FUSED=0 bench --workload "$w" --cell "$cell" --backend webgpu
    bench --workload "$w" --cell "$cell" --backend wasm
  done
done

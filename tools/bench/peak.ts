import { createRequire } from 'node:module';

/**
 * The native addon's single-thread matmul rate here: the best of several timings of W1's
 * recurrent product ([32, 128]·[128, 512]) and of a larger one ([256, 256]·[256, 512]), GFLOP/s,
 * and the better of the two (`best`, what the GFLOP/s column is a percentage of). The operands lie
 * in a wasm memory, as the kernels' do: page-aligned, so every operand starts on a cache line (a
 * Float32Array's own buffer starts 16 bytes off one here, which cost the products ~15 %). The addon's
 * thread count is `threads` afterwards.
 */
export function addonPeak(threads = 1): { w1: number; large: number; best: number } | undefined {
  const addon = createRequire(import.meta.url)('@cellstack/native') as typeof import('@cellstack/native');
  if (!addon.matmul || !addon.setThreads) return undefined;
  addon.setThreads(1);
  const rate = (M: number, N: number, K: number) => {
    const floats = M * K + K * N + M * N;
    const { Memory } = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number }) => { buffer: ArrayBuffer } } }).WebAssembly;
    const memory = new Memory({ initial: Math.ceil((4 * floats) / 65536) }).buffer;
    new Float32Array(memory, 0, floats).fill(0.5);
    let best = 0;
    for (let rep = 0; rep < 7; rep++) {
      const n = Math.ceil(2e8 / (M * N * K));
      const t0 = performance.now();
      for (let i = 0; i < n; i++) addon.matmul!(memory, M, N, K, 0, K, 1, 4 * M * K, N, 4 * (M * K + K * N), N, 0);
      best = Math.max(best, (2 * M * N * K * n) / ((performance.now() - t0) / 1000) / 1e9);
    }
    return +best.toFixed(1);
  };
  const w1 = rate(32, 512, 128), large = rate(256, 512, 256);
  addon.setThreads(threads);
  return { w1, large, best: Math.max(w1, large) };
}

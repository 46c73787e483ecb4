/*
 * A running count of the multiply-adds done by the products cellstack routes itself: the
 * native addon's (fused kernels' products at or above the native threshold) and the wasm
 * backend's replacement matmul. tools/bench divides it by time for achieved GFLOP/s.
 */
let macs = 0;

export function countProduct(multiplyAdds: number): void {
  macs += multiplyAdds;
}

/** Multiply-adds counted since the process started (2 FLOPs each). */
export function productMultiplyAdds(): number {
  return macs;
}

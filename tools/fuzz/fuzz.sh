#!/bin/sh
# The big run of the .rnn fuzzer (packages/dsl/test/fuzz.test.ts; CI runs 300 inputs of one seed):
#   tools/fuzz/fuzz.sh [inputs per seed, default 5000] [first seed, default 1] [seeds, default 4]
# A failure names the input's number, kind and seed; replay it with the same two variables.
set -e
inputs=${1:-5000}
first=${2:-1}
seeds=${3:-4}
cd "$(dirname "$0")/../.."
seed=$first
while [ "$seed" -lt $((first + seeds)) ]; do
  echo "seed $seed: $inputs inputs"
  CELLSTACK_FUZZ_INPUTS=$inputs CELLSTACK_FUZZ_SEED=$seed npx vitest run --project dsl packages/dsl/test/fuzz.test.ts
  seed=$((seed + 1))
done

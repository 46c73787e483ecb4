import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '@cellstack/cli';
import { readLines, spec, tmp } from './helpers.js';

const specOf = (cell: string, optimizer: string) => `input [null, 10]
${cell} -> dense(9, activation: softmax)
train {
  task: copy(lag: 2, symbols: 2)
  optimizer: ${optimizer}(lr: 0.02)
  batch: 4
  seed: 5
}
`;

/** The final model's weights file: its name carries a hash of the bytes, the bytes are compared too. */
const weights = (run: string) => {
  const name = readdirSync(join(run, 'model')).find((f) => f.startsWith('weights-'))!;
  return { name, bytes: readFileSync(join(run, 'model', name)) };
};

const common = ['--checkpoint-every', '3', '--val-size', '4', '--progress', 'none'];

/** Straight to 7 steps vs. stopped at 5 (checkpoint at 3 and 5) and resumed, vs. stopped at 4 (checkpoint at 3) and resumed. */
async function expectExact(cell: string, optimizer: string) {
  const dir = tmp();
  const file = spec(dir, 'm.rnn', specOf(cell, optimizer));
  const straight = join(dir, 'straight');
  expect(await main(['train', file, '--out', straight, '--steps', '7', ...common])).toBe(0);
  for (const stopAt of [4, 5]) {
    const run = join(dir, `stop-${stopAt}`);
    expect(await main(['train', file, '--out', run, '--steps', String(stopAt), ...common])).toBe(0);
    expect(await main(['train', '--resume', run, '--steps', '7', ...common])).toBe(0);
    const untimed = (file: string) => readLines(file).map((l) => ({ ...l, time: 0 }));
    expect(untimed(join(run, 'metrics.jsonl'))).toEqual(untimed(join(straight, 'metrics.jsonl')));
    expect(weights(run).name).toBe(weights(straight).name);
    expect(weights(run).bytes.equals(weights(straight).bytes)).toBe(true);
  }
}

describe('cellstack train --resume is bit-exact', () => {
  beforeEach(() => {
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });
  afterEach(() => vi.restoreAllMocks());

  // Every first-party cell (random streams on: RRU dropout, UR zoneout), with Adam.
  for (const cell of ['NRU(4)', 'URLSTM(4, zc: 0.5, zh: 0.05)', 'URGRU(4, zh: 0.1)', 'STAR(4) x2', 'RRU(4, dropout: 0.5)', 'RRU(4, dropout: 0.3, dropoutMask: sequence)', 'DMU(4)', 'LSTM(4)', 'GRU(4)']) {
    it(`${cell} with adam`, async () => expectExact(cell, 'adam'), 60000);
  }
  // Every optimiser (their slots and accumulated powers), on a cell with a random stream.
  for (const optimizer of ['sgd', 'rmsprop', 'momentum']) {
    it(`RRU with ${optimizer}`, async () => expectExact('RRU(4, dropout: 0.5)', optimizer), 60000);
  }
});

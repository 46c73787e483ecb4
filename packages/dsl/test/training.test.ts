import { describe, expect, it } from 'vitest';
import { compileToIR, DslError, parse, check } from '@cellstack/dsl';
import { toyRuntime, where } from './helpers.js';

const rt = toyRuntime();
const MODEL = 'input [100, 10]\nLSTM(8) -> dense(10)\n';

describe('the train block', () => {
  it('compiles to a TrainingSpec and seeds the model', async () => {
    const source = `${MODEL}train {
  task: copy(lag: 100, symbols: 8, name: "x", noisy: false, weights: [1, 2])
  optimizer: adam(lr: 1e-3)
  batch: 10
  steps: 2000
  clip: 1.0
  seed: 1
}
`;
    const { ir, training } = await compileToIR(source, { runtime: rt });
    expect(training).toEqual({
      task: { name: 'copy', options: { lag: 100, symbols: 8, name: 'x', noisy: false, weights: [1, 2] } },
      optimizer: { name: 'adam', learningRate: 0.001 },
      batch: 10,
      steps: 2000,
      clipNorm: 1,
      seed: 1,
    });
    expect(ir.seed).toBe(1);
  });

  it('accepts commas, one line, bare names, a positional or long-named lr, and epochs', async () => {
    const { training } = await compileToIR(`${MODEL}train { task: adding, optimizer: sgd(0.5), batch: 4, epochs: 3 }`, { runtime: rt });
    expect(training).toEqual({ task: { name: 'adding', options: {} }, optimizer: { name: 'sgd', learningRate: 0.5 }, batch: 4, epochs: 3 });
    const long = await compileToIR(`${MODEL}train { optimizer: rmsprop(learningRate: 2e-4) }`, { runtime: rt });
    expect(long.training?.optimizer).toEqual({ name: 'rmsprop', learningRate: 2e-4 });
  });

  it('without a train block there is no spec and no seed', async () => {
    const r = await compileToIR(MODEL, { runtime: rt });
    expect(r.training).toBeUndefined();
    expect(r.ir.seed).toBeUndefined();
  });

  it("checks the block's own keys and value types, each at its line:column", () => {
    const source = `${MODEL}train {
  task: 3
  optimizer: adamw(lr: 0, beta: 1)
  batch: 2.5
  stepz: 10
  steps: 5
  epochs: 2
  clip: -1
  seed: -3
  batch: 4
  task: copy(100)
}`;
    const { ast, diagnostics } = parse(source, { file: 't.rnn' });
    expect(diagnostics).toEqual([]);
    const ds = check(ast!, { runtime: rt, file: 't.rnn' });
    expect(where(ds)).toEqual([
      '4:9 bad-train-value', // task: 3
      '5:14 bad-train-value', // adamw
      '5:24 bad-train-value', // lr: 0
      '5:27 bad-train-value', // beta
      '6:10 bad-train-value', // batch 2.5
      '7:3 unknown-train-key',
      '9:3 conflicting-train-keys',
      '10:9 bad-train-value', // clip
      '11:9 bad-train-value', // seed
      '12:3 duplicate-train-key',
      '13:3 duplicate-train-key',
    ]);
    const msg = (code: string, i = 0) => ds.filter((d) => d.code === code)[i];
    expect(msg('bad-train-value').message).toBe("train 'task' must be a task, e.g. copy(lag: 100) (got 3)");
    expect(msg('bad-train-value', 1)).toMatchObject({ message: "unknown optimiser 'adamw'; allowed: adam, sgd, rmsprop, momentum", hint: 'did you mean adam?' });
    expect(msg('bad-train-value', 2).message).toBe('lr must be a number > 0 (got 0)');
    expect(msg('bad-train-value', 3).message).toBe("unknown optimiser option 'beta'; allowed: lr");
    expect(msg('bad-train-value', 4).message).toBe("train 'batch' must be a whole number >= 1 (got 2.5)");
    expect(msg('unknown-train-key')).toMatchObject({ message: "unknown train key 'stepz'; allowed: task, optimizer, batch, steps, epochs, clip, seed", hint: "did you mean 'steps'?" });
    expect(msg('conflicting-train-keys').message).toBe("give 'steps' or 'epochs', not both");
  });

  it('task options must be named; their values are left to the CLI', async () => {
    const err = (await compileToIR(`${MODEL}train { task: copy(100) }`, { runtime: rt }).catch((e) => e)) as DslError;
    expect(where(err.diagnostics)).toEqual(['3:20 bad-train-value']);
    expect(err.diagnostics[0].message).toBe('task options are named, e.g. copy(lag: 100)');
    const ok = await compileToIR(`${MODEL}train { task: whatever(anything: "goes") }`, { runtime: rt });
    expect(ok.training?.task).toEqual({ name: 'whatever', options: { anything: 'goes' } });
  });
});

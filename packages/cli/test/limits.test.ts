import { describe, expect, it } from 'vitest';
import { copyTask } from '@cellstack/tasks';
import { CliError } from '../src/errors.js';
import { cliRuntime } from '../src/runtime.js';
import { checkHeap, compileSpec, WASM_HEAP_BYTES } from '../src/spec.js';
import { makeTask, parseTaskFlag } from '../src/task-ref.js';
import { cli, spec, tmp, TINY } from './helpers.js';

describe('limits before training', () => {
  it('refuses activations past the wasm heap (sequence × batch × widths), saying the figures', async () => {
    const { runtime } = await cliRuntime('cpu');
    const dir = tmp();
    const compiled = await compileSpec(spec(dir, 'm.rnn', TINY), { runtime, task: { name: 'copy', options: { lag: 1000, symbols: 2 } } });
    const model = compiled.model!;
    const T = compiled.task!.inputShape[0]!;
    // LSTM(4) -> dense(9): widths 10 (input) + 4 + 9 = 23; 32 bytes per activation (gates, states, gradients).
    const fits = Math.floor(WASM_HEAP_BYTES / (T * 23 * 32));
    expect(() => checkHeap(model, compiled.task!, fits, 'm.rnn: ')).not.toThrow();
    const e = (() => {
      try {
        checkHeap(model, compiled.task!, fits + 1, 'm.rnn: ');
      } catch (err) {
        return err as CliError;
      }
    })();
    expect(e).toBeInstanceOf(CliError);
    expect(e!.message).toMatch(new RegExp(`^m\\.rnn: error: training needs about 4\\.0 GiB of activations \\(sequence ${T} × batch ${fits + 1} × layer widths 23\\), over the 4\\.0 GiB wasm heap; the largest batch that fits is ${fits}$`));
    // A task of any length (null timesteps) is not bounded here.
    expect(() => checkHeap(model, { ...copyTask({ lag: 5 }), inputShape: [null, 10] }, 1e9, '')).not.toThrow();
    model.dispose();
  });

  it('--max-params sets the budget: check refuses past it with the count, and passes under it', async () => {
    const dir = tmp();
    const file = spec(dir, 'm.rnn', TINY);
    const over = await cli(['check', file, '--max-params', '100']);
    expect(over.code).toBe(1);
    // LSTM(4) on 10 inputs: 4·4·(10 + 4 + 1) = 240 parameters.
    expect(over.stderr).toContain(`${file}:2:1: error: the model reaches 240 parameters here, over the budget of 100`);
    const under = await cli(['check', file, '--max-params', '1000']);
    expect(under.stdout).toContain('ok');
    expect(under.code).toBe(0);
  });

  it("reads a task option named '__proto__' as an option, which the task then rejects", () => {
    const ref = parseTaskFlag('copy(__proto__: 3, lag: 4)');
    expect(Object.keys(ref.options)).toEqual(['__proto__', 'lag']);
    expect(Object.getPrototypeOf(ref.options)).toBe(Object.prototype);
    expect(() => makeTask(ref)).toThrow(/unknown option '__proto__'/);
  });
});

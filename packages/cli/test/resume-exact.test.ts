import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { main } from '@cellstack/cli';
import { readLines, spec, tmp, TINY } from './helpers.js';

describe('cellstack train --resume', () => {
  it('continues exactly where an uninterrupted run would be (model and optimiser state restored)', async () => {
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const dir = tmp();
    const file = spec(dir, 'tiny.rnn', TINY);
    const straight = join(dir, 'straight');
    const resumed = join(dir, 'resumed');
    const common = ['--checkpoint-every', '4', '--val-size', '4', '--progress', 'none'];
    expect(await main(['train', file, '--out', straight, '--steps', '8', ...common])).toBe(0);
    // Stop after 6 steps (checkpoint at 4), then resume to 8: steps 5..8 are replayed from the checkpoint.
    expect(await main(['train', file, '--out', resumed, '--steps', '6', ...common])).toBe(0);
    expect(await main(['train', '--resume', resumed, '--steps', '8', ...common])).toBe(0);
    vi.restoreAllMocks();
    const a = readLines(join(straight, 'metrics.jsonl')).map((l) => l.loss);
    const b = readLines(join(resumed, 'metrics.jsonl')).map((l) => l.loss);
    expect(b).toHaveLength(8);
    expect(b).toEqual(a);
  });
});

import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { configure, settings, type Settings } from '@cellstack/core';
import { settingsFromEnv } from '../src/settings.js';

describe('settings', () => {
  const initial: Settings = { ...settings() };
  afterEach(() => configure(initial));

  it('defaults: everything on, threshold 16384, one thread per available core', () => {
    expect(settingsFromEnv({})).toEqual({ fused: true, native: true, nativeMinProduct: 16384, threads: availableParallelism(), accel: true, rowBlocks: true, directSteps: true });
  });

  it('reads every variable', () => {
    const env = { CELLSTACK_FUSED: '0', CELLSTACK_NATIVE: '0', CELLSTACK_NATIVE_MIN: '99', CELLSTACK_THREADS: '3', CELLSTACK_ACCEL: '0', CELLSTACK_ROW_BLOCKS: '0', CELLSTACK_DIRECT_STEPS: '0' };
    expect(settingsFromEnv(env)).toEqual({ fused: false, native: false, nativeMinProduct: 99, threads: 3, accel: false, rowBlocks: false, directSteps: false });
    expect(settingsFromEnv({ CELLSTACK_NATIVE: 'all', CELLSTACK_NATIVE_MIN: '99' }).nativeMinProduct).toBe(1);
  });

  it.each([
    ['CELLSTACK_FUSED', 'yes', /CELLSTACK_FUSED: is 'yes' \(use 1 \(on\) or 0 \(off\)\)/],
    ['CELLSTACK_ACCEL', 'off', /CELLSTACK_ACCEL: is 'off'/],
    ['CELLSTACK_ROW_BLOCKS', 'on', /CELLSTACK_ROW_BLOCKS: is 'on'/],
    ['CELLSTACK_DIRECT_STEPS', 'no', /CELLSTACK_DIRECT_STEPS: is 'no'/],
    ['CELLSTACK_NATIVE', 'fast', /CELLSTACK_NATIVE: is 'fast'.*use 1 .* 0 .* 'all'/],
    ['CELLSTACK_THREADS', '0', /CELLSTACK_THREADS: is '0' \(use a positive integer \(threads/],
    ['CELLSTACK_THREADS', '2.5', /CELLSTACK_THREADS: is '2.5'/],
    ['CELLSTACK_THREADS', '99999999999999999999', /CELLSTACK_THREADS: is '9+'/],
    ['CELLSTACK_NATIVE_MIN', '-1', /CELLSTACK_NATIVE_MIN: is '-1' \(use a positive integer \(multiply-adds/],
  ])('%s=%s is a one-line error naming the variable and what is allowed', (name, value, message) => {
    expect(() => settingsFromEnv({ [name]: value })).toThrow(message);
  });

  it('configure changes named settings only and rejects bad values, naming the option', () => {
    const next = configure({ threads: 1, fused: false });
    expect(next).toEqual({ ...initial, threads: 1, fused: false });
    expect(settings()).toEqual(next);
    expect(() => configure({ threads: 0 })).toThrow(/configure\.threads: is 0 \(a positive integer\)/);
    expect(() => configure({ accel: 'no' as never })).toThrow(/configure\.accel: is "no" \(true or false\)/);
    expect(() => configure({ thread: 2 } as never)).toThrow(/configure\.thread: is not a setting/);
    expect(settings()).toEqual(next);
  });

  it("importing '@cellstack/core' never throws on a bad environment value; the first use does", () => {
    const script = [
      "const core = await import('@cellstack/core');",
      "console.log('imported');",
      'try { core.nativeKernels(); } catch (e) { console.log(e.message); }',
    ].join('\n');
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--conditions=@cellstack/source', '-e', script], {
      env: { ...process.env, CELLSTACK_THREADS: 'many', CELLSTACK_FUSED: 'maybe' },
      encoding: 'utf8',
    });
    expect(out).toMatch(/^imported\nCELLSTACK_FUSED: is 'maybe'/);
  });
});

import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { CellstackError, LSTM, createRuntime, defineCell, init, layerClassOf, runtimeOf, selectBackend, type OptionsSchema } from '@cellstack/core';

const toy = (name: string, description = 'toy') =>
  defineCell<{ units: number }>({
    name,
    description,
    schema: { type: 'object', properties: { units: { type: 'integer', minimum: 1, default: 2 } }, additionalProperties: false },
    create: ({ units }) => ({
      state: { h: units },
      outputSize: units,
      params: { b: { shape: [units], init: init.zeros } },
      step: (_inputs, { h }, p) => ({ output: tf.add(h, p.b) as tf.Tensor2D, state: { h } }),
    }),
  });

describe('runtime', () => {
  it('reports the backend it chose', async () => {
    const rt = await createRuntime({ backend: 'cpu' });
    expect(rt.backend.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    const auto = await createRuntime();
    // No tfjs-node binding in CI: auto takes a hardware WebGPU adapter where there is one
    // (never CI's software lavapipe), else the embedded default, saying why.
    if (auto.backend.adapter) {
      expect(auto.backend.name).toBe('webgpu');
      expect(auto.backend.adapter.fallback).toBe(false);
    } else {
      expect(auto.backend.name).toBe(process.env.CELLSTACK_BACKEND ?? 'wasm');
      expect(auto.backend.reason).toMatch(/embedded default \(wasm; no tfjs-node binding installed; WebGPU: .+\)|CELLSTACK_BACKEND/);
    }
    await expect(selectBackend('gpu' as never)).rejects.toThrow(`backend: must be one of 'auto' | 'tensorflow' | 'webgpu' | 'wasm' | 'cpu' (got "gpu")`);
    await expect(selectBackend('tensorflow')).rejects.toThrow(/needs @tensorflow\/tfjs-node-gpu or @tensorflow\/tfjs-node/);
    await selectBackend((process.env.CELLSTACK_TEST_BACKEND as 'wasm') ?? 'wasm');
  });

  it('lists the baseline cells with schemas and defaults', () => {
    const rt = runtimeOf({ name: 'test', reason: 'test' });
    const cells = rt.cells();
    expect(cells.map((c) => c.name)).toEqual(['LSTM', 'GRU', 'SimpleRNN', 'JANET']);
    expect(cells[0].defaults).toEqual({ units: 128, forgetBias: 1, chrono: false, tmax: null });
    expect(cells[0].positional).toEqual(['units']);
    expect(runtimeOf({ name: 'test', reason: 'test' }, { baselines: false }).cells()).toEqual([]);
  });

  it('rejects a second plugin with a taken name, naming both', () => {
    const rt = runtimeOf({ name: 'test', reason: 'test' });
    rt.use(toy('Dup', 'first toy'));
    expect(() => rt.use(toy('Dup', 'second toy'))).toThrow("a cell named 'Dup' is already registered (first toy); cannot also register 'Dup' (second toy)");
    expect(() => rt.use({ name: 'x' } as never)).toThrow(/not a cell plugin/);
    expect(() => rt.use(LSTM)).not.toThrow(); // the same plugin again is a no-op
  });

  it('registers layer classes idempotently (two copies of a plugin do not crash)', () => {
    const a = toy('Twice');
    const b = toy('Twice');
    const map = tf.serialization.SerializationMap.getMap() as unknown as { classNameMap: Record<string, [unknown]> };
    expect(map.classNameMap['cellstack.Twice'][0]).toBe(layerClassOf(a));
    expect(layerClassOf(b)).not.toBe(layerClassOf(a));
  });

  it('validates plugin definitions', () => {
    expect(() => toy('1bad')).toThrow("name: must be a letter followed by letters, digits, '_' or '-' (got \"1bad\")");
    expect(() =>
      defineCell({ name: 'NoSchema', description: '', schema: { type: 'object', properties: {} } as never, create: () => ({}) as never }),
    ).toThrow("cell NoSchema.schema: must be an object schema with 'properties' and additionalProperties: false");
    expect(() =>
      defineCell({
        name: 'BadDefault',
        description: '',
        schema: { type: 'object', properties: { units: { type: 'integer', minimum: 1, default: 0 } }, additionalProperties: false },
        create: () => ({}) as never,
      }),
    ).toThrow(CellstackError);
    // A required option (no default) is fine; a bad default beside it is still found (the required one, a longer path, comes first).
    const requiredAndBad: OptionsSchema = {
      type: 'object',
      properties: { hiddenSize: { type: 'integer' }, units: { type: 'integer', minimum: 1, default: 0 } },
      required: ['hiddenSize'],
      additionalProperties: false,
    };
    expect(() => defineCell({ name: 'RequiredAndBad', description: '', schema: requiredAndBad, create: () => ({}) as never })).toThrow(
      'cell RequiredAndBad.schema defaults.units: must be an integer >= 1 (got 0)',
    );
    expect(() => defineCell({ name: 'RequiredOnly', description: '', schema: { ...requiredAndBad, properties: { hiddenSize: { type: 'integer' } } }, create: () => ({}) as never })).not.toThrow();
    expect(() =>
      defineCell({
        name: 'BadPositional',
        description: '',
        positional: ['size'],
        schema: { type: 'object', properties: {}, additionalProperties: false },
        create: () => ({}) as never,
      }),
    ).toThrow("cell BadPositional.positional: 'size' is not an option in the schema");
  });
});

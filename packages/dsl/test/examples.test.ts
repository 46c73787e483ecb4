import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LSTM } from '@cellstack/core';
import { compile, compileToIR, parse } from '@cellstack/dsl';
import { tanhParams } from './fixtures/cells.js';
import { fixtureProject, toyRuntime } from './helpers.js';

const cellLayers = (model: { layers: { getClassName(): string }[] }, cls: string) => model.layers.filter((l) => l.getClassName() === cls).length;
const lstmParams = (inputSize: number, units: number) => 4 * (inputSize * units + units * units + units);

describe("the issue's examples", () => {
  it('STAR x16 -> dense: 16 stacked STAR layers, dense keeps the input width', async () => {
    const rt = toyRuntime();
    const { ir, model, diagnostics } = await compile('STAR x16 -> dense', { runtime: rt, input: [20, 3] });
    expect(diagnostics).toEqual([]);
    expect(ir).toEqual({ input: { shape: [20, 3] }, layers: [{ cell: 'STAR', repeat: 16 }, { type: 'dense', units: 3 }] });
    expect(cellLayers(model, 'cellstack.STAR')).toBe(16);
    expect(model.layers).toHaveLength(1 + 16 + 1); // input, 16 cells, dense
    expect(model.outputs[0].shape).toEqual([null, 20, 3]);
    // toy STAR default units: 16
    expect(model.countParams()).toBe(tanhParams(3, 16) + 15 * tanhParams(16, 16) + (16 * 3 + 3));
  });

  it('STAR(64) x16 -> last -> dense(10, activation: softmax)', async () => {
    const { ir, model } = await compile('STAR(64) x16 -> last -> dense(10, activation: softmax)', { runtime: toyRuntime(), input: [null, 2] });
    expect(ir.layers).toEqual([{ cell: 'STAR', options: { units: 64 }, repeat: 16 }, { type: 'last' }, { type: 'dense', units: 10, activation: 'softmax' }]);
    expect(cellLayers(model, 'cellstack.STAR')).toBe(16);
    expect(model.layers).toHaveLength(1 + 16 + 1); // `last` folds into the final cell
    expect(model.outputs[0].shape).toEqual([null, 10]);
    expect(model.countParams()).toBe(tanhParams(2, 64) + 15 * tanhParams(64, 64) + 64 * 10 + 10);
  });

  it('LSTM(128) x2 -> dropout(0.2) -> dense(10)', async () => {
    const { ir, model } = await compile('LSTM(128) x2 -> dropout(0.2) -> dense(10)', { runtime: toyRuntime(), input: [5, 4] });
    expect(ir.layers).toEqual([{ cell: 'LSTM', options: { units: 128 }, repeat: 2 }, { type: 'dropout', rate: 0.2 }, { type: 'dense', units: 10 }]);
    expect(cellLayers(model, LSTM.className)).toBe(2);
    expect(model.layers.map((l) => l.getClassName())).toEqual(['InputLayer', 'cellstack.LSTM', 'cellstack.LSTM', 'Dropout', 'Dense']);
    expect(model.countParams()).toBe(lstmParams(4, 128) + lstmParams(128, 128) + 128 * 10 + 10);
  });

  it('RRU(units: 128, outputSize: 64) -> STAR(64) x4 -> mean -> dense(5)', async () => {
    const { ir, model } = await compile('RRU(units: 128, outputSize: 64) -> STAR(64) x4 -> mean -> dense(5)', { runtime: toyRuntime(), input: [7, 3] });
    expect(ir.layers).toEqual([
      { cell: 'RRU', options: { units: 128, outputSize: 64 } },
      { cell: 'STAR', options: { units: 64 }, repeat: 4 },
      { type: 'mean' },
      { type: 'dense', units: 5 },
    ]);
    expect(model.layers.map((l) => l.getClassName())).toEqual([
      'InputLayer', 'cellstack.RRU', 'cellstack.STAR', 'cellstack.STAR', 'cellstack.STAR', 'cellstack.STAR', 'cellstack.MeanSteps', 'Dense',
    ]);
    expect(model.countParams()).toBe(tanhParams(3, 128, 64) + 4 * tanhParams(64, 64) + 64 * 5 + 5);
  });

  describe('a file with comments, use, input and a multi-line pipeline', () => {
    const source = [
      "# permuted pixel MNIST, the NRU paper's configuration",
      'use "@cellstack/cell-nru"',
      'input [784, 1]',
      'NRU(hidden: 212, memory: 256, heads: 4)',
      '  -> last',
      '  -> dense(10, activation: softmax)',
      '',
    ].join('\n');
    let project: Awaited<ReturnType<typeof fixtureProject>>;
    beforeAll(async () => {
      project = await fixtureProject({ '@cellstack/cell-nru': 'toy-cell-nru' }, { 'cellstack.config.json': '{"plugins": ["@cellstack/cell-nru"]}' });
    });
    afterAll(() => project.cleanup());

    it('parses into uses, input and a three-stage pipeline with positions', () => {
      const { ast, diagnostics } = parse(source, { file: 'mnist.rnn' });
      expect(diagnostics).toEqual([]);
      expect(ast!.uses.map((u) => [u.package, u.span.line, u.span.column])).toEqual([['@cellstack/cell-nru', 2, 1]]);
      expect(ast!.input).toMatchObject({ timesteps: 784, features: 1, span: { line: 3, column: 1 } });
      expect(ast!.pipeline.map((s) => [s.name, s.nameSpan.line, s.nameSpan.column])).toEqual([['NRU', 4, 1], ['last', 5, 6], ['dense', 6, 6]]);
      expect(ast!.comments[0]).toMatchObject({ text: " permuted pixel MNIST, the NRU paper's configuration", span: { line: 1, column: 1 } });
    });

    it('loads the allowed package through `use`, then builds the model', async () => {
      const rt = toyRuntime();
      const file = `${project.dir}/mnist.rnn`;
      // The user's project (here the fixture folder) allows the package in its cellstack.config.json.
      const { ir, diagnostics } = await compileToIR(source, { runtime: rt, file, project: project.dir });
      expect(diagnostics).toEqual([]);
      expect(rt.has('NRU')).toBe(true);
      expect(ir).toEqual({
        input: { shape: [784, 1] },
        layers: [{ cell: 'NRU', options: { hidden: 212, memory: 256, heads: 4 } }, { type: 'last' }, { type: 'dense', units: 10, activation: 'softmax' }],
      });
      const { model } = await compile(source, { runtime: rt, file, project: project.dir });
      expect(model.layers.map((l) => l.getClassName())).toEqual(['InputLayer', 'cellstack.NRU', 'Dense']);
      expect(model.outputs[0].shape).toEqual([null, 10]);
      expect(model.countParams()).toBe((1 + 256) * 212 + 212 * 212 + 212 + 212 * 10 + 10);
    });
  });

  it('more constructs: UR-LSTM names, embedding, layerNorm, arrays, enums, null, negative and 1e-3 numbers', async () => {
    const rt = toyRuntime();
    const src = 'embedding(50, 8) -> UR-LSTM(12)->STAR(units: 6, init: uniform, decays: [0.5, 1e-3]) -> layerNorm(epsilon: 1e-5) -> JANET(4, tmax: null, beta: -0.5) -> last -> dense(3, useBias: false)';
    const { ir, model } = await compile(src, { runtime: rt, input: [9, 1] });
    expect(ir.layers).toEqual([
      { type: 'embedding', vocab: 50, dim: 8 },
      { cell: 'UR-LSTM', options: { units: 12 } },
      { cell: 'STAR', options: { units: 6, init: 'uniform', decays: [0.5, 0.001] } },
      { type: 'layerNorm', epsilon: 1e-5 },
      { cell: 'JANET', options: { units: 4, tmax: null, beta: -0.5 } },
      { type: 'last' },
      { type: 'dense', units: 3, useBias: false },
    ]);
    expect(model.outputs[0].shape).toEqual([null, 3]);
    const janet = 2 * (6 * 4 + 4 * 4 + 4);
    expect(model.countParams()).toBe(50 * 8 + tanhParams(8, 12) + tanhParams(12, 6) + 2 * 6 + janet + 4 * 3);
  });

  it('input in the file: null timesteps, int32 dtype, and the train seed seeds the model', async () => {
    const { ir } = await compileToIR('input int32 [null, 1]\nembedding(10, 4) -> GRU(3) -> mean -> dense(2)\ntrain { seed: 7 }', { runtime: toyRuntime() });
    expect(ir.input).toEqual({ shape: [null, 1], dtype: 'int32' });
    expect(ir.seed).toBe(7);
  });
});

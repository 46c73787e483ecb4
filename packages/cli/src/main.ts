import { BACKENDS, LIMITS, OPTIMIZERS, type BackendChoice } from '@cellstack/core';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { compare } from './compare.js';
import { EXIT, reportError } from './errors.js';
import { gradflow } from './gradflow.js';
import { probeCommand } from './probe.js';
import { reproduce } from './reproduce.js';
import { sweepCommands } from './sweep-command.js';
import { check, cells, fmt, listTasks, summary } from './tools.js';
import { trainCommand } from './train-thread.js';
import { train } from './train.js';
import { CLI_VERSION } from './version.js';

export const int = (min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`must be a whole number >= ${min}`);
  return n;
};
export const positive = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a number > 0');
  return n;
};
export const collect = (v: string, all: string[] = []) => [...all, v];
export const backendOption = () => new Option('--backend <name>', 'tfjs backend: auto picks tfjs-node-gpu, a hardware WebGPU adapter, tfjs-node, else the embedded wasm (env CELLSTACK_BACKEND)').choices(BACKENDS as string[]).default('auto');
export const progressOption = () => new Option('--progress <mode>', 'progress display: a bar on a terminal, plain lines otherwise').choices(['auto', 'bar', 'lines', 'jsonl', 'none']).default('auto');
export const allowOption = () => new Option('--allow <package>', 'allow a third-party cell package named by `use` (repeatable; only this and your project\'s cellstack config allow code)').argParser(collect);
export const maxParamsOption = () => new Option('--max-params <n>', `parameter budget of the model (default ${LIMITS.maxParams})`).argParser(int(1));

export interface MainOptions {
  /**
   * Train on a worker thread, so that a signal stops even a long step (train-thread.ts): the
   * `cellstack` process does; in-process callers (tests, scripts) train on their own thread,
   * where a signal is seen between steps.
   */
  trainThread?: boolean;
}

/** The `cellstack` program; each action stores its exit code in `result`. */
export function program(result: { code: number }, options: MainOptions = {}): Command {
  const cli = new Command('cellstack')
    .description('Train, compare and inspect stacked recurrent models written as .rnn specs')
    .version(CLI_VERSION)
    .option('--debug', 'print stack traces of unexpected errors')
    .showHelpAfterError('(run cellstack --help for usage)')
    .exitOverride();

  cli
    .command('train')
    .description("train a spec on its task (the spec's train block; flags override it) and write a run folder")
    .argument('[spec]', 'the .rnn file (optional with --resume)')
    .option('--task <task>', "task to train on, e.g. copy or 'copy(lag: 20)' (see cellstack tasks)")
    .option('--steps <n>', 'training steps (batches)', int(1))
    .option('--epochs <n>', 'passes over a fixed dataset (mnist, char-lm) instead of --steps', int(1))
    .option('--batch <n>', 'batch size', int(1))
    .option('--lr <rate>', 'learning rate', positive)
    .addOption(new Option('--optimizer <name>', 'optimiser').choices(OPTIMIZERS))
    .option('--clip <norm>', 'clip gradients to this global norm', positive)
    .option('--seed <n>', 'seed of the weights and the data', int(0))
    .addOption(backendOption())
    .option('--out <dir>', 'run folder (default runs/<spec>-<time>)')
    .option('--resume <dir>', 'continue the run in this folder from its last checkpoint')
    .option('--checkpoint-every <n>', 'save a checkpoint every n steps (default steps/10)', int(1))
    .option('--val-size <n>', 'held-out examples for the final validation (default 1000)', int(1))
    .addOption(progressOption())
    .addOption(allowOption())
    .addOption(maxParamsOption())
    .action(async (spec: string | undefined, o) => {
      result.code = options.trainThread ? await trainCommand(spec, o, cli.opts().debug === true) : await train(spec, o);
    });

  cli
    .command('compare')
    .description('train several specs on the same task, data and seeds; one chart and one table')
    .argument('<specs...>', '.rnn files')
    .option('--task <task>', "task for every spec (default: the first spec's train block)")
    .option('--seeds <n>', 'seeds per spec (1..n)', int(1), 3)
    .option('--steps <n>', 'training steps per run', int(1))
    .option('--batch <n>', 'batch size', int(1))
    .option('--lr <rate>', 'learning rate for every spec (default: each spec\'s own)', positive)
    .option('--clip <norm>', 'gradient clipping for every spec', positive)
    .addOption(backendOption())
    .option('--out <dir>', 'output folder (default runs/compare-<time>)')
    .option('--jobs <n>', 'runs in parallel (default: the number of CPU cores)', int(1))
    .option('--threshold <loss>', 'loss for the "steps to reach" column (default: half the memoryless baseline)', positive)
    .option('--val-size <n>', 'held-out examples for each final validation', int(1), 1000)
    .addOption(progressOption())
    .addOption(allowOption())
    .action(async (specs: string[], o) => {
      result.code = await compare(specs, o);
    });

  cli
    .command('reproduce')
    .description("run a paper's headline experiments (nru, ur, star, rru, dmu); write JSON, charts and a page to docs/reproductions")
    .argument('<paper>', 'nru | ur | star | rru | dmu')
    .addOption(new Option('--budget <budget>', "'quick' (a miniature, minutes) or 'paper' (the paper's sizes, longer)").choices(['quick', 'paper']).default('quick'))
    .option('--docs <dir>', 'where the page, JSON and charts go', 'docs/reproductions')
    .option('--experiment <id...>', 'run only these experiments of the paper')
    .option('--steps <n>', "override the budget's steps (the page says so)", int(1))
    .option('--seeds <n>', "override the budget's seeds (the page says so)", int(1))
    .option('--render-only', 'run nothing: rewrite the page from its JSON (e.g. after a change of thresholds)')
    .option('--out <dir>', 'run folders (default runs/reproduce-<paper>-<time>)')
    .option('--jobs <n>', 'runs in parallel (default: the number of CPU cores)', int(1))
    .option('--val-size <n>', "held-out examples for each final validation (default: the experiment's, else 200)", int(1))
    .addOption(backendOption())
    .addOption(progressOption())
    .action(async (paper: string, o) => {
      result.code = await reproduce(paper, o);
    });

  cli
    .command('summary')
    .description('layers, output shapes and parameter counts of a spec')
    .argument('<spec>', '.rnn file')
    .option('--task <task>', 'task whose data fixes the input shape (default: the train block)')
    .addOption(allowOption())
    .addOption(maxParamsOption())
    .action(async (spec: string, o) => {
      result.code = await summary(spec, o);
    });

  cli
    .command('check')
    .description('check specs: syntax, cells and options, shapes, and the fit to their task')
    .argument('<specs...>', '.rnn files')
    .option('--task <task>', 'check the fit to this task instead of each train block')
    .addOption(allowOption())
    .addOption(maxParamsOption())
    .action(async (specs: string[], o) => {
      result.code = await check(specs, o);
    });

  cli
    .command('fmt')
    .description('rewrite specs in canonical form')
    .argument('<specs...>', '.rnn files')
    .option('--check', 'only report files that are not formatted (exit 1 if any)')
    .option('--stdout', 'print the formatted text instead of rewriting')
    .action(async (specs: string[], o) => {
      result.code = await fmt(specs, o);
    });

  cli
    .command('cells')
    .description('registered cells with their options and defaults')
    .argument('[name]', 'one cell')
    .option('--json', 'machine-readable output with the full JSON schemas')
    .action(async (name: string | undefined, o) => {
      result.code = await cells(name, o);
    });

  cli
    .command('gradflow')
    .description("gradient magnitude w.r.t. every layer's output at every step (STAR paper Figure 2): heatmap and JSON")
    .argument('<spec>', '.rnn file (its cells; the head is ignored)')
    .option('--time <n>', 'steps T', int(1), 100)
    .option('--runs <n>', 'random draws of weights', int(1), 10)
    .option('--batch <n>', 'input sequences per draw', int(1), 16)
    .option('--alpha <a>', 'input correlation: x_t = a x_{t-1} + (1 - a) z', positive, 0.5)
    .option('--seed <n>', 'seed of the weights and inputs', int(0))
    .option('--out <dir>', 'output folder (default runs/gradflow-<spec>)')
    .addOption(backendOption())
    .addOption(allowOption())
    .action(async (spec: string, o) => {
      result.code = await gradflow(spec, o);
    });

  cli
    .command('probe')
    .description("record a cell signal (e.g. the forget gate) on a batch of the task: per-unit histogram and JSON")
    .argument('<target>', 'a run folder (its trained model) or a .rnn file (freshly initialised)')
    .requiredOption('--signal <name>', 'the signal, e.g. forget (cellstack cells <name> lists them)')
    .option('--task <task>', "task whose data to run on (default: the run's or the spec's)")
    .option('--batch <n>', 'sequences to average over', int(1), 64)
    .option('--seed <n>', 'seed of the weights (spec) and of the data', int(0))
    .option('--out <dir>', 'output folder (default runs/probe-<name>)')
    .addOption(backendOption())
    .addOption(allowOption())
    .action(async (target: string, o) => {
      result.code = await probeCommand(target, o);
    });

  cli
    .command('tasks')
    .description('the task suite with options and defaults')
    .argument('[name]', 'one task')
    .action(async (name: string | undefined) => {
      result.code = await listTasks(name);
    });

  sweepCommands(cli, result);
  return cli;
}

/** Run the CLI; never throws: errors become one-line messages and documented exit codes. */
export async function main(argv: string[], options: MainOptions = {}): Promise<number> {
  const result = { code: EXIT.ok as number };
  const debug = argv.includes('--debug');
  try {
    await program(result, options).parseAsync(argv, { from: 'user' });
    return result.code;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    return reportError(e, debug);
  }
}

export type { BackendChoice };

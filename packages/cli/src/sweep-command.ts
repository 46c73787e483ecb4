import type { Command } from 'commander';
import { allowOption, backendOption, collect, int, positive, progressOption } from './main.js';
import { sweep } from './sweep.js';
import { worker } from './sweep-worker.js';

/** `cellstack sweep` and `cellstack worker`. */
export function sweepCommands(cli: Command, result: { code: number }) {
  cli
    .command('sweep')
    .description('train specs × a grid of options × seeds on a local pool of processes, or across machines through Redis (--queue)')
    .argument('[specs...]', '.rnn files, or one sweep file (.json) naming specs and grid')
    .option('--grid <key=values>', "a grid axis, e.g. 'lr=1e-4,3e-4,1e-3' or 'units=16,64' (a train option or a layer option; LSTM.units names one layer) (repeatable)", collect)
    .option('--seeds <n>', 'seeds per grid point (1..n)', int(1))
    .option('--task <task>', "task for every run (default: each spec's train block)")
    .option('--steps <n>', 'training steps per run', int(1))
    .option('--batch <n>', 'batch size', int(1))
    .option('--lr <rate>', 'learning rate (unless a grid key)', positive)
    .option('--clip <norm>', 'gradient clipping', positive)
    .option('--checkpoint-every <n>', 'checkpoint interval of each run', int(1))
    .option('--val-size <n>', 'held-out examples for each final validation', int(1))
    .option('--threshold <loss>', 'loss a run must reach to count as trained (default: half the memoryless baseline)', positive)
    .addOption(backendOption())
    .option('--out <dir>', 'output folder (default runs/sweep-<time>); rerun with the same --out to continue', undefined)
    .option('--jobs <n>', 'local runs in parallel (default: the number of CPU cores)', int(1))
    .option('--queue <url>', 'run on workers through Redis: redis://host:port/db')
    .option('--attach <id>', 'follow a sweep queued earlier (with --queue) and collect its results')
    .addOption(progressOption())
    .addOption(allowOption())
    .action(async (specs: string[], o) => {
      result.code = await sweep(specs, o);
    });

  cli
    .command('worker')
    .description('pull sweep runs from Redis and train them, one at a time (start one per core, on any machine)')
    .requiredOption('--queue <url>', 'the Redis server of the sweeps: redis://host:port/db')
    .option('--store <dir>', 'folder for run folders; when shared between machines, a run whose worker died resumes from its last checkpoint')
    .option('--lock-timeout <s>', 'seconds without a sign of life before a run is handed to another worker (longer than the slowest training step)', int(1), 30)
    .option('--max-runs <n>', 'exit after this many runs', int(1))
    .addOption(backendOption())
    .addOption(allowOption())
    .action(async (o) => {
      result.code = await worker(o);
    });
}

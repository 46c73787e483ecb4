import cliProgress from 'cli-progress';

export type ProgressMode = 'auto' | 'bar' | 'lines' | 'jsonl' | 'none';

export interface Tick {
  step: number;
  total: number;
  loss: number;
  metric?: { name: string; value: number };
  stepsPerSecond: number;
}

export interface Progress {
  update(t: Tick): void;
  /** A message between updates (keeps the bar intact). */
  log(line: string): void;
  stop(): void;
}

const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(1) : Math.abs(v) >= 0.01 || v === 0 ? v.toFixed(4) : v.toExponential(2));

export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** One progress line: `step 120/500  loss 0.1234  accuracy 0.912  3.2 steps/s  ETA 1m58s`. */
export function tickLine(t: Tick): string {
  const metric = t.metric ? `  ${t.metric.name} ${fmt(t.metric.value)}` : '';
  const eta = t.stepsPerSecond > 0 ? (t.total - t.step) / t.stepsPerSecond : Infinity;
  return `step ${t.step}/${t.total}  loss ${fmt(t.loss)}${metric}  ${t.stepsPerSecond.toFixed(2)} steps/s  ETA ${duration(eta)}`;
}

/**
 * Live progress: a bar (cli-progress) on a terminal; plain lines every few seconds
 * otherwise (logs, CI); JSON lines for a parent process (compare); or nothing.
 */
export function createProgress(mode: ProgressMode, label = '', stream: NodeJS.WriteStream = process.stderr): Progress {
  const resolved = mode === 'auto' ? (stream.isTTY ? 'bar' : 'lines') : mode;
  if (resolved === 'bar') {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: `${label}{bar} {value}/{total} | loss {loss}{metric} | {rate} steps/s | ETA {eta_formatted}`,
        hideCursor: true,
        etaBuffer: 50,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(t) {
        const payload = { loss: fmt(t.loss), metric: t.metric ? ` | ${t.metric.name} ${fmt(t.metric.value)}` : '', rate: t.stepsPerSecond.toFixed(2) };
        if (!started) {
          bar.start(t.total, t.step, payload);
          started = true;
        } else {
          bar.setTotal(t.total);
          bar.update(t.step, payload);
        }
      },
      log(line) {
        if (started) bar.stop();
        stream.write(`${line}\n`);
        started = false;
      },
      stop: () => started && bar.stop(),
    };
  }
  if (resolved === 'lines') {
    let last = 0;
    return {
      update(t) {
        const now = Date.now();
        if (now - last < 5000 && t.step !== t.total && t.step !== 1) return;
        last = now;
        stream.write(`${label}${tickLine(t)}\n`);
      },
      log: (line) => stream.write(`${line}\n`),
      stop() {},
    };
  }
  if (resolved === 'jsonl') {
    let last = 0;
    return {
      update(t) {
        const now = Date.now();
        if (now - last < 500 && t.step !== t.total) return;
        last = now;
        process.stdout.write(`${JSON.stringify({ progress: t })}\n`);
      },
      log: (line) => stream.write(`${line}\n`),
      stop() {},
    };
  }
  return { update() {}, log: (line) => stream.write(`${line}\n`), stop() {} };
}

import { CellstackError } from '@cellstack/core';

/** Exit codes of the `cellstack` command (documented in the README). */
export const EXIT = {
  ok: 0,
  /** A spec, task or data file has errors (diagnostics printed), or `check`/`fmt --check` found problems. */
  input: 1,
  /** Bad command line: unknown flag or command, missing or malformed argument. */
  usage: 2,
  /** Training diverged (the loss became NaN or infinite). */
  diverged: 3,
  /** An unexpected internal error (a bug): rerun with --debug for the stack trace. */
  internal: 70,
  /** Interrupted with Ctrl-C (SIGINT) or SIGTERM after saving a checkpoint. */
  interrupted: 130,
} as const;

/** An error the user can fix: printed as one line (plus optional detail lines), never with a stack. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code: number = EXIT.input,
    /** Extra lines printed after the message (diagnostics, hints). */
    readonly lines: string[] = [],
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usage = (message: string) => new CliError(message, EXIT.usage);

/** Print a CliError: its message as one line, then its detail lines. */
export function printError(e: CliError) {
  const prefixed = /^error|:\d+:\d+: error|: error: /.test(e.message);
  process.stderr.write(`${prefixed ? '' : 'error: '}${e.message}\n`);
  for (const l of e.lines) process.stderr.write(`${l}\n`);
}

/** Print any error the way the CLI does (one line; a stack only with --debug for a bug) and return its exit code. */
export function reportError(e: unknown, debug: boolean): number {
  if (e instanceof CliError) {
    printError(e);
    return e.code;
  }
  if (e instanceof CellstackError) {
    process.stderr.write(`error: ${e.message}\n`);
    return EXIT.input;
  }
  process.stderr.write(`internal error: ${(e as Error)?.message ?? String(e)}\n`);
  if (debug) process.stderr.write(`${(e as Error)?.stack ?? ''}\n`);
  else process.stderr.write('  rerun with --debug for the stack trace, and report it\n');
  return EXIT.internal;
}

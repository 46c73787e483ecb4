import { parseArgs, type ParseArgsConfig } from 'node:util';

/**
 * parseArgs for the bench tools: `--help` prints `usage`, and a bad flag gets one line
 * and the usage instead of a stack trace. `config.options` should declare `help`.
 */
export function cliArgs<T extends ParseArgsConfig>(tool: string, usage: string, config: T): ReturnType<typeof parseArgs<T>>['values'] {
  let values: ReturnType<typeof parseArgs<T>>['values'];
  try {
    values = parseArgs(config).values;
  } catch (e) {
    console.error(`${tool}: ${(e as Error).message}\n${usage}`);
    process.exit(2);
  }
  if ((values as { help?: boolean }).help) {
    console.log(usage);
    process.exit(0);
  }
  return values;
}

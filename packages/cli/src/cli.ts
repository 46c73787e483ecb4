#!/usr/bin/env node
/** Process entry: run the CLI, flush output, exit with its code. */
import { main } from './main.js';

const code = await main(process.argv.slice(2), { trainThread: true });
await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
process.exit(code);

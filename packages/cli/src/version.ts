import { createRequire } from 'node:module';
import { version_core } from '@tensorflow/tfjs-core';
import { version_layers } from '@tensorflow/tfjs-layers';

const require = createRequire(import.meta.url);

/** This CLI's version (src/ and dist/ both sit one level below package.json). */
export const CLI_VERSION: string = (require('../package.json') as { version: string }).version;

/** Versions recorded in run.json. */
export const versions = () => ({ cellstack: CLI_VERSION, node: process.version, 'tfjs-core': version_core, 'tfjs-layers': version_layers });

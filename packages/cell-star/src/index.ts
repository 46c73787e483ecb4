import { STAR } from './star.js';

export { STAR, CODE_TMAX, gateBiasInit, resolveTmax, type STAROptions, type STARVariant } from './star.js';
/** Every plugin in this package (registered by the DSL's `use` and the CLI). */
export const cells = [STAR];

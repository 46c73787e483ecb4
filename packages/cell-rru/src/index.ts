import { RRU } from './rru.js';

export { RRU, middleWidth, roundHalfEven, rruParamCount, type RRUOptions, type RRUNormalize, type RRUDropoutMask } from './rru.js';

/** Every plugin of this package (the DSL's `use "@cellstack/cell-rru"` and the CLI register these). */
export const cells = [RRU];

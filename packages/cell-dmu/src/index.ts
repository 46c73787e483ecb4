import { DMU } from './dmu.js';

export { DMU, blockWidths, depthMultiplier, type DMUOptions, type HiddenActivation, type CandidateActivation } from './dmu.js';
/** Every plugin of this package (the DSL's `use` and the CLI register these). */
export const cells = [DMU];

import { NRU } from './nru.js';

export { NRU, type NRUOptions } from './nru.js';
/** Every cell plugin of this package (the DSL's `use` and the CLI register these). */
export const cells = [NRU];

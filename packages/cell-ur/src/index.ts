import { URGRU } from './ur-gru.js';
import { URLSTM } from './ur-lstm.js';

export { URLSTM, type URLSTMOptions } from './ur-lstm.js';
export { URGRU, type URGRUOptions } from './ur-gru.js';
export { PRESETS, refineGate, cumax, ugi, type Preset, type GateInit, type Refine, type Activation } from './gates.js';

/** Every cell of this package (the DSL's `use "@cellstack/cell-ur"` and the CLI register these). */
export const cells = [URLSTM, URGRU];

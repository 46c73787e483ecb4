import { GRU } from './gru.js';
import { JANET } from './janet.js';
import { LSTM } from './lstm.js';
import { SimpleRNN } from './simple-rnn.js';

export { GRU, JANET, LSTM, SimpleRNN };
/** The baseline cells every paper compares against; registered in every runtime by default. */
export const baselineCells = [LSTM, GRU, SimpleRNN, JANET] as const;

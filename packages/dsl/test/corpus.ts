/** Valid .rnn files used by the format, round-trip and mutation tests (toy runtime + baselines). */
export const corpus: string[] = [
  'input [20, 3]\nSTAR x16 -> dense',
  'input [null, 2]\nSTAR(64) x16 -> last -> dense(10, activation: softmax)',
  'input [5, 4]\nLSTM(128) x2 -> dropout(0.2) -> dense(10)',
  'input [7, 3]\nRRU(units: 128, outputSize: 64) -> STAR(64) x4 -> mean -> dense(5)',
  `# permuted pixel MNIST, the NRU-style configuration
input [784, 1]
GRU(units: 212)
  -> last
  -> dense(10, activation: softmax)
`,
  `# a complete experiment
input [110, 10] # copy task, lag 100

UR-LSTM(12) x2 # stacked
  # normalise between the cells
  -> layerNorm(epsilon: 1e-5)
  -> JANET(units: 8, tmax: null, beta: -0.5)
  -> dense(10, activation: softmax, useBias: false)

train {
  task: copy(lag: 100, symbols: 8, tags: ["a", "b"])
  optimizer: adam(lr: 1e-3)
  batch: 10
  steps: 2000 # a short run
  clip: 1.0
  seed: 1
}
`,
  'input int32 [null, 1]\nembedding(1000, 32) -> STAR(units: 16, init: uniform, decays: [0.5, 1]) x3 -> mean -> dense(2, activation: sigmoid)\ntrain { task: adding(length: 50), optimizer: rmsprop, epochs: 2, seed: 0 }',
  'input [30, 2]\nSimpleRNN(4) -> GRU x2 -> last -> dropout(0.5) -> dense(1)',
];

export { gradFlow, paperLattice, paperInputs, latticeLoss, latticeGradients, paramGradientMagnitudes, depthRatio, type GradFlow, type GradFlowOptions, type LatticeLayer, type LossOn } from './lattice.js';
export { gradFlowSpec, writeGradFlow } from './heatmap.js';
export { probe, unitMeans, memoryChange, type LayerSignal, type MemoryChange, type ProbeResult } from './probe.js';
export { signalHistogramSpec, writeSignalHistogram, memoryChangeSpec, writeMemoryChange } from './probe-chart.js';

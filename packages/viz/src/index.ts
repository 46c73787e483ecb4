export * from './chart.js';
export * from './heatmap.js';

/** @distgan/eval — what a person or a metric sees of a generator: sample grids, scatter plots. */
export { renderSampleGrid, renderScatter, type GridOptions } from './grid.js';

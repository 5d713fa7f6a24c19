/** @distgan/eval — what a person or a metric sees of a generator: sample grids, plots. */
export { renderSampleGrid, renderScatter, type GridOptions } from './grid.js';
export { renderLinePlot, niceTicks, type Series, type LinePlotOptions } from './plot.js';
export { drawText, textWidth } from './font.js';

/** @distgan/eval — what a person or a metric sees of a generator: FID in a classifier's
 * feature space, mode coverage and class balance, sample grids, plots. */
export { renderSampleGrid, renderScatter, type GridOptions } from './grid.js';
export {
  renderLinePlot,
  niceTicks,
  type HLine,
  type Series,
  type LinePlotOptions,
} from './plot.js';
export { drawText, textWidth } from './font.js';
export {
  Classifier,
  committedClassifierPath,
  encodeClassifier,
  FEATURE_DIM,
  FEATURE_LAYER,
  loadClassifier,
  type ClassifierCard,
  type ClassifierSpec,
  type Embedding,
} from './classifier.js';
export { featureStats, frechetDistance, sqrtPsd, type GaussianStats } from './fid.js';
export {
  Evaluator,
  labelStatistics,
  MODE_SHARE,
  CONFIDENT_PROBABILITY,
  type EvaluationProtocol,
  type SampleQuality,
} from './evaluator.js';
export { ClassifierNotFoundError, loadEvaluator, type EvaluatorOptions } from './load.js';

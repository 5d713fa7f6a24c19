/** @distgan/embedded — the embedded run: coordinator and devices in one process. */
export { modelSpecFor } from '@distgan/run';
export { runEmbedded, deviceId, type RunHooks, type RunSummary, type RoundLine } from './run.js';
export { loadGenerator, sampleFromRun } from './load.js';
export {
  CLI_SETTINGS,
  DEFAULTS,
  EMBEDDED_SETTINGS,
  type EmbeddedConfig,
  type DatasetName,
  type Method,
  type PartitionScheme,
} from './config.js';
export { addTrainOptions, toConfig, defaultRunId, type TrainFlags } from './cli.js';
export {
  BENCH_DATASETS,
  BENCH_METHODS,
  BENCH_SPLITS,
  DEFAULT_SEEDS,
  DEFAULT_THRESHOLDS,
  POOLED,
  cellName,
  cellPath,
  planCells,
  runConvergenceBench,
  type BenchOptions,
  type BenchResults,
  type Cell,
  type CellKey,
  type FidPoint,
  type MissingCell,
  type ReferenceLevel,
} from './convergence-bench.js';
export {
  DEFAULT_MACHINE,
  buildReport,
  timeToThreshold,
  writeReport,
  type DeploymentTimeModel,
  type ReportInput,
} from './convergence-report.js';
export { deploymentTimeModel, lineOfMeans } from './convergence-time.js';
export {
  bootstrapRatio,
  compareTimes,
  describeComparison,
  meanSd,
  welchTTest,
  type Comparison,
} from './bench-stats.js';
export {
  LATENCY_RTTS,
  NETWORK_PROFILES,
  benchMethodOf,
  measuredRoundOf,
  modelRoundBreakdown,
  modelRoundMs,
  networkProfile,
  timeModelTable,
  transferMs,
  type MeasuredRound,
  type NetworkProfile,
  type RoundBreakdown,
} from './time-model.js';

/**
 * The live training dashboard. Whoever runs the rounds feeds a hub; the fastify plugin serves
 * the page, its snapshot and the live stream:
 *
 * ```ts
 * const hub = new DashboardHub({ runId, kind: 'server', rounds, method: 'distgan', config });
 * registerDashboard(app, hub); // GET / in a browser
 * hub.setStatus('training');
 * hub.recordRound(report); // every round
 * hub.recordGrid(report.round, png);
 * ```
 *
 * @module
 */
export {
  DashboardHub,
  type DashboardHubOptions,
  type DashboardListener,
  type DeviceOutcome,
  type RoundInput,
} from './hub.js';
export { registerDashboard, type DashboardRouteOptions } from './plugin.js';
export { clientAssets, DashboardBuildError, type ClientAssets } from './assets.js';
export { publicConfig } from './public-config.js';
export type {
  DashboardEvent,
  DashboardSnapshot,
  DeviceRow,
  EvalPoint,
  GridRef,
  PhaseTimings,
  RoundPoint,
  RunInfo,
  RunKind,
  RunStatus,
} from './types.js';

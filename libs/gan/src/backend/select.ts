import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { patchWasmKernels, wasmKernelsPatched } from './wasm-kernels.js';

/** The candidates of docs/design.md §2, fastest first. */
export type BackendCandidate = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
const ORDER: readonly BackendCandidate[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

/** Accepted values of TFJS_BACKEND (any case) and what they mean. */
const FORCED: Readonly<Record<string, BackendCandidate>> = {
  'tensorflow-gpu': 'tensorflow-gpu',
  gpu: 'tensorflow-gpu',
  'node-gpu': 'tensorflow-gpu',
  tensorflow: 'tensorflow',
  node: 'tensorflow',
  wasm: 'wasm',
  cpu: 'cpu',
};

const PACKAGES: Readonly<Record<BackendCandidate, string>> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
};

export interface BackendInfo {
  candidate: BackendCandidate;
  /** tfjs backend name: 'tensorflow' (both native packages), 'wasm' or 'cpu'. */
  name: string;
  package: string;
  version: string;
  /** wasm only: SIMD in use, and XNNPACK's thread count (1 in Node: tfjs runs wasm unthreaded there). */
  simd?: boolean;
  threads?: number;
  /** wasm only: whether the project's kernels (wasm-kernels.ts) are registered. */
  patchedKernels?: boolean;
  /** Faster candidates that could not be used, and why. */
  skipped: { candidate: BackendCandidate; reason: string }[];
}

export interface BackendOptions {
  /** Value of TFJS_BACKEND, passed in by the service (libraries do not read the environment). */
  forced?: string;
  /** wasm: register the project's fast kernels (default true; benchmarks turn it off to compare). */
  patchWasm?: boolean;
  /** Told each candidate that is skipped, and why. */
  log?: (msg: string) => void;
}

export class BackendError extends Error {
  readonly code = 'BACKEND_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BackendError';
  }
}

const require = createRequire(import.meta.url);
let chosen: Promise<BackendInfo> | undefined;

function version(pkg: string): string {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Why a candidate failed, in one line. */
function reason(pkg: string, err: unknown): string {
  const e = err as { code?: string; message?: string } | undefined;
  const first = String(e?.message ?? err).split('\n')[0]!;
  // Only the package itself missing is "not installed"; a dependency of it missing is an error.
  if (e?.code === 'MODULE_NOT_FOUND' && first.includes(`'${pkg}'`)) return 'not installed';
  return first;
}

/**
 * The cpu backend greets Node users once, on its first tensor, with advice to install tfjs-node
 * (MathBackendCPU.write, behind the instance field `firstUse`). Clearing that field on the one
 * instance silences only this message; the alternatives, the IS_NODE or PROD flags, change
 * platform detection or silence every tfjs warning.
 */
function quietCpuBackend(): void {
  const cpu = tf.findBackend('cpu') as { firstUse?: boolean } | null;
  if (cpu && 'firstUse' in cpu) cpu.firstUse = false;
}

async function tryCandidate(c: BackendCandidate, opts: BackendOptions): Promise<BackendInfo> {
  const pkg = PACKAGES[c];
  if (c === 'tensorflow-gpu' || c === 'tensorflow') {
    // Any error counts as unavailable: MODULE_NOT_FOUND, or a plain Error when the package is
    // there without its native binary (its install script could not download libtensorflow).
    require(pkg);
    if (!(await tf.setBackend('tensorflow'))) {
      throw new Error(`${pkg} loaded but its backend did not initialise`);
    }
    return { candidate: c, name: 'tensorflow', package: pkg, version: version(pkg), skipped: [] };
  }
  if (c === 'wasm') {
    // Load the .wasm binaries from the installed package, not from a CDN.
    const dist = join(dirname(require.resolve(`${pkg}/package.json`)), 'dist');
    setWasmPaths(`${dist}/`);
    if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend did not initialise');
    if (opts.patchWasm !== false) patchWasmKernels();
    return {
      candidate: c,
      name: 'wasm',
      package: pkg,
      version: version(pkg),
      simd: tf.env().getBool('WASM_HAS_SIMD_SUPPORT'),
      threads: getThreadsCount(),
      patchedKernels: wasmKernelsPatched(),
      skipped: [],
    };
  }
  if (!(await tf.setBackend('cpu'))) throw new Error('the cpu backend did not initialise');
  return { candidate: c, name: 'cpu', package: pkg, version: version(pkg), skipped: [] };
}

/**
 * Chooses the process's one TensorFlow.js backend (docs/design.md §2): tfjs-node-gpu, tfjs-node,
 * wasm, then cpu, or the one `forced` names. Idempotent: later calls return the first call's
 * choice whatever their options (after a failed call, the next one chooses again).
 */
export function initBackend(opts: BackendOptions = {}): Promise<BackendInfo> {
  chosen ??= choose(opts).then(
    (info) => {
      quietCpuBackend();
      return info;
    },
    (err: unknown) => {
      chosen = undefined;
      throw err;
    },
  );
  return chosen;
}

async function choose(opts: BackendOptions): Promise<BackendInfo> {
  const forced = opts.forced?.trim();
  if (forced) {
    const c = FORCED[forced.toLowerCase()];
    if (!c) {
      throw new BackendError(
        `TFJS_BACKEND="${forced}" is not a backend: use one of ${Object.keys(FORCED).join(', ')}`,
      );
    }
    try {
      return await tryCandidate(c, opts);
    } catch (err) {
      throw new BackendError(
        `TFJS_BACKEND="${forced}" asks for ${PACKAGES[c]}, which cannot be used here: ${reason(PACKAGES[c], err)}`,
        { cause: err },
      );
    }
  }
  const skipped: BackendInfo['skipped'] = [];
  for (const c of ORDER) {
    try {
      return { ...(await tryCandidate(c, opts)), skipped };
    } catch (err) {
      const why = reason(PACKAGES[c], err);
      skipped.push({ candidate: c, reason: why });
      opts.log?.(`backend ${c} (${PACKAGES[c]}) skipped: ${why}`);
    }
  }
  throw new BackendError(
    `no TensorFlow.js backend could start: ${skipped.map((s) => `${s.candidate}: ${s.reason}`).join('; ')}`,
  );
}

/** One line for the start-up log. */
export function describeBackend(info: BackendInfo): string {
  const parts = [
    `${info.name} (${info.package} ${info.version}${info.candidate === 'tensorflow-gpu' ? ', CUDA' : ''})`,
  ];
  if (info.name === 'wasm') {
    parts.push(
      `SIMD ${info.simd ? 'on' : 'off'}, ${info.threads ?? 1} thread(s), ${info.patchedKernels ? 'fast kernels registered' : 'stock kernels'}`,
    );
  }
  if (info.skipped.length > 0) {
    parts.push(`skipped ${info.skipped.map((s) => `${s.candidate} (${s.reason})`).join(', ')}`);
  }
  return parts.join('; ');
}

/** For tests: forget the choice so that another can be made (kernels stay as they are). */
export function resetBackendChoice(): void {
  chosen = undefined;
}

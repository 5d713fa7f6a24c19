import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { patchWasmKernels, wasmKernelsPatched } from './wasm-kernels.js';

/** The candidates of DESIGN.md §2, fastest first. */
export type BackendCandidate = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
const ORDER: readonly BackendCandidate[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

/** Accepted values of TFJS_BACKEND and what they mean. */
const FORCED: Record<string, BackendCandidate> = {
  'tensorflow-gpu': 'tensorflow-gpu',
  gpu: 'tensorflow-gpu',
  'node-gpu': 'tensorflow-gpu',
  tensorflow: 'tensorflow',
  node: 'tensorflow',
  wasm: 'wasm',
  cpu: 'cpu',
};

const PACKAGES: Record<BackendCandidate, string> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
};

export interface BackendInfo {
  candidate: BackendCandidate;
  /** tfjs backend name: 'tensorflow', 'wasm' or 'cpu'. */
  name: string;
  package: string;
  version: string;
  /** wasm only: SIMD and threads in use; whether the project's kernels are registered. */
  simd?: boolean;
  threads?: number;
  patchedKernels?: boolean;
  /** Faster candidates that could not be used, and why. */
  skipped: { candidate: BackendCandidate; reason: string }[];
}

export interface BackendOptions {
  /** Value of TFJS_BACKEND, passed in by the service (libraries do not read the environment). */
  forced?: string;
  /** wasm: register the project's fast kernels (default true; benchmarks turn it off to compare). */
  patchWasm?: boolean;
}

export class BackendError extends Error {
  readonly code = 'BACKEND_UNAVAILABLE';
  constructor(message: string) {
    super(message);
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

function message(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const first = String(e?.message ?? err).split('\n')[0]!;
  return e?.code === 'MODULE_NOT_FOUND' ? 'not installed' : first;
}

async function tryCandidate(c: BackendCandidate, opts: BackendOptions): Promise<BackendInfo> {
  const pkg = PACKAGES[c];
  if (c === 'tensorflow-gpu' || c === 'tensorflow') {
    // Any error counts as unavailable: MODULE_NOT_FOUND, or a plain Error when the package is
    // there without its native binary (its install script could not download libtensorflow).
    require(pkg);
    if (!(await tf.setBackend('tensorflow')))
      throw new Error(`${pkg} loaded but its backend did not initialise`);
    return { candidate: c, name: 'tensorflow', package: pkg, version: version(pkg), skipped: [] };
  }
  if (c === 'wasm') {
    // Load the .wasm binaries from the installed package, not from a CDN.
    setWasmPaths(
      join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/',
    );
    if (opts.patchWasm !== false) patchWasmKernels();
    if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend did not initialise');
    return {
      candidate: c,
      name: 'wasm',
      package: pkg,
      version: version(pkg),
      simd: Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')),
      threads: (await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) ? navigatorThreads() : 1,
      patchedKernels: wasmKernelsPatched(),
      skipped: [],
    };
  }
  if (!(await tf.setBackend('cpu'))) throw new Error('the cpu backend did not initialise');
  // The cpu backend greets Node users once with advice to install tfjs-node; we print our own line.
  (tf.backend() as unknown as { firstUse: boolean }).firstUse = false;
  return { candidate: c, name: 'cpu', package: pkg, version: version(pkg), skipped: [] };
}

function navigatorThreads(): number {
  return (
    (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator
      ?.hardwareConcurrency ?? 1
  );
}

/**
 * Chooses the process's one TensorFlow.js backend (DESIGN.md §2): tfjs-node-gpu, tfjs-node,
 * wasm, then cpu, or the one `forced` names. Later calls return the first call's choice.
 */
export function initBackend(opts: BackendOptions = {}): Promise<BackendInfo> {
  chosen ??= choose(opts);
  return chosen;
}

async function choose(opts: BackendOptions): Promise<BackendInfo> {
  if (opts.forced !== undefined && opts.forced !== '') {
    const c = FORCED[opts.forced.toLowerCase()];
    if (!c) {
      chosen = undefined;
      throw new BackendError(
        `TFJS_BACKEND="${opts.forced}" is not a backend: use one of ${Object.keys(FORCED).join(', ')}`,
      );
    }
    try {
      return await tryCandidate(c, opts);
    } catch (err) {
      chosen = undefined;
      throw new BackendError(
        `TFJS_BACKEND="${opts.forced}" asks for ${PACKAGES[c]}, which cannot be used here: ${message(err)}`,
      );
    }
  }
  const skipped: BackendInfo['skipped'] = [];
  for (const c of ORDER) {
    try {
      const info = await tryCandidate(c, opts);
      return { ...info, skipped };
    } catch (err) {
      skipped.push({ candidate: c, reason: message(err) });
    }
  }
  chosen = undefined;
  throw new BackendError(
    `no TensorFlow.js backend could start: ${skipped.map((s) => `${s.candidate}: ${s.reason}`).join('; ')}`,
  );
}

/** One line for the start-up log. */
export function describeBackend(info: BackendInfo): string {
  const parts = [`${info.name} (${info.package} ${info.version})`];
  if (info.name === 'wasm') {
    parts.push(
      `SIMD ${info.simd ? 'on' : 'off'}, ${info.threads ?? 1} thread(s), ${info.patchedKernels ? 'fast kernels registered' : 'stock kernels'}`,
    );
  }
  if (info.skipped.length > 0)
    parts.push(`skipped ${info.skipped.map((s) => `${s.candidate} (${s.reason})`).join(', ')}`);
  return parts.join('; ');
}

/** For tests: forget the choice so that another can be made. */
export function resetBackendChoice(): void {
  chosen = undefined;
}

import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { SIMD_WASM_BASE64 } from './simd-binary.js';

/** The exports of simd.wat: pointers are byte offsets into the backend's heap. */
export interface SimdKernels {
  adam(
    w: number,
    m: number,
    v: number,
    g: number,
    wo: number,
    mo: number,
    vo: number,
    n: number,
    beta1: number,
    beta2: number,
    stepSize: number,
    epsilon: number,
  ): void;
  tanh(x: number, y: number, n: number): void;
  leaky_relu(x: number, y: number, n: number, alpha: number): void;
  leaky_relu_grad(x: number, dy: number, dx: number, n: number, alpha: number): void;
  sum_cols(x: number, out: number, rows: number, cols: number, scale: number): void;
  average(ptrs: number, weights: number, count: number, out: number, n: number, inv: number): void;
  col2im(
    cols: number,
    dst: number,
    n: number,
    ho: number,
    wo: number,
    h: number,
    w: number,
    kh: number,
    kw: number,
    ci: number,
    sh: number,
    sw: number,
    top: number,
    left: number,
  ): void;
  transpose(
    src: number,
    dst: number,
    rows: number,
    cols: number,
    srcRs: number,
    dstRs: number,
  ): void;
  transpose_runs(
    src: number,
    dst: number,
    rows: number,
    cols: number,
    run: number,
    srcRs: number,
    dstRs: number,
  ): void;
}

/** The few WebAssembly JS API members used here (@types/node 20 does not declare them). */
interface WasmApi {
  Memory: new (descriptor: { initial: number }) => {
    readonly buffer: ArrayBuffer;
    grow(pages: number): number;
  };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
type Memory = InstanceType<WasmApi['Memory']>;
const wasmApi = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

let compiled: object | undefined;
let unsupported = wasmApi === undefined;
let enabled = true;

/**
 * Switches the SIMD kernels off (the kernels then run their JavaScript loops) or on again; for
 * benchmarks that compare both in one process.
 */
export function useSimdKernels(on: boolean): void {
  enabled = on;
}
const instances = new WeakMap<Memory, SimdKernels>();

/** The backend's wasm memory, where its Emscripten build exposes it (non-threaded builds do). */
function heapOf(backend: BackendWasm): Memory | null {
  const asm = (backend.wasm as unknown as { asm?: { memory?: unknown } }).asm;
  const memory = asm?.memory;
  if (!wasmApi || !(memory instanceof wasmApi.Memory)) return null;
  // A shared heap (the threaded build) would need a module that imports shared memory.
  if (typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer) {
    return null;
  }
  return memory;
}

/**
 * The SIMD kernels instantiated on `backend`'s heap, or null where that is not possible (no
 * exposed memory, a shared heap, or a runtime without WebAssembly SIMD); callers then run their
 * JavaScript loops. One instance per heap, made on first use.
 */
export function simdKernels(backend: BackendWasm): SimdKernels | null {
  const memory = unsupported || !enabled ? null : heapOf(backend);
  if (!memory) return null;
  return instantiate(memory);
}

function instantiate(memory: Memory): SimdKernels | null {
  if (!wasmApi) return null;
  let kernels = instances.get(memory);
  if (!kernels) {
    try {
      compiled ??= new wasmApi.Module(
        Uint8Array.from(atob(SIMD_WASM_BASE64), (ch) => ch.charCodeAt(0)),
      );
      kernels = new wasmApi.Instance(compiled, { env: { memory } })
        .exports as unknown as SimdKernels;
    } catch {
      unsupported = true;
      return null;
    }
    instances.set(memory, kernels);
  }
  return kernels;
}

let scratch: { memory: Memory; kernels: SimdKernels } | undefined;

/**
 * The SIMD kernels on a memory of their own, at least `bytes` long (grown as needed, kept between
 * calls), for work on arrays outside the tfjs heap; null where WebAssembly SIMD is unavailable or
 * switched off. The memory's buffer changes when it grows: take views after this call.
 */
export function scratchKernels(bytes: number): { memory: Memory; kernels: SimdKernels } | null {
  if (unsupported || !enabled || !wasmApi) return null;
  const PAGE = 65_536;
  if (!scratch) {
    const memory = new wasmApi.Memory({ initial: Math.ceil(bytes / PAGE) });
    const kernels = instantiate(memory);
    if (!kernels) return null;
    scratch = { memory, kernels };
  }
  const missing = Math.ceil((bytes - scratch.memory.buffer.byteLength) / PAGE);
  if (missing > 0) scratch.memory.grow(missing);
  return scratch;
}

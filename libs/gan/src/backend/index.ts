export {
  BackendError,
  describeBackend,
  initBackend,
  resetBackendChoice,
  type BackendCandidate,
  type BackendInfo,
  type BackendOptions,
} from './select.js';
export { patchWasmKernels, unpatchWasmKernels, wasmKernelsPatched } from './wasm-kernels.js';
export { useSimdKernels } from './simd.js';

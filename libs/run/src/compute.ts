import { readdirSync } from 'node:fs';
import { describeBackend, initBackend } from '@distgan/gan';
import {
  DistganError,
  setDigestAlgorithm,
  type DigestAlgorithm,
  type DigestChoice,
} from '@distgan/protocol';

/** The TFJS_BACKEND values that ask for the GPU build of TensorFlow. */
const GPU_BACKENDS = new Set(['tensorflow-gpu', 'gpu', 'node-gpu']);

/**
 * TFJS_BACKEND asked for a GPU and the process sees none. TensorFlow's GPU build would run on
 * the CPU without a word, many times slower, holding a GPU node's place: refuse to start instead.
 */
export class GpuNotFoundError extends DistganError {
  constructor(backend: string) {
    super(
      'GPU_NOT_FOUND',
      `TFJS_BACKEND=${backend} asks for a GPU, and this process sees none (no /dev/nvidia<N>): give the container a GPU (a nvidia.com/gpu limit, and the NVIDIA container runtime: runtimeClassName where it is not the default), or set TFJS_BACKEND to tensorflow, wasm or cpu to train on the CPU`,
    );
  }
}

/** The NVIDIA GPUs visible to this process: the /dev/nvidia<N> device files (the container runtime mounts those it was given). */
export function nvidiaDevices(dev = '/dev'): string[] {
  try {
    return readdirSync(dev).filter((name) => /^nvidia\d+$/.test(name));
  } catch {
    return [];
  }
}

/**
 * A process's start-up, the same for the server, a device and the embedded run: the TensorFlow.js
 * backend (forced by TFJS_BACKEND, or the fastest that loads) and the digest its weight blobs
 * are written with. Returns both, described for the log.
 */
export async function startCompute(o: {
  tfjsBackend: string;
  blobDigest: DigestChoice;
  /** wasm: register the project's kernels (default true). */
  patchWasm?: boolean;
  /** The GPUs this process sees, checked when tfjsBackend asks for one (default: nvidiaDevices). */
  gpuDevices?: () => string[];
}): Promise<{
  /** The backend's name as tfjs knows it ('wasm', 'tensorflow', ...). */
  backendName: string;
  /** The backend described for the log (which package, which kernels). */
  backend: string;
  digest: { algorithm: DigestAlgorithm; implementation: string };
}> {
  const asked = o.tfjsBackend.trim().toLowerCase();
  if (GPU_BACKENDS.has(asked) && (o.gpuDevices ?? nvidiaDevices)().length === 0)
    throw new GpuNotFoundError(o.tfjsBackend);
  const backend = await initBackend({
    forced: o.tfjsBackend || undefined,
    ...(o.patchWasm === undefined ? {} : { patchWasm: o.patchWasm }),
  });
  return {
    backendName: backend.name,
    backend: describeBackend(backend),
    digest: setDigestAlgorithm(o.blobDigest),
  };
}

import { describeBackend, initBackend } from '@distgan/gan';
import { setDigestAlgorithm, type DigestAlgorithm, type DigestChoice } from '@distgan/protocol';

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
}): Promise<{
  /** The backend's name as tfjs knows it ('wasm', 'tensorflow', ...). */
  backendName: string;
  /** The backend described for the log (which package, which kernels). */
  backend: string;
  digest: { algorithm: DigestAlgorithm; implementation: string };
}> {
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

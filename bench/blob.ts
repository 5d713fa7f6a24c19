/**
 * The weight-blob path against raw Redis, in one run: encode + store + fetch + verify + decode
 * of a model's weights through the project's codec and Redis blob store, beside plain ioredis
 * SET/GET of the same bytes. The blob path is the one the devices and the server take: SET over
 * the store's blob connection, GET leased into a pooled buffer. It runs with the default digest
 * (BLAKE3 where it is native) and, beside it, with SHA-256 (the digest of format-1 blobs, and the
 * choice for FIPS deployments), and through ioredis alone (the store without its blob connection,
 * as rediss:// runs).
 *
 *   npm run bench:blob [-- --quick]
 */
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import {
  blobDigestHex,
  decodeWeights,
  defaultDigestAlgorithm,
  digestImplementations,
  encodeWeights,
  type DigestAlgorithm,
  type FlatWeights,
} from '@distgan/protocol';
import { GlobalGan, initBackend, LocalDiscriminatorTrainer } from '@distgan/gan';
import { RedisBlobStore } from '@distgan/transport';
import { interleavedMedianMs, writeResults } from './common.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean' } } });
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const reps = values.quick ? 5 : 150;

// The blobs of a run on MNIST (latent 64): the MLP discriminator (533,505 parameters, the update
// every MLP device sends), the DCGAN generator (540,225, what every DCGAN device fetches) and
// discriminator (138,561); and a 10.8 MB one (2.7 M) for the trend with size.
const sizes = { mlp: 533_505, dcgan: 540_225, dcganDiscriminator: 138_561, large: 2_700_000 };
const store = new RedisBlobStore({ url: REDIS_URL });
const ioredisStore = new RedisBlobStore({ url: REDIS_URL, blobConnection: false });
const raw = new Redis(REDIS_URL);
const digest = defaultDigestAlgorithm();
const results: Record<string, unknown> = {
  redis: REDIS_URL,
  reps,
  digest,
  digestImplementation: digestImplementations()[digest],
};

console.log(
  `Redis at ${REDIS_URL}, median of ${reps}; default digest ${digest} (${digestImplementations()[digest]})`,
);
console.log(
  `| weights | MB | blob path MB/s (${digest}) | raw SET+GET MB/s | ratio | blob path MB/s (sha256) | ratio | ` +
    `through ioredis MB/s | ratio | float16 blob path MB/s |`,
);
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const [name, n] of Object.entries(sizes)) {
  const w: FlatWeights = {
    specs: [{ name: 'w', shape: [n] }],
    values: new Float32Array(n).map((_, i) => Math.sin(i) * 0.1),
  };
  const key = `distgan:bench:blob:${name}`;
  const mb = (n * 4) / 1e6;
  const path =
    (dtype: 'float32' | 'float16', digest?: DigestAlgorithm, via = store) =>
    async (): Promise<void> => {
      const blob = encodeWeights(w, { dtype, digest });
      await via.put(key, blob, { ttlSeconds: 60 });
      const got = (await via.lease(key))!;
      decodeWeights(got.bytes, { expect: w.specs, digest: blobDigestHex(blob) });
      got.release();
    };
  const bytes = Buffer.from(w.values.buffer);
  const rawPath = async (): Promise<void> => {
    await raw.set(key, bytes, 'EX', 60);
    await raw.getBuffer(key);
  };
  // Side by side: each repetition runs the five paths once, in a rotating order.
  const [tBlob, tRaw, tSha, tHalf, tIo] = (await interleavedMedianMs(
    [
      path('float32'),
      rawPath,
      path('float32', 'sha256'),
      path('float16'),
      path('float32', undefined, ioredisStore),
    ],
    reps,
  )) as [number, number, number, number, number];
  const r = {
    megabytes: mb,
    blobPathMBps: mb / (tBlob / 1000),
    rawRedisMBps: mb / (tRaw / 1000),
    sha256BlobPathMBps: mb / (tSha / 1000),
    float16BlobPathMBps: mb / (tHalf / 1000),
    ioredisBlobPathMBps: mb / (tIo / 1000),
  };
  const ratio = r.blobPathMBps / r.rawRedisMBps;
  const sha256Ratio = r.sha256BlobPathMBps / r.rawRedisMBps;
  const ioredisRatio = r.ioredisBlobPathMBps / r.rawRedisMBps;
  results[name] = { ...r, ratio, sha256Ratio, ioredisRatio };
  console.log(
    `| ${name} | ${mb.toFixed(1)} | ${r.blobPathMBps.toFixed(0)} | ${r.rawRedisMBps.toFixed(0)} | ${ratio.toFixed(2)} | ` +
      `${r.sha256BlobPathMBps.toFixed(0)} | ${sha256Ratio.toFixed(2)} | ` +
      `${r.ioredisBlobPathMBps.toFixed(0)} | ${ioredisRatio.toFixed(2)} | ${r.float16BlobPathMBps.toFixed(0)} |`,
  );
  await raw.del(key);
}
await store.close();
await ioredisStore.close();
raw.disconnect();

// The error float16 uplink updates introduce, on a real update: the MLP discriminator after one
// local step from its initial weights, compared with the size of that step.
await initBackend();
const spec = { arch: 'mlp' as const, sampleShape: [28, 28, 1], latentDim: 64 };
const adam = { learningRate: 2e-4, beta1: 0.5, beta2: 0.999 };
const gan = new GlobalGan(spec, { seed: 1, generatorAdam: adam });
const device = new LocalDiscriminatorTrainer(spec, adam);
const before = gan.discriminatorWeights().values;
device.setGlobal(gan.generatorWeights().values, before);
const real = new Float32Array(64 * 784).map((_, i) => Math.sin(i * 0.7));
device.train(
  1,
  64,
  () => real,
  () => 1,
);
const after = device.discriminatorWeights();
const half = decodeWeights(encodeWeights(after, { dtype: 'float16' })).values;
let maxAbs = 0;
let errSq = 0;
let stepSq = 0;
let weightSq = 0;
for (let i = 0; i < half.length; i++) {
  const e = half[i]! - after.values[i]!;
  maxAbs = Math.max(maxAbs, Math.abs(e));
  errSq += e * e;
  stepSq += (after.values[i]! - before[i]!) ** 2;
  weightSq += after.values[i]! ** 2;
}
const float16Error = {
  maxAbsError: maxAbs,
  rmsErrorOverRmsWeight: Math.sqrt(errSq / weightSq),
  rmsErrorOverRmsStep: Math.sqrt(errSq / stepSq),
};
results['float16Error'] = float16Error;
console.log(
  `float16 updates (MLP D after one local step): max |error| ${maxAbs.toExponential(2)}, ` +
    `RMS error / RMS weight ${float16Error.rmsErrorOverRmsWeight.toExponential(2)}, ` +
    `RMS error / RMS of the step ${float16Error.rmsErrorOverRmsStep.toFixed(3)}`,
);
device.dispose();
gan.dispose();
console.log(`wrote ${writeResults('blob', results)}`);

/**
 * The examples of docs/protocol.md, made by the code that speaks the protocol: one round of a
 * server and one device on the in-memory transport, store and membership (the 2D ring, the MLP),
 * with every message and record captured as it was written. `npm run docs:protocol-examples`
 * prints them; e2e/src/protocol-doc.test.ts checks that the examples in the page still parse.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DeviceRuntime,
  directoryCheckpointStore,
  MemoryBlobStore,
  MemoryMembership,
  MemoryRoundTransport,
  type DeviceRegistration,
} from '@distgan/engine';
import { partitionIid, Rng } from '@distgan/data';
import { buildModel, initBackend, type ModelSpec } from '@distgan/gan';
import { DistganDevice } from '@distgan/methods';
import {
  BlobIntegrityError,
  deriveSeed,
  encodeMessage,
  encodeWeights,
  PROTOCOL_VERSION,
  verifiableDigests,
  type TaskDeclined,
  type TensorSpec,
} from '@distgan/protocol';
import { dataConfigOf, identityOf, loadRunDataset, modelSpecFor, shardOf } from '@distgan/run';
import { createLogger } from '@distgan/telemetry';
import { ServerApp } from './app.js';
import { loadServerConfig } from './config.js';

export interface ProtocolExamples {
  task: string;
  update: string;
  declined: string;
  registration: string;
  runRecord: string;
  /** The first bytes of the round's discriminator blob (prefix and header JSON), as hex lines. */
  blobHeaderHex: string;
}

/**
 * A complete small blob: two tensors of known values, SHA-256, as `xxd`-style hex lines. It is
 * deterministic (no clock, no random weights), so the page can show it and a test compare it.
 */
export function exampleBlobHex(): string {
  const specs: TensorSpec[] = [
    { name: 'w', shape: [2, 2] },
    { name: 'b', shape: [2] },
  ];
  const blob = encodeWeights(
    { specs, values: Float32Array.from([1, -1, 0.5, 2, 0, 0.25]) },
    { dtype: 'float32', digest: 'sha256' },
  );
  return hexLines(blob);
}

/** `offset: 16 bytes in hex  |ascii|` lines. */
export function hexLines(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let o = 0; o < bytes.length; o += 16) {
    const row = bytes.subarray(o, o + 16);
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.'));
    lines.push(`${o.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  |${ascii.join('')}|`);
  }
  return lines.join('\n');
}

/** The tensors of a model, in blob order, as a Markdown table. */
export function tensorTable(spec: ModelSpec, role: 'generator' | 'discriminator'): string {
  const model = buildModel(role, spec, 0);
  const rows = model.params.specs.map((s) => `| \`${s.name}\` | [${s.shape.join(', ')}] |`);
  model.dispose();
  return ['| tensor | shape |', '|---|---|', ...rows].join('\n');
}

/**
 * The test vectors of docs/protocol.md §10: a derived seed, the first values of two generators,
 * a small IID partition.
 */
export function randomTestVectors(): {
  realSeed: number;
  rng1: number[];
  rngReal: number[];
  iid: number[];
} {
  const realSeed = deriveSeed(1, 'real', 0, 'device-0', 0);
  const rng1 = new Rng(1);
  const rngReal = new Rng(realSeed);
  return {
    realSeed,
    rng1: [rng1.uint32(), rng1.uint32()],
    rngReal: [rngReal.uint32(), rngReal.uint32(), rngReal.uint32()],
    iid: Array.from(partitionIid(10, 2, 1)[0]!),
  };
}

const RUN = 'example-run';
const pretty = (raw: Uint8Array | string): string =>
  JSON.stringify(JSON.parse(typeof raw === 'string' ? raw : Buffer.from(raw).toString()), null, 2);

export async function protocolExamples(): Promise<ProtocolExamples> {
  await initBackend({ forced: 'cpu' });
  const out = mkdtempSync(join(tmpdir(), 'distgan-protocol-examples-'));
  const config = loadServerConfig({
    RABBITMQ_URL: 'amqp://127.0.0.1:1',
    REDIS_URL: 'redis://127.0.0.1:1',
    RUN_ID: RUN,
    DATASET: 'ring',
    MODEL: 'mlp',
    LIMIT: '400',
    LATENT_DIM: '2',
    CONDITIONAL: 'false',
    BATCH_SIZE: '32',
    ROUNDS: '1',
    MIN_DEVICES: '1',
    QUORUM: '1',
    OUT: out,
    LOG_LEVEL: 'error',
  });
  const captured: { task?: Uint8Array; update?: Uint8Array; blob?: Uint8Array } = {};
  const transport = new (class extends MemoryRoundTransport {
    override publishTask(...a: Parameters<MemoryRoundTransport['publishTask']>) {
      captured.task ??= a[0];
      return super.publishTask(...a);
    }
    override publishUpdate(...a: Parameters<MemoryRoundTransport['publishUpdate']>) {
      captured.update ??= a[1];
      return super.publishUpdate(...a);
    }
  })(RUN);
  const store = new (class extends MemoryBlobStore {
    override put(key: string, bytes: Uint8Array, opts?: { ttlSeconds?: number }) {
      if (key.endsWith(':r:0:discriminator')) captured.blob = bytes.slice();
      return super.put(key, bytes, opts);
    }
  })();
  const membership = new MemoryMembership(10);
  const dataset = await loadRunDataset(dataConfigOf(config));
  const spec = modelSpecFor(config, dataset);
  const devices = 2;
  const indices = shardOf(dataset, {
    scheme: config.partition,
    devices,
    index: 0,
    seed: config.seed,
    alpha: config.alpha,
    shardsPerDevice: config.shardsPerDevice,
  });
  const device = new DeviceRuntime(new DistganDevice(spec), transport, store, {
    runId: RUN,
    deviceId: 'device-0',
    data: { dataset, indices },
    blobTtlSeconds: 600,
  });
  // As services/device/src/app.ts registers.
  const registration: DeviceRegistration = {
    deviceId: 'device-0',
    instance: '0f8e4c1a-3b5d-4e6f-9a7b-2c1d0e9f8a7b',
    samples: indices.length,
    shard: 0,
    backend: 'cpu',
    digests: verifiableDigests(),
    registeredAt: Date.now(),
    identity: identityOf({ ...config, numDevices: devices }),
  };
  await membership.register(registration);
  await device.start();
  const app = new ServerApp({
    config,
    log: createLogger({ service: 'examples', level: 'error' }),
    transport,
    store,
    membership,
    checkpoints: directoryCheckpointStore(join(out, 'checkpoints'), RUN),
    ready: () => Promise.resolve({ ready: true, detail: {} }),
  });
  try {
    await app.start({ listen: false });
    await app.finished();
  } finally {
    await app.stop();
    await device.stop();
    device.method.dispose();
    rmSync(out, { recursive: true, force: true });
  }
  const record = await membership.run();
  const { task, update, blob } = captured;
  if (!task || !update || !blob || !record) throw new Error('the example round did not complete');
  const parsedTask = JSON.parse(Buffer.from(task).toString()) as { round: number };
  // As the device runtime declines a task whose input it refuses (another LATENT_DIM or model).
  const declined: TaskDeclined = {
    type: 'TaskDeclined',
    version: PROTOCOL_VERSION,
    runId: RUN,
    round: parsedTask.round,
    deviceId: 'device-0',
    reason: new BlobIntegrityError(
      'shape-mismatch',
      'tensor "d/dense0/kernel" has shape [2, 256], expected [2, 128] (a different model?)',
      { run: RUN, round: parsedTask.round, device: 'device-0' },
    ).message,
    sentAt: Date.now(),
  };
  const headerLength = new DataView(blob.buffer, blob.byteOffset).getUint32(8, true);
  const dataOffset = (44 + headerLength + 7) & ~7;
  return {
    task: pretty(task),
    update: pretty(update),
    declined: pretty(encodeMessage(declined)),
    registration: JSON.stringify(registration, null, 2),
    runRecord: JSON.stringify(record, null, 2),
    blobHeaderHex: hexLines(blob.subarray(0, dataOffset + 16)),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const e = await protocolExamples();
  const spec = (sampleShape: number[], arch: 'mlp' | 'dcgan', latentDim: number): ModelSpec => ({
    arch,
    sampleShape,
    latentDim,
  });
  for (const [title, text] of Object.entries({
    ...e,
    exampleBlob: exampleBlobHex(),
    'ring mlp generator (LATENT_DIM 2)': tensorTable(spec([2], 'mlp', 2), 'generator'),
    'ring mlp discriminator': tensorTable(spec([2], 'mlp', 2), 'discriminator'),
    'mnist mlp generator (LATENT_DIM 64)': tensorTable(spec([28, 28, 1], 'mlp', 64), 'generator'),
    'mnist mlp discriminator': tensorTable(spec([28, 28, 1], 'mlp', 64), 'discriminator'),
    'mnist dcgan generator (LATENT_DIM 64)': tensorTable(
      spec([28, 28, 1], 'dcgan', 64),
      'generator',
    ),
    'mnist dcgan discriminator': tensorTable(spec([28, 28, 1], 'dcgan', 64), 'discriminator'),
  }))
    console.log(`## ${title}\n\n${text}\n`);
}

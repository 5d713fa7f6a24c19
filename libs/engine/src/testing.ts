import {
  blobDigestHex,
  encodeMessage,
  encodeWeights,
  names,
  PROTOCOL_VERSION,
  type DeviceIdentity,
  type DigestAlgorithm,
  type FlatWeights,
  type RoundTask,
} from '@distgan/protocol';
import type { LocalTraining } from './coordinator.js';
import type { BlobStore } from './blob-store.js';
import type { RoundInbox, RoundTransport } from './round-transport.js';

/** A device identity for tests (MNIST, DCGAN, 4 IID shards): override what a test is about. */
export function testIdentity(overrides: Partial<DeviceIdentity> = {}): DeviceIdentity {
  return {
    protocol: PROTOCOL_VERSION,
    method: 'distgan',
    dataset: 'mnist',
    model: 'dcgan',
    modelWidth: 32,
    latentDim: 64,
    seed: 1,
    limit: 0,
    ringStd: 0.1,
    partition: 'iid',
    alpha: 0.5,
    shardsPerDevice: 2,
    numDevices: 4,
    ...overrides,
  };
}

/**
 * For tests of devices (`@distgan/engine/testing`): stores a GAN's θ and φ as round `round`'s
 * distgan inputs and publishes that round's task to every device, as a coordinator's broadcast does;
 * returns the round's inbox, where the devices' updates arrive.
 */
export async function publishRoundTask(o: {
  transport: RoundTransport;
  store: BlobStore;
  /** θ and φ: the global generator's and discriminator's weights. */
  weights: { generator: FlatWeights; discriminator: FlatWeights };
  round?: number;
  participants: string[];
  training: LocalTraining;
  digest?: DigestAlgorithm;
}): Promise<RoundInbox> {
  const t = o.round ?? 0;
  const n = names(o.transport.runId);
  const encode = o.digest ? { digest: o.digest } : {};
  const g = encodeWeights(o.weights.generator, encode);
  const d = encodeWeights(o.weights.discriminator, encode);
  const keys = { g: n.roundBlobKey(t, 'generator'), d: n.roundBlobKey(t, 'discriminator') };
  await o.store.put(keys.g, g);
  await o.store.put(keys.d, d);
  const inbox = await o.transport.openRound(t);
  const task: RoundTask = {
    type: 'RoundTask',
    version: PROTOCOL_VERSION,
    runId: o.transport.runId,
    round: t,
    method: 'distgan',
    schedule: 'serial',
    inputs: {
      generator: { key: keys.g, digest: blobDigestHex(g) },
      discriminator: { key: keys.d, digest: blobDigestHex(d) },
    },
    outputs: ['discriminator'],
    replyTo: inbox.name,
    deadlineAt: Date.now() + 60_000,
    issuedAt: Date.now(),
    training: o.training,
    seed: 1,
    participants: o.participants,
  };
  await o.transport.publishTask(encodeMessage(task), { kind: 'all' });
  return inbox;
}

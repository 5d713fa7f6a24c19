/**
 * A worker thread of the embedded run (see device-threads.ts): hosts some device runtimes, with
 * the transport and the blob store as proxies of the main thread's.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '@distgan/gan';
import type { BlobStore, InboundMessage, RoundTransport } from '@distgan/engine';
import { errorFromWire, setDigestAlgorithm } from '@distgan/protocol';
import {
  createDevice,
  outcomeToWire,
  type MainMessage,
  type WorkerRequest,
  type WorkerSetup,
} from './device-threads.js';

const setup = workerData as WorkerSetup;
const port = parentPort!;
const send = (m: WorkerRequest): void => port.postMessage(m);

let nextId = 0;
const calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
type Request = Extract<WorkerRequest, { id: number }>;
type DistributiveOmitId<T> = T extends unknown ? Omit<T, 'id'> : never;
function call(m: DistributiveOmitId<Request>): Promise<unknown> {
  const id = nextId++;
  return new Promise<unknown>((resolve, reject) => {
    calls.set(id, { resolve, reject });
    send({ ...m, id } as WorkerRequest);
  });
}

const handlers = new Map<string, (msg: InboundMessage) => Promise<void>>();

const store: BlobStore = {
  get: async (key) => (await call({ op: 'get', key })) as Uint8Array | null,
  put: async (key, bytes, opts) => {
    // Copied, not transferred: the caller may still read the bytes (for their digest).
    await call({ op: 'put', key, bytes, ttlSeconds: opts?.ttlSeconds });
  },
  delete: () => Promise.reject(new Error('devices do not delete blobs')),
  close: async () => {},
};

const transport: RoundTransport = {
  runId: setup.runId,
  openRound: () => Promise.reject(new Error('devices do not open rounds')),
  publishTask: () => Promise.reject(new Error('devices do not publish tasks')),
  publishUpdate: async (replyTo, body) => {
    await call({ op: 'publishUpdate', replyTo, body });
  },
  subscribeTasks: async (deviceId, handler) => {
    handlers.set(deviceId, handler);
    await call({ op: 'subscribe', deviceId });
    // The main thread closes the real subscription; this side only forgets the handler.
    return { close: async () => void handlers.delete(deviceId) };
  },
  close: async () => {},
};

await initBackend({ forced: setup.backend, patchWasm: setup.patchWasm });
setDigestAlgorithm(setup.blobDigest);
const devices = setup.devices.map((device) =>
  createDevice(setup, device, transport, store, (outcome) =>
    send({ op: 'outcome', deviceId: device.id, outcome: outcomeToWire(outcome) }),
  ),
);

port.on('message', (m: MainMessage) => {
  if (m.op === 'reply') {
    const c = calls.get(m.id);
    calls.delete(m.id);
    if (m.error !== undefined) c?.reject(errorFromWire(m.error));
    else c?.resolve(m.value);
  } else if (m.op === 'task') {
    const task = m.task;
    const settle = (how: 'ack' | 'reject' | 'requeue') => (): void =>
      send({ op: 'settle', task, how });
    const handler = handlers.get(m.deviceId);
    if (!handler) return settle('requeue')();
    void handler({
      body: m.body,
      ack: settle('ack'),
      reject: settle('reject'),
      requeue: settle('requeue'),
    });
  } else if (m.op === 'stop') {
    void (async () => {
      await Promise.all(devices.map((d) => d.runtime.stop()));
      for (const d of devices) d.method.dispose();
      send({ op: 'stopped' });
    })();
  }
});

await Promise.all(devices.map((d) => d.runtime.start()));
send({ op: 'ready' });

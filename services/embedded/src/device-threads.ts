/**
 * The embedded run's devices in worker threads: each worker hosts some of the device runtimes
 * with a tfjs backend of its own, so on a machine with several cores the devices train side by
 * side while the coordinator waits. The transport and the blob store stay in the main thread
 * (the in-memory twins); the workers reach them through a small request protocol over their
 * message ports. The dataset is shared, not copied: its images live in a SharedArrayBuffer.
 *
 * Every device computes exactly what it computes in the main thread (its own trainer, seeds and
 * optimizer state, the same kernels), so a run gives the same bits either way.
 */
import { Worker } from 'node:worker_threads';
import type { Dataset } from '@distgan/data';
import type { ModelSpec } from '@distgan/gan';
import {
  errorFromWire,
  errorToWire,
  type DigestAlgorithm,
  type WireError,
} from '@distgan/protocol';
import {
  DeviceRuntime,
  type BlobStore,
  type DeviceMethod,
  type MethodName,
  type InboundMessage,
  type RoundTransport,
  type TaskOutcome,
  type TaskSubscription,
} from '@distgan/engine';
import { createDeviceMethod } from '@distgan/methods';

/** What every device of a run is made with, in the main thread and in a worker alike. */
export interface DeviceSetup {
  spec: ModelSpec;
  /** The distribution method: its device side trains (the task brings the hyper-parameters). */
  method: MethodName;
  runId: string;
  dataset: Dataset;
  blobTtlSeconds: number;
  updateDtype: 'float32' | 'float16';
}

/** What a worker is started with (its workerData). */
export interface WorkerSetup extends DeviceSetup {
  /** A TFJS_BACKEND value: the main thread's candidate ('tensorflow-gpu', 'tensorflow', 'wasm'…). */
  backend: string;
  patchWasm: boolean;
  /** The digest the main thread writes: a worker has a codec of its own, told the same. */
  blobDigest: DigestAlgorithm;
  devices: { id: string; indices: Int32Array }[];
}

/** One device: its method's side and the runtime that feeds it tasks (start it, then stop it). */
export function createDevice(
  setup: DeviceSetup,
  device: { id: string; indices: Int32Array },
  transport: RoundTransport,
  store: BlobStore,
  onOutcome: (outcome: TaskOutcome) => void,
): { method: DeviceMethod; runtime: DeviceRuntime } {
  const method = createDeviceMethod(setup.method, setup.spec);
  const runtime = new DeviceRuntime(
    method,
    transport,
    store,
    {
      runId: setup.runId,
      deviceId: device.id,
      data: { dataset: setup.dataset, indices: device.indices },
      blobTtlSeconds: setup.blobTtlSeconds,
      updateDtype: setup.updateDtype,
    },
    onOutcome,
  );
  return { method, runtime };
}

/** Worker → main. */
export type WorkerRequest =
  | { op: 'get'; id: number; key: string }
  | { op: 'put'; id: number; key: string; bytes: Uint8Array; ttlSeconds?: number }
  | { op: 'publishUpdate'; id: number; replyTo: string; body: Uint8Array }
  | { op: 'subscribe'; id: number; deviceId: string }
  | { op: 'settle'; task: number; how: 'ack' | 'reject' | 'requeue' }
  | { op: 'outcome'; deviceId: string; outcome: WireOutcome }
  | { op: 'ready' }
  | { op: 'stopped' };

/** A task's outcome as it crosses the thread boundary: a failure's error as data. */
export type WireOutcome =
  Exclude<TaskOutcome, { kind: 'failed' }> | { kind: 'failed'; error: WireError };

export const outcomeToWire = (o: TaskOutcome): WireOutcome =>
  o.kind === 'failed' ? { kind: 'failed', error: errorToWire(o.error) } : o;
export const outcomeFromWire = (o: WireOutcome): TaskOutcome =>
  o.kind === 'failed' ? { kind: 'failed', error: errorFromWire(o.error) } : o;

/** Main → worker. */
export type MainMessage =
  | { op: 'reply'; id: number; value?: unknown; error?: WireError }
  | { op: 'task'; deviceId: string; task: number; body: Uint8Array }
  | { op: 'stop' };

/** A copy of `dataset` whose images and labels are in shared memory (the same if they are). */
export function shareDataset(dataset: Dataset): Dataset {
  if (dataset.images.buffer instanceof SharedArrayBuffer) return dataset;
  const images = new Float32Array(new SharedArrayBuffer(dataset.images.byteLength));
  images.set(dataset.images);
  const labels = new Uint8Array(new SharedArrayBuffer(dataset.labels.byteLength));
  labels.set(dataset.labels);
  return { ...dataset, images, labels };
}

function spawnWorker(setup: WorkerSetup, heapMb: number): Worker {
  // A cap makes V8 collect sooner, and the blob copies a worker has finished with go with it.
  const limits = heapMb > 0 ? { resourceLimits: { maxOldGenerationSizeMb: heapMb } } : {};
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    // Run from source (tsx): the worker registers the same loader before importing its module.
    const url = new URL('./device-worker.ts', here).href;
    const boot = `import('tsx/esm/api').then((api) => { api.register(); return import(${JSON.stringify(url)}); })`;
    return new Worker(boot, { eval: true, workerData: setup, ...limits });
  }
  return new Worker(new URL('./device-worker.js', here), { workerData: setup, ...limits });
}

export interface ThreadedDevices {
  /** Stops taking tasks (the task in hand finishes), then ends the workers. */
  stop(): Promise<void>;
}

/**
 * Starts `threads` workers (at most one per device), the devices dealt among them in turn, and
 * resolves once every device listens for tasks. `onFailure` hears a worker that crashed.
 */
export async function startThreadedDevices(opts: {
  threads: number;
  /** Each worker's V8 old-generation limit in MB; 0 or absent: V8's default. */
  heapMb?: number;
  setup: Omit<WorkerSetup, 'devices'>;
  devices: { id: string; indices: Int32Array }[];
  transport: RoundTransport;
  store: BlobStore;
  onOutcome: (deviceId: string, outcome: TaskOutcome) => void;
  onFailure: (err: Error) => void;
}): Promise<ThreadedDevices> {
  const n = Math.max(1, Math.min(opts.threads, opts.devices.length));
  const groups = Array.from({ length: n }, (_, w) => opts.devices.filter((_, k) => k % n === w));
  const subscriptions: TaskSubscription[] = [];
  let stopping = false;
  // Every device fetches the same global blobs each round: each blob is copied into shared
  // memory once and that copy handed to every worker, instead of a clone for each. Keyed by the
  // stored bytes themselves (the in-memory store returns the same array to every reader), so a
  // key written again gets a new copy, and a copy lives no longer than the store keeps its blob.
  const sharedCopies = new WeakMap<Uint8Array, Uint8Array>();
  const sharedGet = async (key: string): Promise<Uint8Array | null> => {
    const v = await opts.store.get(key);
    if (!v) return null;
    let copy = sharedCopies.get(v);
    if (!copy) {
      copy = new Uint8Array(new SharedArrayBuffer(v.byteLength));
      copy.set(v);
      sharedCopies.set(v, copy);
    }
    return copy;
  };
  const workers = groups.map((devices) => {
    const heapMb = opts.heapMb ?? 0;
    const worker = spawnWorker({ ...opts.setup, devices }, heapMb);
    const pending = new Map<number, InboundMessage>();
    let nextTask = 0;
    // Answers request `id` with what `work` resolves to, or with its error (class, code, context
    // and cause kept). Values are cloned into the worker; views of shared memory stay shared.
    const answer = (id: number, work: Promise<unknown>): void => {
      work.then(
        (value) => worker.postMessage({ op: 'reply', id, value } satisfies MainMessage),
        (err: unknown) =>
          worker.postMessage({
            op: 'reply',
            id,
            error: errorToWire(err),
          } satisfies MainMessage),
      );
    };
    let resolveReady!: () => void;
    let resolveStopped!: () => void;
    const ready = new Promise<void>((r) => (resolveReady = r));
    const stopped = new Promise<void>((r) => (resolveStopped = r));
    worker.on('message', (m: WorkerRequest) => {
      switch (m.op) {
        case 'get':
          answer(m.id, sharedGet(m.key));
          break;
        case 'put':
          answer(m.id, opts.store.put(m.key, m.bytes, { ttlSeconds: m.ttlSeconds }));
          break;
        case 'publishUpdate':
          answer(m.id, opts.transport.publishUpdate(m.replyTo, m.body));
          break;
        case 'subscribe':
          answer(
            m.id,
            opts.transport
              .subscribeTasks(
                m.deviceId,
                (msg) =>
                  new Promise<void>((settled) => {
                    const task = nextTask++;
                    pending.set(task, {
                      body: msg.body,
                      ack: () => (msg.ack(), settled()),
                      reject: () => (msg.reject(), settled()),
                      requeue: () => (msg.requeue(), settled()),
                    });
                    worker.postMessage({
                      op: 'task',
                      deviceId: m.deviceId,
                      task,
                      body: msg.body,
                    } satisfies MainMessage);
                  }),
              )
              .then((s) => void subscriptions.push(s)),
          );
          break;
        case 'settle': {
          const msg = pending.get(m.task);
          pending.delete(m.task);
          msg?.[m.how]();
          break;
        }
        case 'outcome':
          opts.onOutcome(m.deviceId, outcomeFromWire(m.outcome));
          break;
        case 'ready':
          resolveReady();
          break;
        case 'stopped':
          resolveStopped();
          break;
      }
    });
    let failed = false;
    const crashed = new Promise<never>((_, reject) => {
      worker.on('error', (cause) => {
        const err =
          (cause as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY'
            ? new Error(
                `a device worker ran out of its ${heapMb} MB heap (--device-thread-heap-mb): ` +
                  "give it more, or 0 for V8's default",
                { cause },
              )
            : cause;
        failed = true;
        opts.onFailure(err);
        reject(err);
      });
      worker.on('exit', (code) => {
        // After a stop the worker is terminated on purpose (exit code 1): not a failure. After
        // an error the exit is its consequence, already reported.
        if (code !== 0 && !stopping && !failed) {
          const err = new Error(`a device worker exited with code ${code}`);
          opts.onFailure(err);
          reject(err);
        }
        resolveStopped();
        // Tasks it held go back to their queues (as a lost RabbitMQ consumer's would).
        for (const msg of pending.values()) msg.requeue();
        pending.clear();
      });
    });
    crashed.catch(() => {}); // reported through onFailure
    return { worker, ready: Promise.race([ready, crashed]), stopped };
  });
  await Promise.all(workers.map((w) => w.ready));
  return {
    stop: async () => {
      // No new tasks, then each worker finishes the task in hand and disposes its models.
      await Promise.all(subscriptions.map((s) => s.close()));
      for (const { worker } of workers) worker.postMessage({ op: 'stop' } satisfies MainMessage);
      await Promise.all(workers.map((w) => w.stopped));
      stopping = true;
      await Promise.all(workers.map(({ worker }) => worker.terminate()));
    },
  };
}

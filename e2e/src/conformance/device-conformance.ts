import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  decodeWeights,
  encodeMessage,
  encodeWeights,
  names,
  parseMessage,
  parseRecord,
  PROTOCOL_VERSION,
  type DeviceIdentity,
  type DeviceRegistration,
  type DeviceUpdate,
  type DigestAlgorithm,
  type RoundTask,
  type RunNames,
  type RunRecord,
  type TaskDeclined,
  type TensorSpec,
} from '@distgan/protocol';
import { identityMismatch, type RoundInbox } from '@distgan/engine';
import { RabbitRoundTransport, RedisBlobStore } from '@distgan/transport';
import { Rng } from '@distgan/data';

/*
 * A device conformance suite's server side (docs/protocol.md, issue #23): it plays the server of
 * a run against the real RabbitMQ and Redis, starts the device under test as a child process
 * from its command line, and looks at what the device does only from the outside: its
 * membership records in Redis, its answers on the round queues, its blobs, its exit status. Any
 * implementation in any language can be checked with it; device-conformance.int.test.ts runs it
 * against the TypeScript device and the Python example.
 */

/** A device implementation: how to start one process of it. */
export interface DeviceSubject {
  /** For test names. */
  name: string;
  command: string;
  args: readonly string[];
  /** Working directory of the process (default: the test's). */
  cwd?: string;
  /** Settings of this implementation on top of the run's (e.g. a port). */
  env?: () => Record<string, string>;
}

/** The run's settings, as the environment every device of it gets. */
export const CONFORMANCE_RUN = {
  DATASET: 'ring',
  MODEL: 'mlp',
  MODEL_WIDTH: '32',
  METHOD: 'distgan',
  LATENT_DIM: '2',
  CONDITIONAL: 'false',
  LIMIT: '400',
  RING_STD: '0.05',
  SEED: '7',
  PARTITION: 'iid',
  DEVICE_INDEX: '0',
  NUM_DEVICES: '1',
  // Short, so that renewals and expiries are seen in seconds.
  HEARTBEAT_S: '1',
  HEARTBEAT_TIMEOUT_S: '6',
  LOG_LEVEL: 'warn',
};

/** The identity the run's record carries (numDevices 0: "not known yet", as a fresh server's). */
export function runIdentity(): DeviceIdentity {
  return {
    protocol: PROTOCOL_VERSION,
    method: CONFORMANCE_RUN.METHOD,
    dataset: CONFORMANCE_RUN.DATASET,
    model: CONFORMANCE_RUN.MODEL,
    modelWidth: Number(CONFORMANCE_RUN.MODEL_WIDTH),
    latentDim: Number(CONFORMANCE_RUN.LATENT_DIM),
    seed: Number(CONFORMANCE_RUN.SEED),
    limit: Number(CONFORMANCE_RUN.LIMIT),
    ringStd: Number(CONFORMANCE_RUN.RING_STD),
    partition: CONFORMANCE_RUN.PARTITION,
    alpha: 0.5,
    shardsPerDevice: 2,
    numDevices: 0,
  };
}

/** The ring MLP's tensors, from docs/protocol.md §9.1 (kernels [in, out]). */
export function ringMlpSpecs(latentDim: number): {
  generator: TensorSpec[];
  discriminator: TensorSpec[];
} {
  const dense = (prefix: string, widths: number[]): TensorSpec[] =>
    widths.slice(1).flatMap((out, i) => [
      { name: `${prefix}/dense${i}/kernel`, shape: [widths[i]!, out] },
      { name: `${prefix}/dense${i}/bias`, shape: [out] },
    ]);
  return {
    generator: dense('g', [latentDim, 128, 128, 2]),
    discriminator: dense('d', [2, 128, 128, 1]),
  };
}

/** Glorot-uniform kernels and zero biases, as a fresh model has them. */
export function initialWeights(specs: readonly TensorSpec[], seed: number): Float32Array {
  const rng = new Rng(seed);
  const parts = specs.map((s) => {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n);
    if (s.shape.length === 2) {
      const limit = Math.sqrt(6 / (s.shape[0]! + s.shape[1]!));
      for (let i = 0; i < n; i++) v[i] = (2 * rng.next() - 1) * limit;
    }
    return v;
  });
  const all = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return all;
}

export type Answer =
  { type: 'DeviceUpdate'; message: DeviceUpdate } | { type: 'TaskDeclined'; message: TaskDeclined };

/** One task sent, and the queue its answers come to. */
export interface SentTask {
  task: RoundTask;
  inbox: RoundInbox;
  /** The discriminator sent, to tell whether the device trained it. */
  discriminator: Float32Array;
}

export interface TaskOptions {
  round: number;
  participants?: string[];
  deadlineAt?: number;
  /** Damage the stored discriminator blob after its digest is taken. */
  corrupt?: 'byte' | 'missing' | 'layout';
  localSteps?: number;
  /** Publish the task this many times (a redelivery). */
  copies?: number;
}

/**
 * The server of one conformance run: its record, its blobs, its tasks and the answers, over the
 * real brokers. Fresh names for every run, and `close` removes what it declared.
 */
export class ConformanceServer {
  readonly deviceId = 'device-0';
  readonly names: RunNames;
  readonly specs = ringMlpSpecs(Number(CONFORMANCE_RUN.LATENT_DIM));
  private readonly inboxes: RoundInbox[] = [];
  readonly processes: ChildProcess[] = [];
  /** Everything the device processes printed, for failure reports. */
  output = '';

  private constructor(
    readonly runId: string,
    readonly rabbitmqUrl: string,
    readonly redisUrl: string,
    readonly store: RedisBlobStore,
    readonly transport: RabbitRoundTransport,
  ) {
    this.names = names(runId);
  }

  static async open(rabbitmqUrl: string, redisUrl: string): Promise<ConformanceServer> {
    const store = new RedisBlobStore({ url: redisUrl });
    const runId = `conf-${randomUUID().slice(0, 8)}`;
    const transport = await RabbitRoundTransport.connect({ url: rabbitmqUrl, runId });
    const s = new ConformanceServer(runId, rabbitmqUrl, redisUrl, store, transport);
    await s.publishRun('training');
    return s;
  }

  get redis(): RedisBlobStore['client'] {
    return this.store.client;
  }

  async publishRun(status: RunRecord['status'], round = -1): Promise<void> {
    const record: RunRecord = { status, round, identity: runIdentity(), updatedAt: Date.now() };
    await this.redis.set(this.names.runKey, JSON.stringify(record));
  }

  /** Starts one process of the device under test with the run's environment. */
  startDevice(subject: DeviceSubject): ChildProcess {
    const child = spawn(subject.command, [...subject.args], {
      cwd: subject.cwd,
      env: {
        ...process.env,
        ...CONFORMANCE_RUN,
        RABBITMQ_URL: this.rabbitmqUrl,
        REDIS_URL: this.redisUrl,
        RUN_ID: this.runId,
        ...subject.env?.(),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (b: Buffer): void => {
      this.output = (this.output + b.toString()).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.processes.push(child);
    return child;
  }

  /** The device's registration, parsed (throws when it is not one). */
  async registration(): Promise<DeviceRegistration | undefined> {
    const raw = await this.redis.hget(this.names.devicesKey, this.deviceId);
    return raw ? parseRecord('DeviceRegistration', raw, { device: this.deviceId }) : undefined;
  }

  /** Why the registration's identity cannot join this run, or undefined. */
  static identityProblem(reg: DeviceRegistration): string | undefined {
    return identityMismatch(reg.identity, runIdentity());
  }

  /** The digest the device's round blobs get: one it lists, SHA-256 first (every device should). */
  static digestFor(reg: DeviceRegistration): DigestAlgorithm {
    return reg.digests.includes('sha256') ? 'sha256' : 'blake3';
  }

  /**
   * Stores a round's inputs and publishes its task to the device's queue, as the coordinator
   * does: the round queue is declared (and emptied) first, then the blobs, then the task.
   */
  async sendTask(reg: DeviceRegistration, o: TaskOptions): Promise<SentTask> {
    const t = o.round;
    const inbox = await this.transport.openRound(t);
    this.inboxes.push(inbox);
    const digest = ConformanceServer.digestFor(reg);
    const generator = initialWeights(this.specs.generator, 1000 + t);
    const discriminator = initialWeights(this.specs.discriminator, 2000 + t);
    const gBlob = encodeWeights({ specs: this.specs.generator, values: generator }, { digest });
    let dBlob = encodeWeights(
      { specs: this.specs.discriminator, values: discriminator },
      { digest },
    );
    const dDigest = Buffer.from(dBlob.subarray(12, 44)).toString('hex');
    if (o.corrupt === 'byte') {
      dBlob = dBlob.slice();
      dBlob[dBlob.length - 3]! ^= 0x40; // one bit of one weight
    } else if (o.corrupt === 'layout') {
      // A well-formed blob of another model (hidden width 64): its own digest is right.
      const other = ringMlpSpecs(2).discriminator.map((s) => ({
        ...s,
        shape: s.shape.map((d) => (d === 128 ? 64 : d)),
      }));
      dBlob = encodeWeights({ specs: other, values: initialWeights(other, 3) }, { digest });
    }
    const gKey = this.names.roundBlobKey(t, 'generator');
    const dKey = this.names.roundBlobKey(t, 'discriminator');
    await this.store.put(gKey, gBlob, { ttlSeconds: 600 });
    if (o.corrupt !== 'missing') await this.store.put(dKey, dBlob, { ttlSeconds: 600 });
    const hex = (b: Uint8Array): string => Buffer.from(b.subarray(12, 44)).toString('hex');
    const task: RoundTask = {
      type: 'RoundTask',
      version: PROTOCOL_VERSION,
      runId: this.runId,
      round: t,
      method: 'distgan',
      schedule: 'serial',
      inputs: {
        generator: { key: gKey, digest: hex(gBlob) },
        discriminator: {
          key: dKey,
          digest: o.corrupt === 'layout' ? hex(dBlob) : dDigest,
        },
      },
      outputs: ['discriminator'],
      replyTo: inbox.name,
      deadlineAt: o.deadlineAt ?? Date.now() + 60_000,
      issuedAt: Date.now(),
      training: {
        localSteps: o.localSteps ?? 3,
        batchSize: 32,
        learningRate: 0.005,
        beta1: 0.5,
        beta2: 0.999,
      },
      seed: Number(CONFORMANCE_RUN.SEED),
      participants: o.participants ?? [this.deviceId],
    };
    const body = encodeMessage(task);
    for (let i = 0; i < (o.copies ?? 1); i++)
      await this.transport.publishTask(body, { kind: 'devices', deviceIds: [this.deviceId] });
    return { task, inbox, discriminator };
  }

  /** The next answer on a round's queue, parsed (throws when it is not a valid one), or null. */
  async answer(sent: SentTask, timeoutMs: number): Promise<Answer | null> {
    const msg = await sent.inbox.receive(timeoutMs);
    if (!msg) return null;
    msg.ack();
    const m = parseMessage(msg.body, {
      runId: this.runId,
      types: ['DeviceUpdate', 'TaskDeclined'],
    }) as DeviceUpdate | TaskDeclined;
    return m.type === 'DeviceUpdate'
      ? { type: 'DeviceUpdate', message: m }
      : { type: 'TaskDeclined', message: m };
  }

  /**
   * Checks an update against its task from the outside, as the server would before averaging
   * it; returns the decoded discriminator. Throws naming the first problem.
   */
  async checkUpdate(
    sent: SentTask,
    u: DeviceUpdate,
    reg: DeviceRegistration,
  ): Promise<{ values: Float32Array; ttlSeconds: number }> {
    const t = sent.task.round;
    const fail = (why: string): never => {
      throw new Error(`round ${t}'s update: ${why}`);
    };
    if (u.round !== t) fail(`round ${u.round}, the task's is ${t}`);
    if (u.deviceId !== this.deviceId) fail(`deviceId ${u.deviceId}`);
    const names = Object.keys(u.outputs);
    if (names.join() !== sent.task.outputs.join())
      fail(`outputs [${names.join(', ')}], the task asked for [${sent.task.outputs.join(', ')}]`);
    const ref = u.outputs['discriminator']!;
    const expectedKey = this.names.deviceBlobKey(t, this.deviceId, 'discriminator');
    if (ref.key !== expectedKey) fail(`blob key ${ref.key}, expected ${expectedKey}`);
    const blob = await this.redis.getBuffer(ref.key);
    if (!blob) return fail(`its blob ${ref.key} is not in Redis`);
    if (blob.length !== ref.bytes) fail(`bytes ${ref.bytes}, the blob has ${blob.length}`);
    const ttlSeconds = await this.redis.ttl(ref.key);
    if (ttlSeconds < 0) fail(`its blob has no TTL (${ttlSeconds})`);
    // Checks the blob's own digest, the message's, the layout and that every value is finite.
    const { values } = decodeWeights(new Uint8Array(blob), {
      expect: this.specs.discriminator,
      digest: ref.digest,
      context: { run: this.runId, round: t, device: this.deviceId },
    });
    if (u.steps !== sent.task.training.localSteps)
      fail(`steps ${u.steps}, the task's localSteps ${sent.task.training.localSteps}`);
    if (u.samples !== reg.samples) fail(`samples ${u.samples}, the registration's ${reg.samples}`);
    const { d, dReal, dFake } = u.losses;
    if (Math.abs(d - (dReal + dFake)) > 1e-3 * Math.max(1, Math.abs(d)))
      fail(`losses.d ${d} is not dReal + dFake (${dReal} + ${dFake})`);
    if (dReal <= 0 || dFake <= 0) fail(`softplus terms must be positive: ${dReal}, ${dFake}`);
    let moved = 0;
    for (let i = 0; i < values.length; i++)
      moved = Math.max(moved, Math.abs(values[i]! - sent.discriminator[i]!));
    if (moved === 0) fail('its discriminator is the one it was sent: it did not train');
    return { values, ttlSeconds };
  }

  /** Waits for the process to exit; its exit code, or null for a signal; throws after timeoutMs. */
  static async exitOf(child: ChildProcess, timeoutMs: number): Promise<number | null> {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the device did not exit within ${timeoutMs} ms`)),
        timeoutMs,
      );
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
  }

  /** Kills what it started and removes the run's queues, exchanges and keys. */
  async close(): Promise<void> {
    for (const c of this.processes)
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all(
      this.processes.map((c) =>
        c.exitCode !== null || c.signalCode !== null
          ? undefined
          : new Promise((r) => c.once('exit', r)),
      ),
    );
    for (const i of this.inboxes) await i.close().catch(() => {});
    await this.transport.deleteRunTopology([this.deviceId]).catch(() => {});
    await this.transport.close();
    const keys = await this.redis.keys(`distgan:${this.runId}:*`);
    if (keys.length > 0) await this.redis.del(...keys);
    await this.store.close();
  }
}

/** Polls `f` until it returns a value (not undefined), every 100 ms; throws after timeoutMs. */
export async function waitFor<T>(
  what: string,
  f: () => Promise<T | undefined>,
  timeoutMs: number,
  detail: () => string = () => '',
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) {
      const why = last instanceof Error ? ` (last: ${last.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}\n${detail()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

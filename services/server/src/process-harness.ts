import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RabbitRoundTransport } from '@distgan/transport';

/*
 * Runs the server and device services as child processes for the distributed suites, against
 * the RabbitMQ and Redis named by RABBITMQ_URL and REDIS_URL (default: the local services).
 */
export const RABBITMQ_URL = process.env['RABBITMQ_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
export const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
export const describeServices = (): string =>
  `RabbitMQ at ${RABBITMQ_URL.replace(/:[^:@/]+@/, ':***@')} and Redis at ${REDIS_URL}`;

export const SERVER = fileURLToPath(new URL('./main.ts', import.meta.url));
export const DEVICE = fileURLToPath(new URL('../../device/src/main.ts', import.meta.url));
export const children: ChildProcess[] = [];

export const RUN = {
  DATASET: 'ring',
  MODEL: 'mlp',
  RING_STD: '0.1',
  LIMIT: '2000',
  LATENT_DIM: '2',
  CONDITIONAL: 'false',
  BATCH_SIZE: '32',
  LR_D: '2e-4',
  LR_G: '2e-4',
  BETA1: '0.5',
  BETA2: '0.999',
  SEED: '3',
  LOG_LEVEL: 'warn',
};

export function uniqueRun(label: string): string {
  return `dt-${label}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}

// Below Linux's ephemeral range (32768 and up by default): a port from there can be taken by one
// of the many outgoing connections (RabbitMQ, Redis) between choosing it and the child's listen.
// A port something already listens on is skipped: RabbitMQ's distribution port 25672 is in range.
let nextPortValue = 20_000 + Math.floor(Math.random() * 12_000);
export const nextPort = (): number => {
  const taken = listeningPorts();
  while (taken.has(nextPortValue)) nextPortValue++;
  return nextPortValue++;
};

/** The TCP ports with a listening socket on this host (Linux's /proc/net; empty elsewhere). */
function listeningPorts(): Set<number> {
  const ports = new Set<number>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // local_address is HEXIP:HEXPORT; state 0A is LISTEN.
      if (cols[3] === '0A') ports.add(parseInt(cols[1]!.split(':').pop()!, 16));
    }
  }
  return ports;
}

/** Per run: the broker its processes used and the device queues they declared. */
const topologies = new Map<string, { rabbitmqUrl: string; devices: Set<string> }>();

export function start(script: string, env: Record<string, string>): ChildProcess {
  const runId = env['RUN_ID'];
  if (runId) {
    const t = topologies.get(runId) ?? {
      rabbitmqUrl: env['RABBITMQ_URL'] ?? RABBITMQ_URL,
      devices: new Set<string>(),
    };
    if (script === DEVICE && (env['DEVICE_ID'] || env['DEVICE_INDEX']))
      t.devices.add(env['DEVICE_ID'] || `device-${env['DEVICE_INDEX']}`);
    topologies.set(runId, t);
  }
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', script], {
    env: { ...process.env, RABBITMQ_URL, REDIS_URL, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  // Logs go to stdout; keep the tail of both for the report of a crash.
  const keep = (d: Buffer): void => {
    stderr = (stderr + d.toString()).slice(-20_000);
    tails.set(child, stderr);
  };
  child.stderr?.on('data', keep);
  child.stdout?.on('data', keep);
  child.on('exit', (code) => {
    if (code && code !== 0 && !child.killed)
      console.error(`${script} exited ${code}: ${stderr.slice(-2000)}`);
  });
  children.push(child);
  scriptOf.set(
    child,
    `${script.split('/').slice(-3, -2)[0] ?? script} ${env['DEVICE_ID'] ?? env['DEVICE_INDEX'] ?? ''}`.trim(),
  );
  return child;
}

/** The last output of every process started, for the report of a wait that timed out. */
const tails = new Map<ChildProcess, string>();
const scriptOf = new Map<ChildProcess, string>();

function lastOutput(lines = 15): string {
  return [...tails]
    .slice(-10)
    .map(([child, text]) => {
      const tail = text.trimEnd().split('\n').slice(-lines).join('\n  ');
      return `--- ${scriptOf.get(child) ?? 'process'} (pid ${child.pid}, ${child.exitCode === null ? 'running' : `exited ${child.exitCode}`}):\n  ${tail}`;
    })
    .join('\n');
}

/** A process's exit code, once it has exited (at once if it already has); null for a signal. */
export function exitOf(c: ChildProcess): Promise<number | null> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve(c.exitCode);
  return new Promise((r) => c.once('exit', (code) => r(code)));
}

export async function until<T>(
  what: string,
  f: () => Promise<T | undefined>,
  timeoutMs = 120_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch {
      /* not up yet */
    }
    if (Date.now() > end) {
      // What the services said last is what tells why nothing happened.
      throw new Error(`timed out waiting for ${what}\n${lastOutput()}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function runDistributed(
  runId: string,
  env: Record<string, string>,
  devices: number,
  /** Settings of device k only, on top of `env`. */
  deviceEnv: (k: number) => Record<string, string> = () => ({}),
): Promise<{
  port: number;
  out: string;
  server: ChildProcess;
  devices: ChildProcess[];
  devicePorts: number[];
}> {
  const out = mkdtempSync(join(tmpdir(), 'distgan-dist-'));
  const port = nextPort();
  const server = start(SERVER, {
    ...RUN,
    ...env,
    RUN_ID: runId,
    PORT: String(port),
    OUT: out,
    MIN_DEVICES: String(Math.max(1, devices)),
  });
  const devicePorts = Array.from({ length: devices }, () => nextPort());
  const devs = Array.from({ length: devices }, (_, k) =>
    start(DEVICE, {
      ...RUN,
      ...env,
      RUN_ID: runId,
      DEVICE_INDEX: String(k),
      NUM_DEVICES: String(devices),
      PORT: String(devicePorts[k]),
      ...deviceEnv(k),
    }),
  );
  return { port, out, server, devices: devs, devicePorts };
}

export async function api(
  port: number,
): Promise<{ status: string; round: number; devices: { alive: boolean }[] }> {
  const r = await fetch(`http://127.0.0.1:${port}/api/run`);
  return (await r.json()) as { status: string; round: number; devices: { alive: boolean }[] };
}

export function metric(text: string, name: string): number {
  const line = text
    .split('\n')
    .find(
      (l) => l.startsWith(name + ' ') || (l.startsWith(name + '{') && l.split(' ')[0] === name),
    );
  if (!line) throw new Error(`metric ${name} not found`);
  return Number(line.split(' ').at(-1));
}

/** Kills every child started by `start`. */
export function killAll(signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const c of children) c.kill(signal);
}

/**
 * Kills every child and deletes the queues and exchanges of every run they took part in: device
 * queues are durable quorum queues, and a broker shared by many test runs would otherwise keep
 * them all (each holds file descriptors; past the broker's limit, connections hang).
 */
export async function tearDown(): Promise<void> {
  killAll();
  await Promise.all(
    children.map((c) =>
      c.exitCode !== null || c.signalCode !== null
        ? undefined
        : new Promise((r) => c.once('exit', r)),
    ),
  );
  for (const [runId, t] of topologies) {
    const transport = await RabbitRoundTransport.connect({
      url: t.rabbitmqUrl,
      runId,
      initialMaxRetries: 1,
    }).catch(() => undefined);
    await transport?.deleteRunTopology([...t.devices]).catch(() => {});
    await transport?.close();
  }
  topologies.clear();
}

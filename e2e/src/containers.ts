import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import {
  GenericContainer,
  getContainerRuntimeClient,
  Wait,
  type StartedTestContainer,
} from 'testcontainers';
import { ROOT } from './images.js';

/*
 * The end-to-end suite's containers: started and stopped with testcontainers on the host network
 * (the only network here), labelled with the suite's id so that teardown can find every one of
 * them, pass or fail, and with their logs kept in .test-artifacts/e2e-containers/.
 */

// Every container runs on the host network, so the engine's containers are reached at 127.0.0.1
// (testcontainers otherwise looks the host up on the bridge network, which does not exist here).
// Its reaper (Ryuk) is an image to pull: the suite removes its own containers instead (Fleet).
process.env['TESTCONTAINERS_HOST_OVERRIDE'] ??= '127.0.0.1';
process.env['TESTCONTAINERS_RYUK_DISABLED'] ??= 'true';

type EngineClient = Awaited<ReturnType<typeof getContainerRuntimeClient>>['container'];
/** dockerode's container handle and listing entry, as testcontainers' client hands them out. */
type Container = ReturnType<EngineClient['getById']>;
type ContainerInfo = Awaited<ReturnType<EngineClient['list']>>[number];

/** A GenericContainer that can also run on a read-only root file system, as the chart runs it. */
class AppContainer extends GenericContainer {
  withReadOnlyRootFs(): this {
    this.hostConfig.ReadonlyRootfs = true;
    return this;
  }
}

/** A port on 127.0.0.1 that nothing listens on, below the ephemeral range. */
let candidate = 21_000 + Math.floor(Math.random() * 10_000);
export async function freePort(): Promise<number> {
  for (;;) {
    const port = candidate++;
    const free = await new Promise<boolean>((done) => {
      const s = createServer();
      s.once('error', () => done(false));
      s.listen(port, '127.0.0.1', () => s.close(() => done(true)));
    });
    if (free) return port;
  }
}

export interface StartOptions {
  name: string;
  image: string;
  env?: Record<string, string>;
  /** As the chart runs the services: read-only root, /tmp on tmpfs, no capabilities. */
  hardened?: boolean;
  binds?: { source: string; target: string; mode?: 'ro' | 'rw' }[];
}

export class Fleet {
  readonly id = `e2e-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
  readonly label = 'org.distgan.e2e-suite';
  private readonly logsDir = join(ROOT, '.test-artifacts', 'e2e-containers', this.id);
  private readonly logs: WriteStream[] = [];
  private readonly tails = new Map<string, string>();
  private count = 0;

  constructor() {
    mkdirSync(this.logsDir, { recursive: true });
  }

  /**
   * Starts a container of the suite, ready once its image's own HEALTHCHECK passes (run every
   * second instead of at its interval).
   */
  async start(o: StartOptions): Promise<StartedTestContainer> {
    const name = `distgan-${this.id}-${o.name}-${++this.count}`;
    const file = createWriteStream(join(this.logsDir, `${o.name}-${this.count}.log`));
    this.logs.push(file);
    let c = new AppContainer(o.image)
      .withName(name)
      .withNetworkMode('host')
      .withLabels({ [this.label]: this.id })
      .withEnvironment(o.env ?? {})
      .withStartupTimeout(120_000)
      .withLogConsumer((stream) => {
        stream.on('data', (d: Buffer | string) => {
          file.write(d);
          this.tails.set(o.name, ((this.tails.get(o.name) ?? '') + d.toString()).slice(-6000));
        });
      });
    if (o.binds) c = c.withBindMounts(o.binds.map((b) => ({ mode: 'rw' as const, ...b })));
    if (o.hardened) {
      c = c
        .withReadOnlyRootFs()
        .withTmpFs({ '/tmp': 'rw,noexec,nosuid,size=256m' })
        .withDroppedCapabilities('ALL')
        .withSecurityOpt('no-new-privileges');
    }
    const test = await imageHealthCheck(o.image);
    c = c
      .withHealthCheck({ test, interval: 1000, timeout: 3000, retries: 3, startPeriod: 0 })
      .withWaitStrategy(Wait.forHealthCheck());
    try {
      return await c.start();
    } catch (err) {
      // A container that never became ready still exists: teardown finds it by its label.
      throw new Error(`${o.name} did not start: ${(err as Error).message}\n${this.tail(o.name)}`, {
        cause: err,
      });
    }
  }

  /** The last lines a service's containers wrote. */
  tail(name: string): string {
    return this.tails.get(name) ?? '';
  }

  /** `docker kill`: SIGKILL, no grace. The container stays until teardown. */
  async kill(c: StartedTestContainer): Promise<void> {
    await (await engineContainer(c)).kill();
  }

  /**
   * `docker pause`. The cgroup-v1 freezer can give up on a busy container ("unable to freeze")
   * and succeed a moment later (seen here on the server mid-round): a few tries.
   */
  async pause(c: StartedTestContainer): Promise<void> {
    const container = await engineContainer(c);
    for (let attempt = 1; ; attempt++) {
      try {
        await container.pause();
        return;
      } catch (err) {
        if (attempt >= 5 || !/unable to freeze/.test((err as Error).message)) throw err;
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
  }

  async unpause(c: StartedTestContainer): Promise<void> {
    await (await engineContainer(c)).unpause();
  }

  async inspect(c: StartedTestContainer): Promise<{
    user: string;
    readOnly: boolean;
    health?: string;
    running: boolean;
    exitCode: number;
  }> {
    const i = await (await engineContainer(c)).inspect();
    return {
      user: i.Config.User,
      readOnly: i.HostConfig.ReadonlyRootfs === true,
      health: i.State.Health?.Status,
      running: i.State.Running,
      exitCode: i.State.ExitCode,
    };
  }

  /** Stops and removes every container of this suite (by its label), whatever state it is in. */
  async tearDown(): Promise<void> {
    const client = await getContainerRuntimeClient();
    for (const info of await this.listed()) {
      const c = client.container.dockerode.getContainer(info.Id);
      await c.unpause().catch(() => {});
      await c.remove({ force: true, v: true }).catch(() => {});
    }
    for (const f of this.logs) f.end();
  }

  /** Every container of this suite, stopped or not, by the engine's own listing. */
  async leftOver(): Promise<string[]> {
    return (await this.listed()).map((c) => `${c.Names.join(',')} (${c.State})`);
  }

  private async listed(): Promise<ContainerInfo[]> {
    const client = await getContainerRuntimeClient();
    return client.container.dockerode.listContainers({
      all: true,
      filters: { label: [`${this.label}=${this.id}`] },
    });
  }
}

/** The engine's handle on a started container (dockerode's, for what testcontainers lacks). */
async function engineContainer(c: StartedTestContainer): Promise<Container> {
  return (await getContainerRuntimeClient()).container.getById(c.getId());
}

/** The image's own HEALTHCHECK command, as its Dockerfile declares it. */
async function imageHealthCheck(
  image: string,
): Promise<['CMD-SHELL', string] | ['CMD', ...string[]]> {
  const client = await getContainerRuntimeClient();
  const info = await client.container.dockerode.getImage(image).inspect();
  const test = info.Config.Healthcheck?.Test;
  const [kind, ...args] = test ?? [];
  if (kind === 'CMD') return ['CMD', ...args];
  if (kind === 'CMD-SHELL' && args.length === 1) return ['CMD-SHELL', args[0]!];
  throw new Error(`${image} declares no usable HEALTHCHECK (${JSON.stringify(test)})`);
}

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StartedTestContainer } from 'testcontainers';
import type { Fleet } from './containers.js';

/** Where Prometheus runs: a process of Debian's package, or a container of the suite's image. */
export type PrometheusHost =
  { kind: 'process' } | { kind: 'container'; fleet: Fleet; image: string };

/** The folder of the configuration inside the container image (see e2e/images/prometheus). */
const CONTAINER_DIR = '/etc/distgan-prometheus';

/**
 * A real Prometheus (Debian's `prometheus` package) scraping the run's processes every second,
 * with its targets in a file that the suite rewrites as devices come and go.
 */
export class Prometheus {
  private readonly dir = mkdtempSync(join(tmpdir(), 'distgan-prom-'));
  private child: ChildProcess | undefined;
  private container: StartedTestContainer | undefined;
  readonly url: string;

  constructor(
    readonly port: number,
    private readonly host: PrometheusHost = { kind: 'process' },
  ) {
    this.url = `http://127.0.0.1:${port}`;
    // The container's prometheus user reads the configuration through a bind mount.
    chmodSync(this.dir, 0o755);
  }

  /** Where Prometheus itself sees the configuration folder. */
  private get configDir(): string {
    return this.host.kind === 'container' ? CONTAINER_DIR : this.dir;
  }

  static available(): boolean {
    return spawnSync('prometheus', ['--version'], { stdio: 'ignore' }).status === 0;
  }

  setTargets(targets: { port: number; job: string }[]): void {
    const groups = ['server', 'device'].map((job) => ({
      targets: targets.filter((t) => t.job === job).map((t) => `127.0.0.1:${t.port}`),
      labels: { job: `distgan-${job}` },
    }));
    const tmp = join(this.dir, 'targets.json.tmp');
    writeFileSync(tmp, JSON.stringify(groups), { mode: 0o644 });
    renameSync(tmp, join(this.dir, 'targets.json'));
  }

  async start(targets: { port: number; job: string }[]): Promise<void> {
    this.setTargets(targets);
    writeFileSync(
      join(this.dir, 'prometheus.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'scrape_configs:',
        '  - job_name: distgan',
        '    file_sd_configs:',
        `      - files: ['${join(this.configDir, 'targets.json')}']`,
        '        refresh_interval: 1s',
        '',
      ].join('\n'),
      { mode: 0o644 },
    );
    if (this.host.kind === 'container') {
      this.container = await this.host.fleet.start({
        name: 'prometheus',
        image: this.host.image,
        env: { PROMETHEUS_ADDRESS: `127.0.0.1:${this.port}` },
        binds: [{ source: this.dir, target: CONTAINER_DIR, mode: 'ro' }],
      });
    } else {
      this.child = spawn(
        'prometheus',
        [
          `--config.file=${join(this.dir, 'prometheus.yml')}`,
          `--storage.tsdb.path=${join(this.dir, 'data')}`,
          `--web.listen-address=127.0.0.1:${this.port}`,
          '--log.level=warn',
        ],
        { stdio: 'ignore' },
      );
    }
    for (let i = 0; i < 150; i++) {
      try {
        if ((await fetch(`${this.url}/-/ready`)).ok) return;
      } catch {
        /* not up yet */
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error('Prometheus did not become ready');
  }

  /** An instant PromQL query: the values of its series (empty when none). */
  async query(expr: string): Promise<{ labels: Record<string, string>; value: number }[]> {
    const r = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await r.json()) as {
      status: string;
      error?: string;
      data: { result: { metric: Record<string, string>; value: [number, string] }[] };
    };
    if (body.status !== 'success') throw new Error(`PromQL ${expr}: ${body.error}`);
    return body.data.result.map((s) => ({ labels: s.metric, value: Number(s.value[1]) }));
  }

  /** One number from a query that yields one series, or undefined. */
  async scalar(expr: string): Promise<number | undefined> {
    const [first] = await this.query(expr);
    return first?.value;
  }

  /** The samples of a series over the last `seconds`, oldest first. */
  async range(expr: string, seconds: number): Promise<number[]> {
    const end = Date.now() / 1000;
    const r = await fetch(
      `${this.url}/api/v1/query_range?query=${encodeURIComponent(expr)}&start=${end - seconds}&end=${end}&step=1`,
    );
    const body = (await r.json()) as {
      status: string;
      data: { result: { values: [number, string][] }[] };
    };
    if (body.status !== 'success') throw new Error(`PromQL range ${expr} failed`);
    return (body.data.result[0]?.values ?? []).map((v) => Number(v[1]));
  }

  /** `promtool check metrics` on an exposition text: its exit status and what it printed. */
  async checkMetrics(text: string): Promise<{ status: number; output: string }> {
    if (this.host.kind === 'container' && this.container) {
      writeFileSync(join(this.dir, 'metrics.txt'), text, { mode: 0o644 });
      const r = await this.container.exec([
        'sh',
        '-c',
        `promtool check metrics < ${CONTAINER_DIR}/metrics.txt`,
      ]);
      return { status: r.exitCode, output: r.output };
    }
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
  }

  /** Stops the process (a container is the fleet's to remove) and removes its files. */
  stop(): void {
    this.child?.kill('SIGTERM');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

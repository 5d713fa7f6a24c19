import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real Prometheus (Debian's `prometheus` package) scraping the run's processes every second,
 * with its targets in a file that the suite rewrites as devices come and go.
 */
export class Prometheus {
  private readonly dir = mkdtempSync(join(tmpdir(), 'distgan-prom-'));
  private child: ChildProcess | undefined;
  readonly url: string;

  constructor(readonly port: number) {
    this.url = `http://127.0.0.1:${port}`;
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
    writeFileSync(tmp, JSON.stringify(groups));
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
        `      - files: ['${join(this.dir, 'targets.json')}']`,
        '        refresh_interval: 1s',
        '',
      ].join('\n'),
    );
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
    for (let i = 0; i < 100; i++) {
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

  stop(): void {
    this.child?.kill('SIGTERM');
  }
}

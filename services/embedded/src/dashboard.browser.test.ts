// The live dashboard in a real headless Chromium during a short real embedded run: the round
// counter, the charts and the sample grid move; a dropped stream shows "reconnecting…" and
// comes back live and caught up; the page says when the run is waiting or finished.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import { DashboardHub, registerDashboard, type DashboardSnapshot } from '@distgan/dashboard';
import { DEFAULTS } from './config.js';

// Functions given to page.waitForFunction and page.evaluate run in the page (Playwright sends
// their source); these declarations only type them, without the DOM library in this project.
interface PageElement {
  textContent: string | null;
  dataset: Record<string, string | undefined>;
  getAttribute(name: string): string | null;
  /** Images only. */
  complete?: boolean;
  naturalWidth?: number;
}
declare const document: { getElementById(id: string): PageElement | null };
declare function requestAnimationFrame(callback: () => void): number;

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const ARTIFACTS = fileURLToPath(new URL('../../../.test-artifacts/', import.meta.url));
const CHROMIUM = process.env['CHROMIUM_PATH'] || '/usr/bin/chromium';
const ROUNDS = 80;
const WAIT_MS = 30_000;

function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `the browser tests need Chromium at ${CHROMIUM}: install Debian's package ` +
        '(apt-get install chromium; .ci/run does) or set CHROMIUM_PATH to a Chromium binary',
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // As root (CI) Chromium's sandbox cannot start; /dev/shm is small in containers.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}

/** The embedded CLI, as `npm start` runs it, with its dashboard on a free port. */
function startRun(out: string): Promise<{ child: ChildProcess; url: string; log: () => string }> {
  const child = spawn(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      'tsx',
      MAIN,
      ...['--rounds', String(ROUNDS), '--devices', '3', '--limit', '1500'],
      ...['--sample-every', '4', '--sample-count', '36', '--eval-every', '10'],
      ...['--eval-samples', '300', '--out', out, '--run-id', 'browser-test'],
      ...['--dashboard-port', '0', '--no-progress'],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const m = /^dashboard: (http:\/\/\S+)$/m.exec(output);
      if (m?.[1]) resolve({ child, url: m[1], log: () => output });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) =>
      reject(new Error(`the run exited (${code}) before it printed its dashboard:\n${output}`)),
    );
  });
}

/**
 * A TCP relay between the browser and the dashboard: `drop()` cuts every connection and refuses
 * new ones, as a restarting proxy or a lost network would; `restore()` lets them through again.
 * It keeps listening while dropped (a refused connection is closed at once): a port given up
 * for the drop is free for any other socket on the machine to take before `restore()`.
 */
class Relay {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private dropped = false;
  private onConnection: (() => void) | undefined;
  port = 0;

  constructor(private readonly target: number) {
    this.server = createServer((client) => {
      if (this.dropped) {
        client.destroy();
        return;
      }
      this.onConnection?.();
      const upstream = connect(this.target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
  }

  async open(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as { port: number }).port;
  }

  drop(): void {
    this.dropped = true;
    for (const s of this.sockets) s.destroy();
  }

  /** Lets connections through again; resolves when the first one comes. */
  restore(): Promise<void> {
    this.dropped = false;
    return new Promise((resolve) => {
      this.onConnection = () => {
        this.onConnection = undefined;
        resolve();
      };
    });
  }

  close(): Promise<void> {
    this.drop();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const text = (page: Page, selector: string): Promise<string> => page.locator(selector).innerText();

const roundShown = async (page: Page): Promise<number> => Number(await text(page, '#round'));

/**
 * Resolves after the page's next animation frame: the page draws what its events changed in a
 * frame (the round, the charts), so what arrived before this call is on the page after it.
 */
const nextFrame = (page: Page): Promise<void> =>
  page.evaluate(() => new Promise<void>((resolve) => requestAnimationFrame(() => resolve())));

/** Waits until the page's round counter passes `round`. */
async function roundPasses(page: Page, round: number): Promise<number> {
  await page.waitForFunction(
    (r) => Number(document.getElementById('round')?.textContent) > r,
    round,
    { timeout: WAIT_MS },
  );
  return roundShown(page);
}

const points = (page: Page, id: string): Promise<number> =>
  page.evaluate((i) => Number(document.getElementById(i)?.dataset['points']), id);

async function snapshotOf(url: string): Promise<DashboardSnapshot> {
  const r = await fetch(new URL('/api/dashboard', url));
  return (await r.json()) as DashboardSnapshot;
}

describe('the live dashboard in a browser', { timeout: 120_000 }, () => {
  let browser: Browser;
  let page: Page;
  let run: Awaited<ReturnType<typeof startRun>>;
  let relay: Relay;
  let pageUrl: string;
  const pageErrors: string[] = [];

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await launchBrowser();
    run = await startRun(mkdtempSync(join(tmpdir(), 'distgan-browser-')));
    relay = new Relay(Number(new URL(run.url).port));
    await relay.open();
    pageUrl = `http://127.0.0.1:${relay.port}/`;
    page = await browser.newPage({ viewport: { width: 1400, height: 1500 } });
    page.on('pageerror', (err) => pageErrors.push(err.message));
  });

  after(async () => {
    await browser?.close();
    await relay?.close();
    if (run?.child.exitCode === null) run.child.kill('SIGKILL');
  });

  it('shows the run live: the round, the charts, the grid and the devices move', async () => {
    await page.goto(pageUrl);
    await page.waitForSelector('#connection[data-state="live"]', { timeout: WAIT_MS });
    assert.equal(await text(page, '#rounds'), String(ROUNDS));
    assert.match(await text(page, '#run-id'), /browser-test/);

    const r1 = await roundPasses(page, 0);
    const losses1 = await points(page, 'loss-chart');
    const phases1 = await points(page, 'phase-chart');
    await page.waitForSelector('#grid-latest:not([hidden])', { timeout: WAIT_MS });
    const grid1 = await page.locator('#grid-latest').getAttribute('src');

    const r2 = await roundPasses(page, r1 + 4);
    assert.ok((await points(page, 'loss-chart')) > losses1, 'the loss chart grew');
    assert.ok((await points(page, 'phase-chart')) > phases1, 'the phase chart grew');
    await page.waitForFunction(
      (src) => document.getElementById('grid-latest')?.getAttribute('src') !== src,
      grid1,
      { timeout: WAIT_MS },
    );
    // The image really loaded (a PNG the server kept), not a broken link.
    await page.waitForFunction(
      () => {
        const img = document.getElementById('grid-latest');
        return img?.complete === true && (img.naturalWidth ?? 0) > 0;
      },
      undefined,
      { timeout: WAIT_MS },
    );
    assert.ok(r2 > r1);

    // FID every 10 rounds: two points before the screenshot, so it shows a line.
    await page.waitForFunction(
      () => Number(document.getElementById('fid-chart')?.dataset['points']) >= 2,
      undefined,
      { timeout: WAIT_MS },
    );
    assert.match(await text(page, '#fid-latest'), /latest \d+/);
    assert.match(await text(page, '#phase-legend'), /device compute [\d.]+ ms/);
    assert.ok((await page.locator('#grid-strip img').count()) >= 1, 'a strip of earlier grids');

    const rows = page.locator('#devices tbody tr');
    assert.equal(await rows.count(), 3);
    const first = await rows.first().locator('td').allInnerTexts();
    assert.equal(first[0], 'device-0');
    assert.equal(first[1], '500', 'samples of its shard');
    assert.ok(Number(first[2]) >= r1, `last round answered: ${first[2]}`);
    assert.match(first[3] ?? '', /^\d+$/, 'update latency');
    assert.match(await text(page, '#config'), new RegExp(`batchSize\\s+${DEFAULTS.batchSize}`));

    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    assert.deepEqual(pageErrors, [], 'the page threw');
  });

  it('a dropped stream shows "reconnecting…", then live again and caught up', async () => {
    // The run is held (SIGSTOP) except where the test waits for it to move: a run that ended
    // while the stream was down, however slow the browser, would leave nothing to reconnect to.
    const hold = (held: boolean): void => void run.child.kill(held ? 'SIGSTOP' : 'SIGCONT');
    hold(true);
    try {
      relay.drop();
      await page.waitForSelector('#banner:not([hidden])', { timeout: WAIT_MS });
      assert.match(await text(page, '#banner'), /reconnecting…/);
      assert.equal(await text(page, '#connection'), 'reconnecting…');
      // A round that arrived just before the drop may not be drawn yet: it is after this frame.
      await nextFrame(page);
      const frozen = await roundShown(page);

      // The run goes on meanwhile; the page must catch up from the next snapshot.
      hold(false);
      let server = await snapshotOf(run.url);
      while (server.round + 1 < frozen + 3 && server.status === 'training') {
        await new Promise((r) => setTimeout(r, 100)); // polling the server's state, not a wait
        server = await snapshotOf(run.url);
      }
      hold(true);
      await nextFrame(page);
      assert.equal(await roundShown(page), frozen, 'no updates while the stream is down');
      // The run moves again once the page has reconnected (the browser retries after 2 s).
      await relay.restore();
      hold(false);

      await page.waitForSelector('#connection[data-state="live"]', { timeout: WAIT_MS });
      // The badge turns live as the snapshot arrives; the round and charts are drawn a frame
      // later: wait for them, every round on the chart (the snapshot's history, not only the
      // events since the reconnection).
      await page.waitForFunction(
        (n) => {
          const shown = Number(document.getElementById('round')?.textContent);
          const plotted = Number(document.getElementById('loss-chart')?.dataset['points']);
          return shown >= n && plotted === shown;
        },
        server.round + 1,
        { timeout: WAIT_MS },
      );
      assert.equal(await page.locator('#banner').isHidden(), true);
      const resynced = await roundShown(page);
      assert.ok(resynced >= server.round + 1, `caught up: ${resynced} ≥ ${server.round + 1}`);
      await roundPasses(page, resynced); // and live again
    } finally {
      hold(false);
    }
  });

  it('says the run finished, and stays readable once the server is gone', async () => {
    await page.waitForSelector('#status[data-status="finished"]', { timeout: 60_000 });
    assert.match(
      await text(page, '#state-message'),
      new RegExp(`Finished: ${ROUNDS} of ${ROUNDS} rounds`),
    );
    assert.equal(await roundShown(page), ROUNDS);
    const code = await new Promise<number | null>((resolve) =>
      run.child.exitCode !== null ? resolve(run.child.exitCode) : run.child.on('exit', resolve),
    );
    assert.equal(code, 0, run.log());
    await page.waitForSelector('#connection[data-state="offline"]', { timeout: WAIT_MS });
    assert.match(await text(page, '#banner'), /closed the stream after the run ended/);
    assert.equal(await points(page, 'loss-chart'), ROUNDS, 'the last state stays on the page');
    assert.deepEqual(pageErrors, [], 'the page threw');
  });

  it('says when a server is waiting for devices', async () => {
    const hub = new DashboardHub({
      runId: 'waiting',
      kind: 'server',
      rounds: 100,
      method: 'distgan',
      schedule: 'parallel',
      config: { ROUNDS: 100, MIN_DEVICES: 2 },
    });
    hub.setStatus('waiting-for-devices', '0 of 2 devices alive');
    const app = Fastify({ logger: false });
    registerDashboard(app, hub);
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const { port } = app.server.address() as { port: number };
      const p = await browser.newPage();
      await p.goto(`http://127.0.0.1:${port}/`);
      await p.waitForSelector('#connection[data-state="live"]', { timeout: WAIT_MS });
      assert.equal(await text(p, '#status'), 'waiting for devices');
      assert.match(await text(p, '#state-message'), /Waiting for devices: 0 of 2 devices alive/);
      assert.equal(await text(p, '#round'), '0');
      assert.equal(await p.locator('#grid-empty').isVisible(), true);
      // A device arrives and training starts: the page follows without a reload.
      hub.setDevices([{ deviceId: 'device-a', samples: 600, alive: true }]);
      hub.setStatus('training');
      await p.waitForSelector('#status[data-status="training"]', { timeout: WAIT_MS });
      assert.equal(await p.locator('#state-message').isHidden(), true);
      assert.equal(await p.locator('#devices tbody tr').count(), 1);
      await p.close();
    } finally {
      await app.close();
    }
  });
});

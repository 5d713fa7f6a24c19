import type { FastifyInstance } from 'fastify';
import { clientAssets } from './assets.js';
import type { DashboardHub } from './hub.js';
import { dashboardPage } from './page.js';
import type { DashboardEvent } from './types.js';

export interface DashboardRouteOptions {
  /** Milliseconds between SSE comments that keep proxies from closing an idle stream (default 15,000). */
  heartbeatMs?: number;
  /** Milliseconds the browser waits before it reconnects a dropped stream (default 2,000). */
  retryMs?: number;
}

/**
 * The dashboard's routes on an app: the page at `/`, its bundled script and style sheet, the
 * snapshot at `GET /api/dashboard`, the live stream at `GET /api/events` (server-sent events:
 * a `snapshot` event, then one event per change) and the kept sample grids by round.
 */
export function registerDashboard(
  app: FastifyInstance,
  hub: DashboardHub,
  options: DashboardRouteOptions = {},
): void {
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const retryMs = options.retryMs ?? 2_000;
  const streams = new Set<() => void>();

  app.get('/', async (_req, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-cache')
      .send(dashboardPage(`distgan · ${hub.snapshot().run.runId}`)),
  );
  app.get('/assets/dashboard.js', async (_req, reply) =>
    reply
      .type('text/javascript; charset=utf-8')
      .header('cache-control', 'no-cache')
      .send((await clientAssets()).js),
  );
  app.get('/assets/dashboard.css', async (_req, reply) =>
    reply
      .type('text/css; charset=utf-8')
      .header('cache-control', 'no-cache')
      .send((await clientAssets()).css),
  );
  app.get('/api/dashboard', async (_req, reply) =>
    reply.header('cache-control', 'no-store').send(hub.snapshot()),
  );
  app.get<{ Params: { round: string } }>(
    '/api/dashboard/grids/:round.png',
    {
      schema: {
        params: {
          type: 'object',
          properties: { round: { type: 'string', pattern: '^[0-9]{1,9}$' } },
          required: ['round'],
        },
      },
    },
    async (req, reply) => {
      const png = hub.grid(Number(req.params.round));
      return png
        ? reply
            .type('image/png')
            .header('cache-control', 'public, max-age=86400, immutable')
            .send(Buffer.from(png.buffer, png.byteOffset, png.byteLength))
        : reply.code(404).send({ error: `no sample grid kept for round ${req.params.round}` });
    },
  );

  app.get('/api/events', (_req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no', // nginx and ingress controllers: do not buffer the stream
    });
    const send = (event: string, data: unknown): void => {
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    let open = true;
    let unsubscribe = (): void => {};
    const end = (): void => {
      if (!open) return;
      open = false;
      clearInterval(heartbeat);
      unsubscribe();
      streams.delete(end);
      res.end();
    };
    const heartbeat = setInterval(() => res.write(`: keep-alive\n\n`), heartbeatMs);
    heartbeat.unref();
    streams.add(end);
    res.write(`retry: ${retryMs}\n\n`);
    send('snapshot', hub.snapshot());
    // Subscribed after the snapshot, in the same tick: nothing falls between the two.
    unsubscribe = hub.subscribe({
      event: (e: DashboardEvent) => send(e.type, e),
      close: end,
    });
    // The response's close, not the request's: a GET's request closes once it has been read.
    res.on('close', end);
    res.on('error', end);
  });

  // Open streams would keep app.close() waiting for ever.
  app.addHook('preClose', async () => {
    for (const end of [...streams]) end();
  });
}

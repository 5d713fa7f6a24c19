import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { RabbitRoundTransport } from './rabbit-round-transport.js';

/*
 * A reconnect attempt that reaches a broker which accepts the TCP connection but never answers
 * the AMQP handshake (RabbitMQ while `rabbitmqctl start_app` is still starting it) must time out
 * and be retried; before the connect timeout, recovery waited for that handshake forever and the
 * run stalled without another log line. A TCP proxy in front of the RabbitMQ at RABBITMQ_URL
 * (default: the local one) plays the silent broker.
 */
const RABBITMQ_URL = process.env['RABBITMQ_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Forwards to the broker, or (silent) accepts connections and never sends a byte. */
class Proxy {
  silent = false;
  private readonly sockets = new Set<Socket>();
  private constructor(private readonly server: Server) {}

  static async start(target: URL): Promise<Proxy> {
    const server = createServer();
    const proxy = new Proxy(server);
    server.on('connection', (client) => {
      proxy.track(client);
      if (proxy.silent) return;
      const upstream = tcpConnect(Number(target.port || 5672), target.hostname);
      proxy.track(upstream);
      client.pipe(upstream).pipe(client);
      const drop = (): void => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return proxy;
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  /** Cuts every open connection, as a broker that shuts down does. */
  cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

describe(
  'RabbitRoundTransport reconnecting to a broker that is still starting',
  { timeout: 60_000 },
  () => {
    it('gives up on a handshake that never comes and connects on a later attempt', async () => {
      const target = new URL(RABBITMQ_URL);
      const proxy = await Proxy.start(target);
      const url = new URL(RABBITMQ_URL);
      url.hostname = '127.0.0.1';
      url.port = String(proxy.port);
      const runId = `it-reconnect-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
      const states: string[] = [];
      const t = await RabbitRoundTransport.connect({
        url: url.toString(),
        runId,
        initialMaxRetries: 2,
        connectTimeoutMs: 500,
        onState: (s, d) => states.push(`${s}${d ? `: ${d}` : ''}`),
      });
      try {
        const received: string[] = [];
        await t.subscribeTasks('device-0', async (msg) => {
          received.push(Buffer.from(msg.body).toString());
          msg.ack();
        });

        // The broker goes away and comes back silent: every attempt now hangs in the handshake.
        proxy.silent = true;
        proxy.cut();
        for (let i = 0; i < 100 && t.connected; i++) await sleep(20);
        assert.equal(t.connected, false);
        await sleep(1_500); // long enough for an attempt to start and hang
        proxy.silent = false; // the broker has started

        for (let i = 0; i < 200 && !t.connected; i++) await sleep(50);
        assert.ok(t.connected, `connected again (${states.join('; ')})`);
        assert.ok(
          states.some((s) => s.includes('ETIMEDOUT')),
          `a timed-out attempt was reported (${states.join('; ')})`,
        );
        await t.publishTask(Buffer.from('after'), { kind: 'devices', deviceIds: ['device-0'] });
        for (let i = 0; i < 100 && received.length < 1; i++) await sleep(20);
        assert.deepEqual(received, ['after']);
      } finally {
        // Only when connected: the transport's operations wait for a channel.
        if (t.connected) await t.deleteRunTopology(['device-0']).catch(() => {});
        await t.close();
        await proxy.close();
      }
    });
  },
);

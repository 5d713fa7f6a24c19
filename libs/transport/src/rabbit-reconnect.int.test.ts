import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { connect } from 'amqplib';
import { names } from '@distgan/protocol';
import { RabbitRoundTransport, type RabbitOptions } from './rabbit-round-transport.js';
import { RABBITMQ_URL, sleep, uniqueRun } from './rabbit.test-helpers.js';

/*
 * Reconnecting, through a TCP proxy in front of the RabbitMQ at RABBITMQ_URL (default: the local
 * one). A reconnect attempt that reaches a broker which accepts the TCP connection but never
 * answers the AMQP handshake (RabbitMQ while `rabbitmqctl start_app` is still starting it) must
 * time out and be retried; before the connect timeout, recovery waited for that handshake
 * forever and the run stalled without another log line. The proxy plays the silent broker. It
 * also cuts or holds a connection at a consume: a consumer whose start the connection loss broke,
 * or whose owner closed it while the reconnect was starting it, must not consume afterwards.
 */

/** AMQP 0-9-1's basic.consume: class 60, method 20. */
const BASIC_CONSUME = 0x003c0014;

/**
 * Calls `onConsume` when the client's byte stream carries a basic.consume method frame. Frames
 * are type (1 byte), channel (2), size (4), payload, end byte; a method frame (type 1) starts its
 * payload with the class and method ids. The stream opens with the 8-byte protocol header.
 */
function consumeWatcher(onConsume: () => void): (chunk: Buffer) => void {
  let pending = Buffer.alloc(0);
  let headerLeft = 8;
  return (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    const skip = Math.min(headerLeft, pending.length);
    headerLeft -= skip;
    pending = pending.subarray(skip);
    while (pending.length >= 7) {
      const size = pending.readUInt32BE(3);
      if (pending.length < 8 + size) return;
      if (pending[0] === 1 && size >= 4 && pending.readUInt32BE(7) === BASIC_CONSUME) onConsume();
      pending = pending.subarray(8 + size);
    }
  };
}

/** One client connection: where its bytes go, and those held since its consume (while held). */
interface Forward {
  upstream: Socket;
  held: Buffer[] | undefined;
}

/**
 * Forwards to the broker, or (silent) accepts connections and never sends a byte. Armed with
 * `cutAtConsume`, it cuts every connection at the next basic.consume, before the broker sees it;
 * with `holdAtConsume`, it holds that connection's bytes from the consume on until `release()`.
 */
class Proxy {
  silent = false;
  cutAtConsume = false;
  holdAtConsume = false;
  /** The connection being held. */
  private held: Forward | undefined;
  /** Resolves when a consume is being held. */
  private onHold: (() => void) | undefined;
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
      const forward: Forward = { upstream, held: undefined };
      const watch = consumeWatcher(() => {
        if (proxy.holdAtConsume) {
          proxy.holdAtConsume = false;
          forward.held = [];
          proxy.held = forward;
          proxy.onHold?.();
        }
        if (!proxy.cutAtConsume) return;
        proxy.cutAtConsume = false;
        proxy.cut();
      });
      client.on('data', (chunk: Buffer) => {
        watch(chunk);
        if (forward.held) forward.held.push(chunk);
        else if (!client.destroyed) upstream.write(chunk);
      });
      upstream.pipe(client);
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

  /** Waits until a connection's consume is held (armed with `holdAtConsume`). */
  held$(): Promise<void> {
    return this.held ? Promise.resolve() : new Promise((r) => (this.onHold = r));
  }

  /** Sends what the held connection sent meanwhile, and forwards it as before. */
  release(): void {
    const f = this.held;
    this.held = undefined;
    if (!f) return;
    const chunks = f.held ?? [];
    f.held = undefined;
    for (const c of chunks) f.upstream.write(c);
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

/** A proxy in front of the broker, and a transport of a new run connected through it. */
async function throughProxy(
  label: string,
  opts: Partial<RabbitOptions> = {},
): Promise<{ proxy: Proxy; runId: string; t: RabbitRoundTransport }> {
  const proxy = await Proxy.start(new URL(RABBITMQ_URL));
  const url = new URL(RABBITMQ_URL);
  url.hostname = '127.0.0.1';
  url.port = String(proxy.port);
  const runId = uniqueRun(label);
  const t = await RabbitRoundTransport.connect({
    url: url.toString(),
    runId,
    initialMaxRetries: 2,
    ...opts,
  });
  return { proxy, runId, t };
}

describe('RabbitRoundTransport reconnecting', { timeout: 60_000 }, () => {
  it('gives up on a handshake that never comes and connects on a later attempt', async () => {
    const states: string[] = [];
    const { proxy, t } = await throughProxy('reconnect', {
      connectTimeoutMs: 500,
      onState: (st, d) => states.push(`${st}${d ? `: ${d}` : ''}`),
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

  it('a round queue whose opening the connection loss broke gets every update once it is open again', async () => {
    const { proxy, runId, t: server } = await throughProxy('reopen');
    const device = await RabbitRoundTransport.connect({ url: RABBITMQ_URL, runId });
    try {
      // The connection drops at the consume: the queue is declared and purged, not consumed.
      proxy.cutAtConsume = true;
      await assert.rejects(server.openRound(7));
      for (let i = 0; i < 200 && !server.connected; i++) await sleep(50);
      assert.ok(server.connected, 'connected again');

      // The server retries the round: every device's update must reach this inbox.
      const inbox = await server.openRound(7);
      const sent = ['a', 'b', 'c', 'd', 'e', 'f'];
      for (const s of sent) await device.publishUpdate(inbox.name, Buffer.from(s));
      const received: string[] = [];
      for (let i = 0; i < sent.length; i++) {
        const msg = await inbox.receive(2_000);
        if (!msg) break;
        received.push(Buffer.from(msg.body).toString());
        msg.ack();
      }
      assert.deepEqual(received, sent);
      await inbox.close();
    } finally {
      if (server.connected) await server.deleteRunTopology([]).catch(() => {});
      await server.close();
      await device.close();
      await proxy.close();
    }
  });

  it('tasks waiting when the reconnect consumes again are each taken once, and the next ones come', async () => {
    const { proxy, runId, t: device } = await throughProxy('waiting');
    const server = await RabbitRoundTransport.connect({ url: RABBITMQ_URL, runId });
    const received: string[] = [];
    try {
      // A device that settles at once (as one does with a task whose deadline passed).
      await device.subscribeTasks('device-0', async (msg) => {
        received.push(Buffer.from(msg.body).toString());
        msg.ack();
      });
      // The connection drops; the reconnect's consume is held until tasks wait in the queue, so
      // the broker delivers the first one as soon as the consumer exists, before the reconnect
      // has finished. Its ack must still reach the broker: a lost ack leaves the message unsettled,
      // and with a prefetch of 1 the device would never be given another task.
      proxy.holdAtConsume = true;
      proxy.cut();
      await proxy.held$();
      const waiting = ['w1', 'w2', 'w3'];
      for (const s of waiting)
        await server.publishTask(Buffer.from(s), { kind: 'devices', deviceIds: ['device-0'] });
      proxy.release();
      for (let i = 0; i < 200 && !device.connected; i++) await sleep(50);
      assert.ok(device.connected, 'connected again');
      await server.publishTask(Buffer.from('next'), { kind: 'devices', deviceIds: ['device-0'] });
      for (let i = 0; i < 100 && received.length < 4; i++) await sleep(50);
      assert.deepEqual(received, [...waiting, 'next']);
    } finally {
      if (device.connected) await device.deleteRunTopology(['device-0']).catch(() => {});
      await device.close();
      await server.close();
      await proxy.close();
    }
  });

  it('a subscription closed while the reconnect is starting its consumer stops consuming', async () => {
    const { proxy, runId, t: device } = await throughProxy('closing');
    const admin = await connect(RABBITMQ_URL);
    const queue = names(runId).deviceQueue('device-0');
    try {
      const sub = await device.subscribeTasks('device-0', async (msg) => msg.ack());
      // The connection drops; the reconnect starts the device's consumer again, and the proxy
      // holds that consume while the device stops.
      proxy.holdAtConsume = true;
      proxy.cut();
      await proxy.held$();
      await sub.close();
      proxy.release();
      for (let i = 0; i < 200 && !device.connected; i++) await sleep(50);
      assert.ok(device.connected, 'connected again');
      let consumers = -1;
      for (let i = 0; i < 20; i++) {
        const ch = await admin.createChannel();
        consumers = (await ch.checkQueue(queue)).consumerCount;
        await ch.close();
        if (consumers === 0) break;
        await sleep(100);
      }
      assert.equal(consumers, 0, 'nothing consumes the closed subscription');
    } finally {
      const ch = await admin.createChannel();
      await ch.deleteQueue(queue).catch(() => {});
      await admin.close();
      if (device.connected) await device.deleteRunTopology(['device-0']).catch(() => {});
      await device.close();
      await proxy.close();
    }
  });
});

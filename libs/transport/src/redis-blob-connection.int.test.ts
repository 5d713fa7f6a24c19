import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { BufferPool, RedisBlobConnection } from './redis-blob-connection.js';
import { RedisBlobStore } from './redis-blob-store.js';
import { leaseBlob, MemoryBlobStore, TransportError } from '@distgan/engine';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** The commands in `buf` as argument lists, and the bytes left over (an incomplete one). */
function parseCommands(buf: Buffer): { commands: string[][]; rest: Buffer } {
  const commands: string[][] = [];
  let i = 0;
  for (;;) {
    const start = i;
    const line = (): string | undefined => {
      const nl = buf.indexOf('\r\n', i);
      if (nl < 0) return undefined;
      const l = buf.toString('latin1', i, nl);
      i = nl + 2;
      return l;
    };
    const head = line();
    if (head === undefined) return { commands, rest: buf.subarray(start) };
    const args: string[] = [];
    let complete = true;
    for (let k = 0; k < Number(head.slice(1)); k++) {
      const len = line();
      if (len === undefined || buf.length < i + Number(len.slice(1)) + 2) {
        complete = false;
        break;
      }
      args.push(buf.toString('latin1', i, i + Number(len.slice(1))));
      i += Number(len.slice(1)) + 2;
    }
    if (!complete) return { commands, rest: buf.subarray(start) };
    commands.push(args);
  }
}

const bulk = (b: Buffer): Buffer =>
  Buffer.concat([Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n')]);

/**
 * A stand-in for Redis on 127.0.0.1 that answers GET from `values` and writes each reply in
 * pieces of 1 to 7 bytes or in slices of up to 100 kB, so that every boundary of the reply
 * (header, body, trailer) falls inside a read somewhere.
 */
async function fakeRedis(
  values: Map<string, Buffer>,
  opts: {
    password?: string;
    dropFirstAfterBytes?: number;
    piece?: 'tiny' | 'large';
    /** Instead of pieces: the replies to one batch of commands in two writes, split here. */
    splitAt?: number;
  } = {},
): Promise<{ url: string; server: Server; seen: string[][]; connections: number }> {
  const state = { seen: [] as string[][], connections: 0 };
  const server = createServer((socket: Socket) => {
    socket.setNoDelay(true);
    state.connections += 1;
    const connection = state.connections;
    let pending: Buffer = Buffer.alloc(0);
    let authed = opts.password === undefined;
    let written = 0;
    let out = Promise.resolve();
    let batch: Buffer[] = [];
    const send = (reply: Buffer): void => {
      if (opts.splitAt !== undefined) {
        batch.push(reply);
        return;
      }
      out = out.then(async () => {
        for (let i = 0; i < reply.length;) {
          const n =
            opts.piece === 'large'
              ? 1 + Math.floor(Math.random() * 100_000)
              : 1 + Math.floor(Math.random() * 7);
          const part = reply.subarray(i, i + n);
          if (
            connection === 1 &&
            opts.dropFirstAfterBytes !== undefined &&
            written + part.length > opts.dropFirstAfterBytes
          ) {
            socket.destroy();
            return;
          }
          socket.write(part);
          written += part.length;
          i += n;
          // Each piece its own segment, read on its own: no Nagle, a pause after each.
          if (opts.piece !== 'large' || Math.random() < 0.2)
            await new Promise((r) => setTimeout(r, opts.piece === 'large' ? 0 : 1));
        }
      });
    };
    socket.on('data', (d: Buffer) => {
      const { commands, rest } = parseCommands(Buffer.concat([pending, d]));
      pending = rest;
      for (const c of commands) {
        state.seen.push(c);
        const [name, ...args] = c;
        if (name === 'AUTH' && opts.password === undefined) {
          send(
            Buffer.from(
              '-ERR AUTH <password> called without any password configured for the default user.\r\n',
            ),
          );
        } else if (name === 'AUTH') {
          authed = args.at(-1) === opts.password;
          send(Buffer.from(authed ? '+OK\r\n' : '-WRONGPASS invalid username-password pair\r\n'));
        } else if (!authed) send(Buffer.from('-NOAUTH Authentication required.\r\n'));
        else if (name === 'SELECT') send(Buffer.from('+OK\r\n'));
        else if (name === 'SET') {
          values.set(args[0]!, Buffer.from(args[1]!, 'latin1'));
          send(Buffer.from('+OK\r\n'));
        } else if (name === 'GET') {
          const v = values.get(args[0]!);
          send(v ? bulk(v) : Buffer.from('$-1\r\n'));
        } else send(Buffer.from(`-ERR unknown command '${name}'\r\n`));
      }
      if (batch.length > 0) {
        const all = Buffer.concat(batch);
        batch = [];
        const k = Math.min(opts.splitAt!, all.length);
        socket.write(all.subarray(0, k));
        setTimeout(() => socket.write(all.subarray(k)), 3);
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const auth = opts.password ? `:${opts.password}@` : '';
  return {
    url: `redis://${auth}127.0.0.1:${port}/3`,
    server,
    seen: state.seen,
    get connections() {
      return state.connections;
    },
  };
}

describe('RedisBlobConnection against a stand-in that splits every reply', () => {
  const values = new Map([
    ['empty', Buffer.alloc(0)],
    ['one', Buffer.from([0x2a])],
    ['crlf', Buffer.from('\r\n$5\r\n-ERR\r\n')], // reply syntax inside a value is only bytes
    ['small', randomBytes(300)],
    ['large', randomBytes(2_161_372)],
  ]);

  it(
    'reads every value byte for byte, pipelined, whatever the read boundaries',
    { timeout: 30_000 },
    async () => {
      for (const piece of ['tiny', 'large'] as const) {
        const fake = await fakeRedis(
          piece === 'tiny' ? new Map([...values].filter(([k]) => k !== 'large')) : values,
          { piece },
        );
        const reader = new RedisBlobConnection({ url: fake.url });
        try {
          const keys = [...values.keys()].filter((k) => piece === 'large' || k !== 'large');
          const order = [...keys, 'missing', ...keys.reverse()];
          const leases = await Promise.all(order.map((k) => reader.get(k)));
          for (const [i, k] of order.entries()) {
            const want = values.get(k);
            if (!want) assert.equal(leases[i], null, k);
            else assert.deepEqual(Buffer.from(leases[i]!.bytes), want, `${k} (${piece} pieces)`);
          }
          assert.deepEqual(
            fake.seen[0],
            ['SELECT', '3'],
            'the database of the URL is selected first',
          );
        } finally {
          reader.close();
          fake.server.close();
        }
      }
    },
  );

  it('replies split at every byte of a pipelined batch', { timeout: 30_000 }, async () => {
    const keys = ['one', 'empty', 'crlf', 'missing', 'one'];
    const stream = Buffer.concat(
      keys.map((k) => (values.has(k) ? bulk(values.get(k)!) : Buffer.from('$-1\r\n'))),
    );
    for (let k = 1; k < stream.length; k++) {
      const fake = await fakeRedis(values, { splitAt: k });
      const conn = new RedisBlobConnection({ url: fake.url.replace(/\/3$/, '') });
      try {
        const leases = await Promise.all(keys.map((key) => conn.get(key)));
        for (const [i, key] of keys.entries()) {
          const want = values.get(key);
          if (!want) assert.equal(leases[i], null, `${key}, split at ${k}`);
          else assert.deepEqual(Buffer.from(leases[i]!.bytes), want, `${key}, split at ${k}`);
        }
      } finally {
        conn.close();
        fake.server.close();
      }
    }
  });

  it(
    'a dropped connection mid-reply: reconnects, sends the unanswered GETs again, loses nothing',
    { timeout: 30_000 },
    async () => {
      const fake = await fakeRedis(values, { dropFirstAfterBytes: 1_000_000, piece: 'large' });
      const reader = new RedisBlobConnection({ url: fake.url, maxRetryDelayMs: 50 });
      try {
        const [a, b] = await Promise.all([reader.get('large'), reader.get('small')]);
        assert.deepEqual(Buffer.from(a!.bytes), values.get('large'));
        assert.deepEqual(Buffer.from(b!.bytes), values.get('small'));
        assert.equal(fake.connections, 2);
      } finally {
        reader.close();
        fake.server.close();
      }
    },
  );

  it('authenticates with the URL password, and refuses clearly when it is wrong', async () => {
    const fake = await fakeRedis(values, { password: 's3cret' });
    const good = new RedisBlobConnection({ url: fake.url });
    const bad = new RedisBlobConnection({ url: fake.url.replace('s3cret', 'wrong') });
    try {
      assert.deepEqual(Buffer.from((await good.get('small'))!.bytes), values.get('small'));
      assert.deepEqual(fake.seen[0], ['AUTH', 's3cret']);
      await assert.rejects(bad.get('small'), (err: unknown) => {
        assert.ok(err instanceof TransportError);
        assert.match((err as Error).message, /WRONGPASS/);
        return true;
      });
    } finally {
      good.close();
      bad.close();
      fake.server.close();
    }
  });

  it('SET writes the bytes as they are, with its TTL, and survives a dropped connection', async () => {
    const stored = new Map<string, Buffer>();
    const fake = await fakeRedis(stored, { dropFirstAfterBytes: 2 });
    const conn = new RedisBlobConnection({ url: fake.url, maxRetryDelayMs: 50 });
    try {
      const bytes = Buffer.from('\r\n$3\r\n+OK\r\n\u0000\u00ff', 'latin1');
      await conn.set('k', bytes, 30);
      await conn.set('empty', new Uint8Array(0));
      assert.deepEqual(stored.get('k'), bytes);
      assert.equal(stored.get('empty')?.length, 0);
      const sets = fake.seen.filter((c) => c[0] === 'SET');
      assert.deepEqual(sets.at(-2)!.slice(3), ['EX', '30']);
      assert.deepEqual(sets.at(-1)!.length, 3, 'no TTL: no EX');
      assert.equal(fake.connections, 2, 'the first connection dropped before its reply');
    } finally {
      conn.close();
      fake.server.close();
    }
  });

  it('a password in the URL of a Redis without one is ignored, as ioredis does', async () => {
    const fake = await fakeRedis(values);
    const conn = new RedisBlobConnection({ url: fake.url.replace('redis://', 'redis://:unused@') });
    try {
      assert.deepEqual(Buffer.from((await conn.get('small'))!.bytes), values.get('small'));
      assert.equal(fake.seen[0]![0], 'AUTH');
    } finally {
      conn.close();
      fake.server.close();
    }
  });

  it('a read after close fails instead of waiting', async () => {
    const fake = await fakeRedis(values);
    const reader = new RedisBlobConnection({ url: fake.url });
    reader.close();
    await assert.rejects(reader.get('small'), TransportError);
    fake.server.close();
  });
});

describe('BufferPool', () => {
  it('hands a released buffer out again, never one that is still leased, and bounds what it keeps', () => {
    const pool = new BufferPool(300_000); // two 128 KiB buffers fit, a third does not
    const a = pool.acquire(100_000);
    const b = pool.acquire(100_000);
    assert.notEqual(a, b);
    pool.release(a);
    assert.equal(pool.acquire(90_000), a, 'the free buffer that fits is reused');
    assert.notEqual(pool.acquire(100_000), b, 'b is still leased');
    pool.release(a);
    pool.release(b);
    pool.release(new ArrayBuffer(150_000)); // over the bound: dropped
    assert.equal(pool.stats.buffers, 2);
    assert.ok(pool.acquire(300_000).byteLength >= 300_000);
  });
});

describe(`RedisBlobStore leases on the Redis at ${REDIS_URL}`, () => {
  let store: RedisBlobStore;
  const key = `distgan:test-lease:${process.pid}`;
  before(async () => {
    store = new RedisBlobStore({ url: REDIS_URL });
    if (!(await store.ping()))
      throw new Error(`Redis is not reachable at ${REDIS_URL} (set REDIS_URL)`);
  });
  after(async () => {
    await store.delete([key, `${key}:2`, `${key}:hash`]);
    await store.close();
  });

  it('a leased blob equals what get returns, its buffer is reused only after release', async () => {
    const bytes = randomBytes(2_161_372);
    const other = randomBytes(2_100_000);
    await store.put(key, bytes, { ttlSeconds: 60 });
    await store.put(`${key}:2`, other, { ttlSeconds: 60 });
    const first = (await store.lease(key))!;
    assert.deepEqual(Buffer.from(first.bytes), await store.get(key));
    const second = (await store.lease(`${key}:2`))!;
    assert.notEqual(second.bytes.buffer, first.bytes.buffer, 'a held lease is never written over');
    assert.deepEqual(Buffer.from(first.bytes), bytes);
    first.release();
    first.release(); // idempotent: the buffer goes back once
    const third = (await store.lease(`${key}:2`))!;
    assert.equal(third.bytes.buffer, first.bytes.buffer, 'the released buffer is reused');
    assert.deepEqual(Buffer.from(third.bytes), other);
    const fourth = (await store.lease(key))!;
    assert.notEqual(fourth.bytes.buffer, third.bytes.buffer, 'released twice, handed out once');
    fourth.release();
    assert.deepEqual(Buffer.from(second.bytes), other);
    second.release();
    third.release();
    assert.equal(await store.lease(`${key}:missing`), null);
  });

  it('put writes over the blob connection: ioredis reads back the same bytes and the TTL', async () => {
    const bytes = randomBytes(1_000_003);
    await store.put(`${key}:2`, bytes, { ttlSeconds: 45 });
    assert.deepEqual(await store.client.getBuffer(`${key}:2`), bytes);
    const ttl = await store.client.ttl(`${key}:2`);
    assert.ok(ttl > 40 && ttl <= 45, `TTL ${ttl}`);
    await store.put(`${key}:2`, bytes.subarray(7, 107));
    assert.deepEqual(await store.client.getBuffer(`${key}:2`), bytes.subarray(7, 107));
    assert.equal(await store.client.ttl(`${key}:2`), -1, 'a put without TTL keeps the key');
  });

  it('a Redis error (GET of a hash) is a TransportError, and the reader goes on', async () => {
    await store.client.hset(`${key}:hash`, 'f', 'v');
    await assert.rejects(store.lease(`${key}:hash`), (err: unknown) => {
      assert.ok(err instanceof TransportError);
      assert.match((err as Error).message, /WRONGTYPE/);
      return true;
    });
    const again = await store.lease(key);
    assert.equal(again!.bytes.length, 2_161_372);
    again!.release();
  });

  it('leaseBlob falls back on get for a store without leases', async () => {
    const mem = new MemoryBlobStore();
    await mem.put('k', new Uint8Array([1, 2, 3]));
    const l = await leaseBlob(mem, 'k');
    assert.deepEqual([...l!.bytes], [1, 2, 3]);
    l!.release();
    assert.equal(await leaseBlob(mem, 'nope'), null);
  });
});

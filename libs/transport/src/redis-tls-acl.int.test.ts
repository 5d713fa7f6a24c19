import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { leaseBlob, TransportError } from '@distgan/engine';
import { RedisBlobStore } from './redis-blob-store.js';
import { RedisBlobConnection } from './redis-blob-connection.js';

/*
 * The blob store against a real Redis as managed services run it: TLS only (a private CA), ACL
 * users (the default user off), a database index. Debian's redis-server, started here on free
 * ports with certificates made by openssl for the test.
 */
const dir = mkdtempSync(join(tmpdir(), 'distgan-redis-tls-'));
let redis: ChildProcess | undefined;
let port = 0;
let ca: Buffer;

const freePort = (): Promise<number> =>
  new Promise((done, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => done(p));
    });
  });

function certificates(): void {
  const run = (args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  };
  run(
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt'].concat(
      ['-days', '1', '-subj', '/CN=distgan test CA'],
    ),
  );
  run(
    ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'redis.key', '-out', 'redis.csr'].concat([
      '-subj',
      '/CN=localhost',
    ]),
  );
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  run(
    [
      'x509',
      '-req',
      '-in',
      'redis.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
    ].concat(['-out', 'redis.crt', '-days', '1', '-extfile', 'san.ext']),
  );
}

before(async () => {
  certificates();
  ca = readFileSync(join(dir, 'ca.crt'));
  port = await freePort();
  redis = spawn(
    'redis-server',
    [
      '--port',
      '0',
      '--tls-port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--tls-cert-file',
      join(dir, 'redis.crt'),
      '--tls-key-file',
      join(dir, 'redis.key'),
      '--tls-ca-cert-file',
      join(dir, 'ca.crt'),
      '--tls-auth-clients',
      'no',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      // The default user off; "distgan" may touch the run's keys only.
      '--user',
      'default',
      'off',
      '--user',
      'distgan',
      'on',
      '>s3cret:/@#',
      '~distgan:*',
      '+@all',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  redis.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  for (let i = 0; i < 100 && !/Ready to accept connections/.test(log); i++)
    await new Promise((r) => setTimeout(r, 50));
  assert.match(log, /Ready to accept connections/, `redis-server did not start:\n${log}`);
});

after(() => {
  redis?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

const url = (user = 'distgan', password = 's3cret:/@#', db = 3): string =>
  `rediss://${user}:${encodeURIComponent(password)}@localhost:${port}/${db}`;

describe(
  'RedisBlobStore on a Redis with TLS, ACL users and a database index',
  { timeout: 60_000 },
  () => {
    it('moves blobs over its own TLS connection, as the ACL user, in the database the URL names', async () => {
      const store = new RedisBlobStore({ url: url(), tls: { ca } });
      const check = new Redis(url(), { tls: { ca }, maxRetriesPerRequest: 1 });
      const db0 = new Redis(url('distgan', 's3cret:/@#', 0), {
        tls: { ca },
        maxRetriesPerRequest: 1,
      });
      try {
        assert.equal(store.blobPath.via, 'blob connection');
        const bytes = new Uint8Array(randomBytes(3 << 20));
        await store.put('distgan:tls:blob', bytes, { ttlSeconds: 60 });
        // What ioredis reads in database 3 is what the blob connection wrote.
        assert.deepEqual(new Uint8Array((await check.getBuffer('distgan:tls:blob'))!), bytes);
        assert.ok((await check.ttl('distgan:tls:blob')) > 0, 'with its TTL');
        assert.equal(await db0.exists('distgan:tls:blob'), 0, 'not in database 0');
        const lease = await leaseBlob(store, 'distgan:tls:blob');
        assert.ok(lease);
        assert.deepEqual(
          lease.bytes,
          bytes,
          'a leased read over TLS, in chunks, is the same bytes',
        );
        lease.release();
      } finally {
        await store.close();
        check.disconnect();
        db0.disconnect();
      }
    });

    it('the ACL applies: a key outside the user’s pattern is refused with a TransportError', async () => {
      const store = new RedisBlobStore({ url: url(), tls: { ca } });
      try {
        await assert.rejects(
          store.put('other:key', new Uint8Array(8)),
          (err: Error) =>
            err instanceof TransportError && /NOPERM|no permissions/i.test(err.message),
        );
      } finally {
        await store.close();
      }
    });

    it('a wrong password fails the reads with the reason, and does not retry forever', async () => {
      const store = new RedisBlobStore({ url: url('distgan', 'wrong'), tls: { ca } });
      try {
        await assert.rejects(
          leaseBlob(store, 'distgan:tls:blob'),
          (err: Error) =>
            err instanceof TransportError &&
            /WRONGPASS|invalid username-password/i.test(err.message),
        );
      } finally {
        await store.close();
      }
    });

    it('a server certificate that does not verify fails the reads with the reason', async () => {
      // No CA given: the test CA is in no trust store. (The blob connection alone: ioredis beside it
      // would retry its own handshake until closed.)
      const connection = new RedisBlobConnection({ url: url() });
      try {
        await assert.rejects(
          connection.get('distgan:tls:blob'),
          (err: Error) => err instanceof TransportError && /certificate/i.test(err.message),
        );
      } finally {
        connection.close();
      }
    });

    it('a URL with a query string moves the blobs through ioredis, and says so', async () => {
      const store = new RedisBlobStore({
        url: `${url()}?connectionName=distgan-test`,
        tls: { ca },
      });
      try {
        assert.equal(store.blobPath.via, 'ioredis');
        assert.match(store.blobPath.reason, /query string/);
        const bytes = new Uint8Array(randomBytes(1024));
        await store.put('distgan:tls:q', bytes);
        assert.deepEqual(new Uint8Array((await store.get('distgan:tls:q'))!), bytes);
      } finally {
        await store.close();
      }
    });
  },
);

import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { Redis, type RedisOptions } from 'ioredis';
import { TransportError, unpooledLease, type BlobLease, type BlobStore } from '@distgan/engine';
import { reconnectDelayMs, RedisBlobConnection } from './redis-blob-connection.js';

export interface RedisBlobStoreOptions {
  /** redis://host:port/db */
  url: string;
  /** Called on connection state changes, for logs and readiness. */
  onState?: (state: 'connected' | 'reconnecting' | 'error', detail?: string) => void;
  /** Longest wait between reconnection attempts. Default 5 s. */
  maxRetryDelayMs?: number;
  /**
   * Move blobs over a `RedisBlobConnection` of their own: puts without a copy, leased reads
   * into pooled buffers. Default true; a URL with options that only ioredis reads (a query
   * string) moves them through ioredis, and `blobPath` says so.
   */
  blobConnection?: boolean;
  /** TLS options for rediss:// URLs (a private CA, a client certificate), for both connections. */
  tls?: TlsOptions;
}

/**
 * The blob store on Redis (docs/design.md §3): one string key per blob, per-round keys with a TTL.
 * ioredis reconnects by itself with backoff and queues commands meanwhile, so a Redis restart
 * delays the run instead of failing it. The blobs' own SETs and leased GETs go over a second
 * connection that moves their bytes without copies (`RedisBlobConnection`), and reconnects alike.
 */
export class RedisBlobStore implements BlobStore {
  readonly client: Redis;
  private readonly blobs: RedisBlobConnection | undefined;
  /** How blobs move, and why, for the services' start-up log. */
  readonly blobPath: { via: 'blob connection' | 'ioredis'; reason: string };

  constructor(opts: RedisBlobStoreOptions) {
    const maxDelay = opts.maxRetryDelayMs ?? 5_000;
    const options: RedisOptions = {
      // Never give up on a command because of a reconnect: the round engine has deadlines.
      maxRetriesPerRequest: null,
      enableOfflineQueue: true,
      retryStrategy: (attempt) => reconnectDelayMs(attempt, maxDelay),
      lazyConnect: false,
      ...(opts.tls ? { tls: opts.tls } : {}),
    };
    this.client = new Redis(opts.url, options);
    this.client.on('ready', () => opts.onState?.('connected'));
    this.client.on('reconnecting', () => opts.onState?.('reconnecting'));
    this.client.on('error', (err: Error) => opts.onState?.('error', err.message));
    const own = opts.blobConnection ?? true;
    if (own && RedisBlobConnection.handles(opts.url)) {
      this.blobs = new RedisBlobConnection({
        url: opts.url,
        maxRetryDelayMs: maxDelay,
        ...(opts.tls ? { tls: opts.tls } : {}),
        onState: (s, d) => {
          // The ioredis connection reports the store's state; this one only its errors.
          if (s === 'error') opts.onState?.('error', d);
        },
      });
      this.blobPath = { via: 'blob connection', reason: 'puts without a copy, pooled reads' };
    } else {
      this.blobPath = {
        via: 'ioredis',
        reason: own
          ? 'the URL has options that only ioredis reads (a query string)'
          : 'the blob connection is turned off',
      };
    }
  }

  async put(key: string, bytes: Uint8Array, opts?: { ttlSeconds?: number }): Promise<void> {
    if (this.blobs) return this.blobs.set(key, bytes, opts?.ttlSeconds);
    const value = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    try {
      if (opts?.ttlSeconds) await this.client.set(key, value, 'EX', Math.ceil(opts.ttlSeconds));
      else await this.client.set(key, value);
    } catch (err) {
      throw new TransportError(`Redis SET ${key}`, err);
    }
  }

  async get(key: string): Promise<Uint8Array | null> {
    try {
      return await this.client.getBuffer(key);
    } catch (err) {
      throw new TransportError(`Redis GET ${key}`, err);
    }
  }

  /**
   * The bytes under `key` in a buffer reused after `release()` (on the blob connection): no
   * fresh memory per read.
   */
  async lease(key: string): Promise<BlobLease | null> {
    return this.blobs ? this.blobs.get(key) : unpooledLease(await this.get(key));
  }

  async delete(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    try {
      await this.client.del(...keys);
    } catch (err) {
      throw new TransportError(`Redis DEL ${keys[0]}…`, err);
    }
  }

  /** True when Redis answers a PING (for /readyz). */
  async ping(): Promise<boolean> {
    try {
      return (await this.client.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.blobs?.close();
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }
}

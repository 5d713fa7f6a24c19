import { Redis, type RedisOptions } from 'ioredis';
import type { BlobStore } from './blob-store.js';
import { TransportError } from './errors.js';

export interface RedisBlobStoreOptions {
  /** redis://host:port/db */
  url: string;
  /** Called on connection state changes, for logs and readiness. */
  onState?: (state: 'connected' | 'reconnecting' | 'error', detail?: string) => void;
  /** Longest wait between reconnection attempts. Default 5 s. */
  maxRetryDelayMs?: number;
}

/**
 * The blob store on Redis (DESIGN.md §3): one string key per blob, per-round keys with a TTL.
 * ioredis reconnects by itself with backoff and queues commands meanwhile, so a Redis restart
 * delays the run instead of failing it.
 */
export class RedisBlobStore implements BlobStore {
  readonly client: Redis;

  constructor(opts: RedisBlobStoreOptions) {
    const maxDelay = opts.maxRetryDelayMs ?? 5_000;
    const options: RedisOptions = {
      // Never give up on a command because of a reconnect: the round engine has deadlines.
      maxRetriesPerRequest: null,
      enableOfflineQueue: true,
      retryStrategy: (attempt) => Math.min(maxDelay, 50 * 2 ** Math.min(attempt, 10)),
      lazyConnect: false,
    };
    this.client = new Redis(opts.url, options);
    this.client.on('ready', () => opts.onState?.('connected'));
    this.client.on('reconnecting', () => opts.onState?.('reconnecting'));
    this.client.on('error', (err: Error) => opts.onState?.('error', err.message));
  }

  async put(key: string, bytes: Uint8Array, opts?: { ttlSeconds?: number }): Promise<void> {
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
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }
}

import type { BlobStore } from './blob-store.js';

/** The in-memory twin of the Redis blob store, with the same copy and TTL semantics. */
export class MemoryBlobStore implements BlobStore {
  private readonly blobs = new Map<string, { bytes: Uint8Array; expiresAt: number }>();
  /** Bytes written and read, for the "bytes that would cross the network" figures. */
  readonly traffic = { putBytes: 0, getBytes: 0 };

  private nextSweepAt = 0;

  constructor(private readonly now: () => number = Date.now) {}

  async put(key: string, bytes: Uint8Array, opts?: { ttlSeconds?: number }): Promise<void> {
    const now = this.now();
    const expiresAt = opts?.ttlSeconds ? now + opts.ttlSeconds * 1000 : Infinity;
    // Kept as given, not copied: the caller hands the bytes over (BlobStore contract).
    this.blobs.set(key, { bytes, expiresAt });
    this.traffic.putBytes += bytes.length;
    // Expired blobs are dropped as Redis drops them, not only when read again: a key nobody
    // reads would otherwise stay forever. One sweep a second at most keeps puts cheap.
    if (now >= this.nextSweepAt) {
      this.nextSweepAt = now + 1000;
      for (const [k, e] of this.blobs) if (e.expiresAt <= now) this.blobs.delete(k);
    }
  }

  async get(key: string): Promise<Uint8Array | null> {
    const entry = this.blobs.get(key);
    if (!entry) return null;
    if (entry.expiresAt <= this.now()) {
      this.blobs.delete(key);
      return null;
    }
    this.traffic.getBytes += entry.bytes.length;
    // Not copied: readers treat blobs as read-only (BlobStore contract), and a round's blobs
    // are read by every device, so copies would cost more than the rest of the bookkeeping.
    return entry.bytes;
  }

  /** Seconds until `key` expires, as Redis's TTL: undefined when absent, Infinity without one. */
  ttlOf(key: string): number | undefined {
    const entry = this.blobs.get(key);
    if (!entry || entry.expiresAt <= this.now()) return undefined;
    return (entry.expiresAt - this.now()) / 1000;
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const k of keys) this.blobs.delete(k);
  }

  get size(): number {
    return this.blobs.size;
  }

  keys(): string[] {
    return [...this.blobs.keys()];
  }

  async close(): Promise<void> {
    this.blobs.clear();
  }
}

/**
 * A blob read into a buffer that is reused once the lease is released. `bytes` stays valid and
 * unchanged until `release()`; after it, the same memory holds a later read.
 */
export interface BlobLease {
  readonly bytes: Uint8Array;
  /** Gives the buffer back for reuse. Idempotent. */
  release(): void;
}

/** Where weight blobs live between the server and the devices (Redis in deployment). */
export interface BlobStore {
  /**
   * Stores `bytes` under `key`; `ttlSeconds` makes a per-round key expire (no TTL: kept). The
   * caller hands the bytes over and does not modify them afterwards (an encoded blob is never
   * reused), so an implementation may keep them without a copy.
   */
  put(key: string, bytes: Uint8Array, opts?: { ttlSeconds?: number }): Promise<void>;
  /**
   * The bytes under `key`, or null when there are none (never stored, or expired). Read-only:
   * an implementation may hand every reader the same bytes.
   */
  get(key: string): Promise<Uint8Array | null>;
  /**
   * Like `get`, into a buffer the store reuses after `release()`: for reads whose bytes are
   * consumed at once (decoded and copied into a model). Optional; `leaseBlob` falls back on `get`.
   */
  lease?(key: string): Promise<BlobLease | null>;
  delete(keys: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

/** `store.lease(key)` where the store has it, else `get` with a release that does nothing. */
export async function leaseBlob(store: BlobStore, key: string): Promise<BlobLease | null> {
  return store.lease ? store.lease(key) : unpooledLease(await store.get(key));
}

/** A lease of bytes that belong to nobody's pool: releasing them does nothing. */
export function unpooledLease(bytes: Uint8Array | null): BlobLease | null {
  return bytes ? { bytes, release: () => {} } : null;
}

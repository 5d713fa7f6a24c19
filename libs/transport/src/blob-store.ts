/** Where weight blobs live between the server and the devices (Redis in deployment). */
export interface BlobStore {
  /** Stores `bytes` under `key`; `ttlSeconds` makes a per-round key expire (no TTL: kept). */
  put(key: string, bytes: Uint8Array, opts?: { ttlSeconds?: number }): Promise<void>;
  /** The bytes under `key`, or null when there are none (never stored, or expired). */
  get(key: string): Promise<Uint8Array | null>;
  delete(keys: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

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
  delete(keys: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

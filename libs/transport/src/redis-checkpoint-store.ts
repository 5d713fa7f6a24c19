import { names } from '@distgan/protocol';
import { BlobCheckpointStore } from '@distgan/engine';
import type { RedisBlobStore } from './redis-blob-store.js';

/**
 * Checkpoints in Redis (docs/design.md §3): the blobs under the run's checkpoint keys, and the pointer
 * at `checkpointKey`, switched by one SET.
 */
export class RedisCheckpointStore extends BlobCheckpointStore {
  constructor(redis: RedisBlobStore, runId: string) {
    const key = names(runId).checkpointKey;
    super(
      redis,
      {
        read: () => redis.client.get(key),
        write: async (value) => {
          await redis.client.set(key, value);
        },
      },
      runId,
    );
  }
}

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBlobStore } from './memory-blob-store.js';

describe('in-memory blob store', () => {
  it('drops expired blobs that nobody reads again, as Redis does', async () => {
    let clock = 0;
    const store = new MemoryBlobStore(() => clock);
    const bytes = new Uint8Array([1, 2, 3]);
    await store.put('a', bytes, { ttlSeconds: 1 });
    await store.put('kept', bytes);
    assert.deepEqual(await store.get('a'), bytes);
    clock = 1_500;
    await store.put('b', bytes, { ttlSeconds: 1 });
    assert.deepEqual(store.keys().sort(), ['b', 'kept']);
    assert.equal(await store.get('a'), null);
    clock = 2_600; // b expired, not yet swept: a read sees it gone all the same
    assert.equal(await store.get('b'), null);
    assert.deepEqual(await store.get('kept'), bytes);
  });
});

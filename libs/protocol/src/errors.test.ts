import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BlobIntegrityError, DistganError, errorFromWire, errorToWire } from './errors.js';
import { ConfigError } from './settings.js';

/** What a worker thread receives: the wire form after a structured clone (postMessage). */
const acrossThreads = (err: unknown): Error => errorFromWire(structuredClone(errorToWire(err)));

describe('errors across a structured-clone boundary', () => {
  it('keep their class, code, fields, context and cause', () => {
    const cause = new Error('ECONNRESET');
    const err = new BlobIntegrityError('checksum-mismatch', 'digest differs', {
      run: 'r',
      round: 3,
      device: 'device-1',
    });
    Object.defineProperty(err, 'cause', { value: cause });
    const back = acrossThreads(err);
    assert.ok(back instanceof BlobIntegrityError, 'a BlobIntegrityError again');
    assert.ok(back instanceof DistganError);
    assert.equal(back.code, 'BLOB_INTEGRITY');
    assert.equal(back.reason, 'checksum-mismatch');
    assert.deepEqual(back.context, { run: 'r', round: 3, device: 'device-1' });
    assert.equal(back.message, err.message);
    assert.equal(back.name, 'BlobIntegrityError');
    assert.equal((back.cause as Error).message, 'ECONNRESET');
    assert.equal(back.stack, err.stack);
  });

  it('an unregistered class comes back as an Error of the same name and fields', () => {
    const back = acrossThreads(new ConfigError(['PORT: not a number']));
    assert.equal(back.name, 'ConfigError');
    assert.deepEqual((back as unknown as { problems: string[] }).problems, ['PORT: not a number']);
  });

  it('a thrown non-error becomes an Error with its text', () => {
    const back = acrossThreads('plain string');
    assert.equal(back.message, 'plain string');
  });
});

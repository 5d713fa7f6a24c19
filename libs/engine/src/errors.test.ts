import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { errorFromWire, errorToWire } from '@distgan/protocol';
import { RoundFailedError, TransportError } from './errors.js';

describe("the engine's errors", () => {
  it('keep what caused them', () => {
    const socket = new Error('ECONNRESET');
    const transport = new TransportError('Redis GET k', socket, { run: 'r' });
    assert.equal(transport.cause, socket);
    const failed = new RoundFailedError(7, 5, 'r', transport);
    assert.equal(failed.cause, transport);
    assert.match(
      failed.message,
      /round 7 of run "r" failed 5 time\(s\): Redis GET k failed: ECONNRESET/,
    );
  });

  it('cross a worker-thread boundary as themselves', () => {
    const back = errorFromWire(
      structuredClone(errorToWire(new TransportError('publish', new Error('channel closed')))),
    );
    assert.ok(back instanceof TransportError);
    assert.equal(back.code, 'TRANSPORT_UNAVAILABLE');
    assert.equal((back.cause as Error).message, 'channel closed');
  });
});

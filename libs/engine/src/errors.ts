import { DistganError, registerWireError } from '@distgan/protocol';

/** A round closed with fewer accepted updates than the quorum; the round is retried. */
export class QuorumNotReachedError extends DistganError {
  constructor(
    readonly round: number,
    readonly accepted: number,
    readonly quorum: number,
    runId: string,
    /** Set when the round was not started: only this many devices were alive. */
    participants?: number,
    /**
     * The participants that sent nothing at all (no update, refused or not, and no TaskDeclined):
     * unreachable rather than unable, e.g. reconnecting to a restarted broker.
     */
    readonly silent: readonly string[] = [],
  ) {
    super(
      'QUORUM_NOT_REACHED',
      (participants !== undefined
        ? `round ${round} of run "${runId}" has only ${participants} live device(s), fewer than the quorum of ${quorum}; `
        : `round ${round} of run "${runId}" closed with ${accepted} accepted update(s), fewer than the quorum of ${quorum}; `) +
        'the round will be retried. If devices are slow, raise the round deadline; if they are gone, lower the quorum.',
      { run: runId, round },
    );
  }
}

/** The coordinator gave up on a round after its attempts were used up. */
export class RoundFailedError extends DistganError {
  constructor(round: number, attempts: number, runId: string, cause: Error) {
    super(
      'ROUND_FAILED',
      `round ${round} of run "${runId}" failed ${attempts} time(s): ${cause.message}`,
      { run: runId, round },
      { cause },
    );
  }
}

/**
 * The broker or the blob store could not be reached or refused an operation. Unlike bad input,
 * this is worth retrying: a device requeues its task, the server retries the round.
 */
export class TransportError extends DistganError {
  constructor(
    operation: string,
    cause: unknown,
    context: ConstructorParameters<typeof DistganError>[2] = {},
  ) {
    super(
      'TRANSPORT_UNAVAILABLE',
      `${operation} failed: ${cause instanceof Error ? cause.message : String(cause)}`,
      context,
      { cause },
    );
  }
}

// Errors keep their class across the embedded run's worker threads (see errorToWire).
for (const cls of [QuorumNotReachedError, RoundFailedError, TransportError]) registerWireError(cls);

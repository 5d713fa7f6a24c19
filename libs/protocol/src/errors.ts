/** Where an error happened: which run, round and device, when known. */
export interface ErrorContext {
  run?: string;
  round?: number;
  device?: string;
}

/**
 * Base of the project's errors. `code` is stable (callers branch on it, never on the message);
 * the message says what was wrong and what to do next.
 */
export class DistganError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly context: ErrorContext = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A message that is not valid JSON, not of a known type and version, or fails its schema. */
export class ProtocolError extends DistganError {
  constructor(
    readonly reason: string,
    context: ErrorContext = {},
    readonly path?: string,
  ) {
    super('PROTOCOL_INVALID_MESSAGE', `invalid message: ${reason}`, context);
  }
}

export type BlobIntegrityReason =
  | 'truncated'
  | 'bad-magic'
  | 'unsupported-version'
  | 'bad-header'
  | 'checksum-mismatch'
  | 'shape-mismatch'
  | 'non-finite'
  | 'missing';

/** A weight blob that must not be used: it is never decoded into a model or averaged. */
export class BlobIntegrityError extends DistganError {
  constructor(
    readonly reason: BlobIntegrityReason,
    detail: string,
    context: ErrorContext = {},
  ) {
    super('BLOB_INTEGRITY', `weight blob refused (${reason}): ${detail}`, context);
  }
}

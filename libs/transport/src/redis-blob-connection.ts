import { connect, isIP, type Socket } from 'node:net';
import { connect as connectTls, type ConnectionOptions as TlsOptions } from 'node:tls';
import { TransportError, type BlobLease } from '@distgan/engine';

/**
 * Receive buffers kept between reads. A weight blob read into fresh memory costs a page fault
 * per 4 KiB (about 550 for a 2.2 MB blob, measured with ioredis), which is most of the CPU time
 * of the read; a buffer taken from here has its pages mapped already.
 */
export class BufferPool {
  private readonly free: ArrayBuffer[] = [];
  private freeBytes = 0;

  /** `maxFreeBytes`: buffers given back beyond this are dropped for the GC. */
  constructor(private readonly maxFreeBytes = 256 * 1024 * 1024) {}

  /** The smallest free buffer of at least `size` bytes, or a new one. */
  acquire(size: number): ArrayBuffer {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i]!;
      if (b.byteLength >= size && (best < 0 || b.byteLength < this.free[best]!.byteLength))
        best = i;
    }
    if (best >= 0) {
      const [b] = this.free.splice(best, 1);
      this.freeBytes -= b!.byteLength;
      return b!;
    }
    // Rounded up, so that a blob a little larger than the last one still fits next time.
    return new ArrayBuffer(Math.max(64, Math.ceil(size / 65_536) * 65_536));
  }

  release(buffer: ArrayBuffer): void {
    if (this.freeBytes + buffer.byteLength > this.maxFreeBytes) return;
    this.free.push(buffer);
    this.freeBytes += buffer.byteLength;
  }

  /** Buffers waiting for reuse, and their bytes (for tests). */
  get stats(): { buffers: number; bytes: number } {
    return { buffers: this.free.length, bytes: this.freeBytes };
  }
}

export interface RedisBlobConnectionOptions {
  /**
   * redis[s]://[[user]:password@]host[:port][/db]: an ACL user (AUTH user password) or the
   * default user (AUTH password), a database index (SELECT), TLS with rediss://.
   */
  url: string;
  /**
   * TLS options for rediss:// (a private CA, a client certificate), as ioredis's `tls`. The
   * server's name is checked against its certificate; Node's trust store applies, with
   * NODE_EXTRA_CA_CERTS.
   */
  tls?: TlsOptions;
  pool?: BufferPool;
  /** Longest wait between reconnection attempts. Default 5 s. */
  maxRetryDelayMs?: number;
  onState?: (state: 'connected' | 'reconnecting' | 'error', detail?: string) => void;
  /** Size of the one socket read buffer. Default 256 KiB. */
  readBufferBytes?: number;
}

interface Request {
  /** The command as RESP, written again after a reconnect (GET, SET, AUTH, SELECT are idempotent). */
  readonly wire: readonly Uint8Array[];
  readonly what: string;
  resolve(reply: BlobLease | string | null): void;
  reject(err: Error): void;
}

/**
 * The wait before reconnection attempt `attempt` (0, 1, …): 50 ms doubling, at most `maxMs`. Both
 * of a store's connections back off alike.
 */
export function reconnectDelayMs(attempt: number, maxMs: number): number {
  return Math.min(maxMs, 50 * 2 ** Math.min(attempt, 10));
}

/** Codes of TLS errors that no retry can fix (Node's and OpenSSL's). */
const TLS_REFUSALS =
  /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS_CERT_ALTNAME_INVALID|ERR_SSL/;

/** A header line longer than this is not RESP from Redis. */
const MAX_LINE = 64 * 1024;

/**
 * Moves blobs to and from Redis on a connection of its own. GET replies go from one socket read
 * buffer straight into pooled buffers: no per-chunk allocation, no concatenation, no fresh
 * pages. SET writes the caller's bytes to the socket as they are. The replies it understands
 * are the ones GET, SET, AUTH and SELECT give (bulk strings, status and errors). Like the
 * ioredis connection beside it, it never fails a command because of a disconnect: it
 * reconnects with backoff and sends the unanswered commands again (all four are idempotent).
 */
export class RedisBlobConnection {
  private socket: Socket | undefined;
  private connected = false;
  private closed = false;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** Sent or waiting to be sent, in order: Redis answers in the order it is asked. */
  private readonly queue: Request[] = [];
  private readonly handshake: Buffer[][] = [];
  private readonly pool: BufferPool;
  private readonly readBuffer: Buffer;
  private readonly host: string;
  private readonly port: number;
  /** Set for rediss:// URLs. */
  private readonly tls: TlsOptions | undefined;
  // Parser state, reset with every connection.
  private line = '';
  private body: { buffer: ArrayBuffer; length: number; got: number } | undefined;
  private trailer = 0;

  constructor(private readonly opts: RedisBlobConnectionOptions) {
    const url = new URL(opts.url);
    if (!RedisBlobConnection.handles(opts.url)) {
      throw new Error(
        `the blob connection handles redis:// and rediss:// URLs, not ${url.protocol}//`,
      );
    }
    this.host = url.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
    this.port = url.port ? Number(url.port) : 6379;
    this.tls =
      url.protocol === 'rediss:'
        ? { ...(isIP(this.host) ? {} : { servername: this.host }), ...opts.tls }
        : undefined;
    const password = decodeURIComponent(url.password);
    const user = decodeURIComponent(url.username);
    if (password)
      this.handshake.push([command(user ? ['AUTH', user, password] : ['AUTH', password])]);
    const db = url.pathname.replace(/^\//, '');
    if (db && db !== '0') this.handshake.push([command(['SELECT', db])]);
    this.pool = opts.pool ?? new BufferPool();
    this.readBuffer = Buffer.allocUnsafe(opts.readBufferBytes ?? 256 * 1024);
  }

  /** Whether a URL is one this connection speaks (else the store moves blobs through ioredis). */
  static handles(url: string): boolean {
    const u = new URL(url);
    return (u.protocol === 'redis:' || u.protocol === 'rediss:') && u.search === '';
  }

  /** The bytes under `key` in a pooled buffer, or null when there are none. */
  get(key: string): Promise<BlobLease | null> {
    return this.send([command(['GET', key])], `GET ${key}`) as Promise<BlobLease | null>;
  }

  /**
   * SET key bytes [EX ttlSeconds]. The bytes go to the socket as they are (ioredis copies a
   * Buffer argument into a new one first); they must not change until this resolves.
   */
  async set(key: string, bytes: Uint8Array, ttlSeconds?: number): Promise<void> {
    const tail = ttlSeconds ? ['EX', String(Math.ceil(ttlSeconds))] : [];
    const head = Buffer.from(
      `*${3 + tail.length}\r\n${bulkStrings(['SET', key])}$${bytes.byteLength}\r\n`,
    );
    await this.send([head, bytes, Buffer.from(`\r\n${bulkStrings(tail)}`)], `SET ${key}`);
  }

  /** Drops the connection; unanswered reads fail. */
  close(): void {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.socket?.destroy();
    this.socket = undefined;
    this.failAll(new TransportError('reading a blob', 'the blob connection is closed'));
  }

  private send(wire: readonly Uint8Array[], what: string): Promise<BlobLease | string | null> {
    if (this.closed)
      return Promise.reject(new TransportError(`Redis ${what}`, 'the blob connection is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ wire, what, resolve, reject });
      if (this.connected) for (const w of wire) this.socket!.write(w);
      else if (!this.socket && !this.reconnectTimer) this.open();
    });
  }

  private open(): void {
    this.reconnectTimer = undefined;
    this.line = '';
    this.dropBody();
    this.trailer = 0;
    const consume = (buf: Buffer, n: number): void => {
      try {
        this.consume(buf, n);
      } catch (err) {
        this.opts.onState?.('error', (err as Error).message);
        socket.destroy(); // out of step with the stream: start over on a new connection
      }
    };
    let socket: Socket;
    if (this.tls) {
      // TLS hands over decrypted chunks of its own: parsed as they come.
      socket = connectTls({ host: this.host, port: this.port, ...this.tls });
      socket.setNoDelay(true);
      socket.on('data', (chunk: Buffer) => consume(chunk, chunk.length));
    } else {
      const readBuffer = this.readBuffer;
      socket = connect({
        host: this.host,
        port: this.port,
        noDelay: true,
        onread: {
          buffer: readBuffer,
          callback: (n: number) => {
            consume(readBuffer, n);
            return true;
          },
        },
      });
    }
    this.socket = socket;
    socket.on(this.tls ? 'secureConnect' : 'connect', () => {
      this.attempt = 0;
      this.connected = true;
      // The handshake first, then every command not answered on the last connection.
      const handshake = this.handshake.map((wire): Request => ({
        wire,
        what: 'handshake',
        resolve: () => {},
        reject: (err) => {
          // A password in the URL of a Redis that has none: ioredis goes on, and so does this.
          if (/no password is set|without any password configured/i.test(err.message)) return;
          this.opts.onState?.('error', `blob connection: ${err.message}`);
          this.failAll(err); // wrong credentials: fail the reads instead of retrying forever
          socket.destroy();
        },
      }));
      this.queue.unshift(...handshake);
      for (const r of this.queue) for (const w of r.wire) socket.write(w);
      this.opts.onState?.('connected');
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.opts.onState?.('error', `blob connection: ${err.message}`);
      // A certificate that does not verify will not verify on the next try either: fail the
      // reads with the reason, as for wrong credentials, instead of retrying forever.
      if (this.tls && TLS_REFUSALS.test(err.code ?? ''))
        this.failAll(new TransportError(`TLS to Redis at ${this.host}:${this.port}`, err));
    });
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.connected = false;
      this.socket = undefined;
      this.dropBody();
      // Handshake commands are sent afresh with each connection.
      for (let i = this.queue.length - 1; i >= 0; i--)
        if (this.queue[i]!.what === 'handshake') this.queue.splice(i, 1);
      if (this.closed || this.queue.length === 0) return;
      this.opts.onState?.('reconnecting');
      const delay = reconnectDelayMs(this.attempt, this.opts.maxRetryDelayMs ?? 5_000);
      this.attempt += 1;
      this.reconnectTimer = setTimeout(() => this.open(), delay);
    });
  }

  /** Parses the replies in buf[0, n). */
  private consume(buf: Buffer, n: number): void {
    let i = 0;
    while (i < n) {
      const body = this.body;
      if (body) {
        const take = Math.min(body.length - body.got, n - i);
        new Uint8Array(body.buffer, body.got, take).set(buf.subarray(i, i + take));
        body.got += take;
        i += take;
        if (body.got < body.length) continue;
      }
      if (this.trailer > 0) {
        const skip = Math.min(this.trailer, n - i);
        i += skip;
        this.trailer -= skip;
        if (this.trailer === 0) this.finishBulk();
        continue;
      }
      const nl = buf.subarray(i, n).indexOf(10);
      if (nl < 0) {
        this.line += buf.toString('latin1', i, n);
        if (this.line.length > MAX_LINE) throw new Error('blob connection: reply line too long');
        return;
      }
      this.line += buf.toString('latin1', i, i + nl);
      i += nl + 1;
      const line = this.line.endsWith('\r') ? this.line.slice(0, -1) : this.line;
      this.line = '';
      this.reply(line);
    }
  }

  private reply(line: string): void {
    const kind = line[0];
    const rest = line.slice(1);
    if (kind === '$') {
      const length = Number(rest);
      if (!Number.isInteger(length) || length < -1)
        throw new Error(`blob connection: bad bulk length "${rest}"`);
      if (length === -1) return this.settle(null);
      this.body = { buffer: this.pool.acquire(length), length, got: 0 };
      this.trailer = 2; // the CRLF after the body, consumed once the body is in
      return;
    }
    if (kind === '+' || kind === ':') return this.settle(rest);
    if (kind === '-') return this.settle(new Error(rest));
    throw new Error(`blob connection: unexpected reply "${line.slice(0, 40)}"`);
  }

  private finishBulk(): void {
    const body = this.body!;
    this.body = undefined;
    let released = false;
    const lease: BlobLease = {
      bytes: new Uint8Array(body.buffer, 0, body.length),
      release: () => {
        if (released) return;
        released = true;
        this.pool.release(body.buffer);
      },
    };
    this.settle(lease);
  }

  private settle(reply: BlobLease | string | null | Error): void {
    const request = this.queue.shift();
    if (!request) throw new Error('blob connection: a reply nobody asked for');
    if (reply instanceof Error) request.reject(new TransportError(`Redis ${request.what}`, reply));
    else request.resolve(reply);
  }

  private dropBody(): void {
    if (this.body) this.pool.release(this.body.buffer);
    this.body = undefined;
  }

  private failAll(err: Error): void {
    for (const r of this.queue.splice(0)) r.reject(err);
  }
}

/** A command as a RESP array of bulk strings. */
function command(args: readonly string[]): Buffer {
  return Buffer.from(`*${args.length}\r\n${bulkStrings(args)}`);
}

function bulkStrings(args: readonly string[]): string {
  return args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('');
}

/** A FIFO whose consumers can wait for the next item with a timeout. */
export class AsyncQueue<T> {
  private readonly items: T[] = [];
  private readonly waiters: ((item: T | null) => void)[] = [];
  private closed = false;

  push(item: T): boolean {
    if (this.closed) return false;
    const waiter = this.waiters.shift();
    if (waiter) waiter(item);
    else this.items.push(item);
    return true;
  }

  /** Puts an item back at the head (a requeued message is delivered next). */
  unshift(item: T): void {
    if (this.closed) return;
    const waiter = this.waiters.shift();
    if (waiter) waiter(item);
    else this.items.unshift(item);
  }

  /**
   * The next item, or null after `timeoutMs` (Infinity: wait until an item or close) or when
   * `signal` aborts. A wait that ends without an item takes none: nothing is lost.
   */
  next(timeoutMs = Infinity, signal?: AbortSignal): Promise<T | null> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve(item);
    // A zero timeout is a poll: no timer, whose tick would cost a millisecond or more.
    if (this.closed || signal?.aborted || timeoutMs <= 0) return Promise.resolve(null);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (value: T | null): void => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', cancel);
        resolve(value);
      };
      const cancel = (): void => {
        const i = this.waiters.indexOf(finish);
        if (i >= 0) this.waiters.splice(i, 1);
        finish(null);
      };
      this.waiters.push(finish);
      signal?.addEventListener('abort', cancel, { once: true });
      if (Number.isFinite(timeoutMs)) timer = setTimeout(cancel, Math.max(0, timeoutMs));
    });
  }

  get length(): number {
    return this.items.length;
  }

  close(): void {
    this.closed = true;
    this.items.length = 0;
    for (const w of this.waiters.splice(0)) w(null);
  }
}

/**
 * A counting budget (files or bytes in flight). `acquire(n)` waits until `n` fits; a single
 * request larger than the whole budget is let through when nothing else is in flight, so one
 * huge item can never deadlock the pipeline. Waiters are served in order (no starvation).
 */
export class Budget {
  private used = 0;
  private readonly waiters: Array<{
    n: number;
    resolve: () => void;
    reject: (e: unknown) => void;
  }> = [];

  constructor(readonly capacity: number) {}

  get inUse(): number {
    return this.used;
  }

  acquire(n: number, signal?: AbortSignal): Promise<void> {
    if (this.waiters.length === 0 && this.fits(n)) {
      this.used += n;
      return Promise.resolve();
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const waiter = {
        n,
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
        reject,
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal?.reason);
        this.wake();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  release(n: number): void {
    this.used = Math.max(0, this.used - n);
    this.wake();
  }

  private fits(n: number): boolean {
    return this.used + n <= this.capacity || this.used === 0;
  }

  private wake(): void {
    while (this.waiters.length > 0) {
      const next = this.waiters[0];
      if (!next || !this.fits(next.n)) return;
      this.waiters.shift();
      this.used += next.n;
      next.resolve();
    }
  }
}

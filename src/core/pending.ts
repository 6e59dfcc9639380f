/**
 * Tracks promises started in a loop without keeping them all: `settled()` resolves once every
 * tracked promise has settled and tells whether (and why) one of them failed. Rejections are
 * observed as soon as they happen, so none goes unhandled.
 */
export class PendingSet {
  private count = 0;
  private firstError: { error: unknown } | undefined;
  private waiters: Array<() => void> = [];

  add(p: Promise<unknown>): void {
    this.count++;
    p.then(
      () => this.done(),
      (error: unknown) => {
        this.firstError ??= { error };
        this.done();
      },
    );
  }

  get size(): number {
    return this.count;
  }

  async settled(): Promise<{ error: unknown } | undefined> {
    if (this.count > 0) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return this.firstError;
  }

  private done(): void {
    this.count--;
    if (this.count === 0) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    }
  }
}

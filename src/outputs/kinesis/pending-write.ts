/**
 * The promise of one `write(batch)`: it resolves when each of its records is accounted for
 * (stored in Kinesis, or durable in the dead letter), and rejects at the first record that
 * cannot be, after which its other records are no longer worth sending (the pipeline writes
 * the whole batch again).
 */
export class PendingWrite {
  readonly promise: Promise<void>;
  private remaining: number;
  private isSettled = false;
  private resolvePromise!: () => void;
  private rejectPromise!: (err: unknown) => void;

  constructor(
    records: number,
    private readonly onSettled: (w: PendingWrite) => void,
  ) {
    this.remaining = records;
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolvePromise = resolve;
      this.rejectPromise = reject;
    });
  }

  get settled(): boolean {
    return this.isSettled;
  }

  /** `n` more records are accounted for. */
  done(n = 1): void {
    if (this.isSettled) return;
    this.remaining -= n;
    if (this.remaining > 0) return;
    this.isSettled = true;
    this.resolvePromise();
    this.onSettled(this);
  }

  fail(err: unknown): void {
    if (this.isSettled) return;
    this.isSettled = true;
    this.rejectPromise(err);
    this.onSettled(this);
  }
}

/**
 * A client-side limiter for the Red Canary API (SPEC.md section 4: at most 10 requests in any one
 * second and 20 in any one minute per IP; beyond that the API answers 429 without Retry-After).
 *
 * Sliding window log. The server counts request ARRIVALS, which the client cannot see, so each
 * slot has a time that is never earlier than its arrival:
 *
 * - `acquireSlot()` (what the API client uses) holds the slot "in flight" until its `release()`,
 *   then dates it at the release: the server saw the request no later than the answer came back.
 *   An in-flight slot occupies every window until released. This is exact whatever the latency:
 *   the first request of a process can take a few hundred ms to arrive (module loading, DNS,
 *   TCP and TLS set-up) and would otherwise share a window with requests started after it.
 * - `acquire()` dates the slot at its start, for callers that cannot report completion; then the
 *   margin below must cover the latency differences.
 *
 * A request may start only when, for every limit, fewer than `count` slots are dated within the
 * limit's window before it. Every window is treated as `marginMs` longer than configured (default
 * 250 ms) for safety against server-side bookkeeping the client cannot see; the skew being a
 * latency difference, the margin is absolute, not a share of the window.
 *
 * Waiters are served first in, first out. `pause(ms)` holds every request (after a 429, which
 * says the server's count differs from ours, e.g. another process behind the same IP).
 */

export interface RateLimit {
  /** Most request starts allowed within any window of `windowMs`. */
  readonly count: number;
  readonly windowMs: number;
}

/** Time source and timer, injectable for tests. `now()` must not go backwards. */
export interface LimiterClock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

export interface RateLimiterOptions {
  readonly limits: readonly RateLimit[];
  /** Added to every window, see above. Default 250 ms. */
  readonly marginMs?: number;
  readonly clock?: LimiterClock;
}

/** The Red Canary API's published limits. */
export const RED_CANARY_RATE_LIMITS: readonly RateLimit[] = [
  { count: 10, windowMs: 1000 },
  { count: 20, windowMs: 60_000 },
];

export const DEFAULT_LIMITER_MARGIN_MS = 250;

const systemClock: LimiterClock = {
  now: () => performance.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Ends an acquired slot's flight; idempotent. */
export type ReleaseSlot = () => void;

interface Slot {
  /** When the server saw the request at the latest; Infinity while in flight. */
  at: number;
}

interface Waiter {
  readonly grant: (slot: Slot) => void;
  readonly reject: (reason: unknown) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

export class RateLimiter {
  private readonly limits: readonly { readonly count: number; readonly spanMs: number }[];
  private readonly keep: number;
  private readonly clock: LimiterClock;
  /** The latest-dated slots, at most `keep`: older ones cannot affect any window. */
  private slots: Slot[] = [];
  private readonly queue: Waiter[] = [];
  private pausedUntil = Number.NEGATIVE_INFINITY;
  private timer: unknown;

  constructor(opts: RateLimiterOptions) {
    if (opts.limits.length === 0) throw new RangeError("RateLimiter needs at least one limit");
    const margin = opts.marginMs ?? DEFAULT_LIMITER_MARGIN_MS;
    if (!(margin >= 0)) throw new RangeError(`marginMs must be >= 0, got ${margin}`);
    for (const l of opts.limits) {
      if (!Number.isInteger(l.count) || l.count < 1 || !(l.windowMs > 0)) {
        throw new RangeError(`invalid rate limit ${l.count} per ${l.windowMs} ms`);
      }
    }
    this.limits = opts.limits.map((l) => ({ count: l.count, spanMs: l.windowMs + margin }));
    this.keep = Math.max(...opts.limits.map((l) => l.count));
    this.clock = opts.clock ?? systemClock;
  }

  /** Requests waiting for a slot. */
  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Resolves when a request may start now, dating the slot at this moment (see above); call it
   * right before sending. Rejects with the signal's reason (giving up its place) when it aborts.
   */
  async acquire(signal?: AbortSignal): Promise<void> {
    const release = await this.acquireSlot(signal);
    release();
  }

  /**
   * Like acquire, but the slot stays in flight until the returned function is called, which
   * must happen once the answer or the failure is in (in a `finally`): a slot never released
   * blocks its windows for good.
   */
  acquireSlot(signal?: AbortSignal): Promise<ReleaseSlot> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.queue.length === 0 && this.readyAt() <= this.clock.now()) {
      return Promise.resolve(this.releaser(this.take()));
    }
    return new Promise<ReleaseSlot>((resolve, reject) => {
      const waiter: Waiter = {
        grant: (slot) => resolve(this.releaser(slot)),
        reject,
        signal,
        onAbort: () => {
          const i = this.queue.indexOf(waiter);
          if (i >= 0) this.queue.splice(i, 1);
          reject(signal?.reason);
          this.schedule();
        },
      };
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.queue.push(waiter);
      this.schedule();
    });
  }

  /** Holds every request for at least `ms` from now (a longer pause already set stays). */
  pause(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.clock.now() + Math.max(0, ms));
    this.schedule();
  }

  /** Earliest time the next request may start; Infinity while in-flight slots fill a window. */
  private readyAt(): number {
    let at = this.pausedUntil;
    for (const l of this.limits) {
      const kth = this.slots[l.count - 1];
      if (kth !== undefined) at = Math.max(at, kth.at + l.spanMs);
    }
    return at;
  }

  private take(): Slot {
    const slot: Slot = { at: Number.POSITIVE_INFINITY };
    this.slots.unshift(slot);
    if (this.slots.length > this.keep) this.slots.length = this.keep;
    return slot;
  }

  private releaser(slot: Slot): ReleaseSlot {
    return () => {
      if (slot.at !== Number.POSITIVE_INFINITY) return;
      slot.at = this.clock.now();
      // Latest first: in-flight slots, then the others by date.
      this.slots.sort((a, b) => (a.at === b.at ? 0 : a.at < b.at ? 1 : -1));
      this.schedule();
    };
  }

  private drain(): void {
    this.timer = undefined;
    const now = this.clock.now();
    while (this.queue.length > 0 && this.readyAt() <= now) {
      const waiter = this.queue.shift() as Waiter;
      waiter.signal?.removeEventListener("abort", waiter.onAbort);
      waiter.grant(this.take());
    }
    this.schedule();
  }

  /** One timer, for the head of the queue; re-armed when the head, a slot or the pause changes. */
  private schedule(): void {
    if (this.timer !== undefined) {
      this.clock.clearTimer(this.timer);
      this.timer = undefined;
    }
    if (this.queue.length === 0) return;
    const wait = this.readyAt() - this.clock.now();
    // In flight slots fill a window: a release will reschedule.
    if (wait === Number.POSITIVE_INFINITY) return;
    // Timers may fire a fraction of a millisecond early: never re-arm with 0 for a future time.
    this.timer = this.clock.setTimer(
      () => this.drain(),
      wait <= 0 ? 0 : Math.max(1, Math.ceil(wait)),
    );
  }
}

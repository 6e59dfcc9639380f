import { describe, expect, it } from "vitest";
import { type LimiterClock, RateLimiter } from "../../src/enrich/rate-limiter.js";

/** A manual clock: timers fire only when the test advances time. */
class FakeClock implements LimiterClock {
  private time = 0;
  private nextId = 1;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.time;
  }

  setTimer(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.set(id, { at: this.time + ms, fn });
    return id;
  }

  clearTimer(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Moves time forward to `now + ms`, firing due timers in order and letting promises settle. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      await flush();
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.timers) {
        if (entry[1].at <= end && (next === undefined || entry[1].at < next[1].at)) next = entry;
      }
      if (next === undefined) break;
      this.timers.delete(next[0]);
      this.time = Math.max(this.time, next[1].at);
      next[1].fn();
    }
    this.time = end;
    await flush();
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

/** Starts `n` acquisitions and records the (fake) time at which each one was granted. */
function acquireAll(limiter: RateLimiter, clock: FakeClock, n: number) {
  const granted: number[] = [];
  const order: number[] = [];
  const done = Array.from({ length: n }, (_, i) =>
    limiter.acquire().then(() => {
      granted.push(clock.now());
      order.push(i);
    }),
  );
  return { granted, order, all: Promise.all(done) };
}

function maxInAnyWindow(times: readonly number[], windowMs: number): number {
  let best = 0;
  for (let first = 0, last = 0; last < times.length; last++) {
    while ((times[last] as number) - (times[first] as number) >= windowMs) first++;
    best = Math.max(best, last - first + 1);
  }
  return best;
}

describe("RateLimiter", () => {
  it("grants up to the count at once, then holds the rest until the window moves", async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ limits: [{ count: 3, windowMs: 1000 }], marginMs: 0, clock });

    const run = acquireAll(limiter, clock, 5);
    await clock.advance(0);
    expect(run.granted).toEqual([0, 0, 0]);
    expect(limiter.waiting).toBe(2);

    await clock.advance(999);
    expect(run.granted).toHaveLength(3);
    await clock.advance(1);
    await run.all;
    expect(run.granted).toEqual([0, 0, 0, 1000, 1000]);
    expect(clock.pendingTimers).toBe(0);
  });

  it("keeps both windows of the Red Canary limits over many acquisitions", async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({
      limits: [
        { count: 10, windowMs: 1000 },
        { count: 20, windowMs: 60_000 },
      ],
      clock,
    });

    const run = acquireAll(limiter, clock, 75);
    await clock.advance(5 * 60_000);
    await run.all;

    expect(run.granted).toHaveLength(75);
    // The margin (250 ms by default) widens every window.
    expect(maxInAnyWindow(run.granted, 1250)).toBeLessThanOrEqual(10);
    expect(maxInAnyWindow(run.granted, 60_250)).toBeLessThanOrEqual(20);
    // And the limiter does not wait longer than it must: 20 per 60.25 s, bursts of 10.
    expect(run.granted.slice(0, 10).every((t) => t === 0)).toBe(true);
    expect(run.granted[10]).toBe(1250);
    expect(run.granted[20]).toBe(60_250);
    expect(run.granted[74]).toBe(3 * 60_250 + 1250);
  });

  it("grants in request order, and a newcomer does not overtake waiters", async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ limits: [{ count: 2, windowMs: 100 }], marginMs: 0, clock });

    const first = acquireAll(limiter, clock, 6);
    await clock.advance(50);
    const late: number[] = [];
    const newcomer = limiter.acquire().then(() => late.push(clock.now()));
    await clock.advance(1000);
    await Promise.all([first.all, newcomer]);

    expect(first.order).toEqual([0, 1, 2, 3, 4, 5]);
    expect(first.granted).toEqual([0, 0, 100, 100, 200, 200]);
    expect(late).toEqual([300]);
  });

  it("pause holds every request, and a shorter pause does not shorten a longer one", async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ limits: [{ count: 10, windowMs: 100 }], marginMs: 0, clock });

    limiter.pause(500);
    limiter.pause(100);
    const run = acquireAll(limiter, clock, 2);
    await clock.advance(499);
    expect(run.granted).toEqual([]);
    await clock.advance(1);
    await run.all;
    expect(run.granted).toEqual([500, 500]);

    // A pause while requests wait delays them too.
    const more = acquireAll(limiter, clock, 9);
    await clock.advance(0);
    expect(more.granted).toHaveLength(8);
    limiter.pause(300);
    await clock.advance(299);
    expect(more.granted).toHaveLength(8);
    await clock.advance(1);
    await more.all;
    expect(more.granted[8]).toBe(800);
  });

  it("an aborted waiter rejects with the reason and gives up its place", async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ limits: [{ count: 1, windowMs: 100 }], marginMs: 0, clock });
    await limiter.acquire();

    const controller = new AbortController();
    const aborted = limiter.acquire(controller.signal);
    const next = acquireAll(limiter, clock, 1);
    const reason = new Error("shutting down");
    controller.abort(reason);

    await expect(aborted).rejects.toBe(reason);
    expect(limiter.waiting).toBe(1);
    await clock.advance(100);
    await next.all;
    expect(next.granted).toEqual([100]);
  });

  it("an already aborted signal rejects at once without taking a slot", async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ limits: [{ count: 1, windowMs: 100 }], marginMs: 0, clock });
    const reason = new Error("gone");

    await expect(limiter.acquire(AbortSignal.abort(reason))).rejects.toBe(reason);
    await limiter.acquire();
    expect(clock.now()).toBe(0);
  });

  it("an in-flight slot fills its windows until released, then counts from the release", async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ limits: [{ count: 2, windowMs: 100 }], marginMs: 0, clock });

    const releaseA = await limiter.acquireSlot();
    const releaseB = await limiter.acquireSlot();
    const next = acquireAll(limiter, clock, 2);
    await clock.advance(1000);
    expect(next.granted).toEqual([]);

    releaseA();
    releaseA();
    await clock.advance(99);
    expect(next.granted).toEqual([]);
    await clock.advance(1);
    expect(next.granted).toEqual([1100]);

    releaseB();
    await clock.advance(100);
    await next.all;
    expect(next.granted).toEqual([1100, 1200]);
  });

  it("holds real time limits with real timers", async () => {
    const limiter = new RateLimiter({ limits: [{ count: 4, windowMs: 100 }], marginMs: 10 });
    const times: number[] = [];
    await Promise.all(
      Array.from({ length: 12 }, () => limiter.acquire().then(() => times.push(performance.now()))),
    );
    // Measured after each grant settles, so up to the margin later than the limiter's own dates.
    expect(maxInAnyWindow(times, 100)).toBeLessThanOrEqual(4);
    expect((times[11] as number) - (times[0] as number)).toBeGreaterThanOrEqual(200);
  });

  it("rejects limits it cannot enforce", () => {
    expect(() => new RateLimiter({ limits: [] })).toThrow(RangeError);
    expect(() => new RateLimiter({ limits: [{ count: 0, windowMs: 1000 }] })).toThrow(RangeError);
    expect(() => new RateLimiter({ limits: [{ count: 1, windowMs: 0 }] })).toThrow(RangeError);
  });
});

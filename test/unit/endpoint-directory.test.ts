import { pino } from "pino";
import { describe, expect, it, vi } from "vitest";
import { ExporterError } from "../../src/core/errors.js";
import {
  EndpointDirectory,
  type EndpointDirectoryOptions,
} from "../../src/enrich/endpoint-directory.js";
import type { EndpointPage, EndpointResource, RedCanaryApi } from "../../src/enrich/types.js";

function endpoint(id: number): EndpointResource {
  return { id: String(id), attributes: { hostname: `HOST-${id}`, platform: "Windows" } };
}

/** Our own RedCanaryApi, in memory: counts calls and can fail, pause or hang. */
class FakeApi implements RedCanaryApi {
  readonly getCalls: string[] = [];
  readonly listCalls: number[] = [];
  failure: Error | undefined;
  hang = false;
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;

  constructor(public endpoints: EndpointResource[] = []) {}

  /** Calls wait until release(). */
  pause(): void {
    this.gate = new Promise((r) => {
      this.openGate = r;
    });
  }

  release(): void {
    this.openGate?.();
    this.gate = undefined;
  }

  async getEndpoint(id: string, signal?: AbortSignal): Promise<EndpointResource | null> {
    this.getCalls.push(id);
    await this.behave(signal);
    return this.endpoints.find((e) => e.id === id) ?? null;
  }

  async listEndpoints(page: number, perPage: number, signal?: AbortSignal): Promise<EndpointPage> {
    this.listCalls.push(page);
    await this.behave(signal);
    const start = (page - 1) * perPage;
    return {
      endpoints: this.endpoints.slice(start, start + perPage),
      totalItems: this.endpoints.length,
    };
  }

  private async behave(signal?: AbortSignal): Promise<void> {
    if (this.hang) {
      await new Promise<never>((_, reject) => {
        signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
      });
    }
    if (this.gate !== undefined) await this.gate;
    if (this.failure) throw this.failure;
  }
}

const unavailable = () => new ExporterError("api_unavailable", "retryable", "503 from the API");
const unauthorized = () => new ExporterError("api_unauthorized", "permanent", "403: bad key");

function setup(over: Partial<EndpointDirectoryOptions> & { api?: FakeApi } = {}) {
  const api = over.api ?? new FakeApi(Array.from({ length: 50 }, (_, i) => endpoint(i + 1)));
  const clock = { t: 1_000_000 };
  const logs: Array<{ level: number; msg: string } & Record<string, unknown>> = [];
  const logger = pino({ level: "warn" }, { write: (line: string) => logs.push(JSON.parse(line)) });
  const dir = new EndpointDirectory({
    maxEntries: 1000,
    ttlMs: 3_600_000,
    negativeTtlMs: 300_000,
    match: "id",
    prefetch: false,
    perPage: 1000,
    logger,
    now: () => clock.t,
    ...over,
    api,
  });
  return { api, clock, logs, dir };
}

describe("EndpointDirectory, match by id", () => {
  it("coalesces 100 concurrent resolves of 10 keys into 10 requests", async () => {
    const { api, dir } = setup();
    const keys = Array.from({ length: 10 }, (_, i) => String(i + 1));
    await Promise.all(Array.from({ length: 100 }, (_, i) => dir.resolve([keys[i % 10] ?? "1"])));
    expect(api.getCalls.sort()).toEqual([...keys].sort());
    expect(dir.peek("7")).toEqual({ status: "found", endpoint: endpoint(7) });
    expect(dir.size).toBe(10);
    await dir.resolve(keys);
    expect(api.getCalls).toHaveLength(10);
  });

  it("caches not found for negativeTtlMs, then serves it stale and refreshes once", async () => {
    const { api, dir, clock } = setup();
    await dir.resolve(["9999"]);
    expect(dir.peek("9999")).toEqual({ status: "not_found" });
    await dir.resolve(["9999"]);
    expect(api.getCalls).toEqual(["9999"]);

    api.endpoints.push(endpoint(9999));
    clock.t += 300_000;
    expect(dir.peek("9999")).toEqual({ status: "not_found" });
    expect(dir.peek("9999")).toEqual({ status: "not_found" });
    await vi.waitFor(() => expect(dir.peek("9999")?.status).toBe("found"));
    expect(api.getCalls).toEqual(["9999", "9999"]);
  });

  it("serves a stale entry after ttlMs and refreshes it once in the background", async () => {
    const { api, dir, clock } = setup();
    await dir.resolve(["5"]);
    api.endpoints[4] = { id: "5", attributes: { hostname: "RENAMED" } };
    clock.t += 3_600_000;
    api.pause();
    for (let i = 0; i < 5; i++)
      expect(dir.peek("5")).toEqual({ status: "found", endpoint: endpoint(5) });
    await dir.resolve(["5"]); // stale counts as cached: no wait
    expect(api.getCalls).toEqual(["5", "5"]);
    api.release();
    await vi.waitFor(() =>
      expect(dir.peek("5")).toMatchObject({ endpoint: { attributes: { hostname: "RENAMED" } } }),
    );
    expect(api.getCalls).toHaveLength(2);
  });

  it("holds at most maxEntries entries, evicting the least recently used", async () => {
    const events = { entries: vi.fn(), hit: vi.fn(), miss: vi.fn() };
    const { dir } = setup({ maxEntries: 3, events });
    await dir.resolve(["1", "2", "3"]);
    expect(dir.peek("1")?.status).toBe("found");
    await dir.resolve(["4", "404"]);
    expect(dir.size).toBe(3);
    expect(dir.peek("1")?.status).toBe("found");
    expect(dir.peek("2")).toBeUndefined();
    expect(dir.peek("3")).toBeUndefined();
    expect(events.entries).toHaveBeenLastCalledWith(3);
    expect(events.hit).toHaveBeenCalledTimes(2);
    expect(events.miss).toHaveBeenCalledTimes(2);
  });

  it("prefetches 2,500 endpoints in 3 pages, then answers without requests", async () => {
    const api = new FakeApi(Array.from({ length: 2500 }, (_, i) => endpoint(i + 1)));
    const { dir } = setup({ api, prefetch: true, maxEntries: 3000 });
    await dir.start();
    expect(api.listCalls).toEqual([1, 2, 3]);
    expect(dir.size).toBe(2500);
    await dir.resolve(["1", "1234", "2500"]);
    expect(dir.peek("2500")?.status).toBe("found");
    // Not in the inventory loaded less than negativeTtlMs ago: not found without a request.
    await dir.resolve(["7777"]);
    expect(dir.peek("7777")).toEqual({ status: "not_found" });
    expect(api.getCalls).toEqual([]);
  });

  it("lets resolves share a running prefetch instead of asking per key", async () => {
    const api = new FakeApi(Array.from({ length: 30 }, (_, i) => endpoint(i + 1)));
    const { dir } = setup({ api, prefetch: true });
    api.pause();
    const started = dir.start();
    const resolved = dir.resolve(["3", "30", "31"]);
    api.release();
    await Promise.all([started, resolved]);
    expect(api.listCalls).toEqual([1]);
    expect(api.getCalls).toEqual([]);
    expect(dir.peek("31")).toEqual({ status: "not_found" });
  });

  it("warns once when the inventory is larger than the cache, and caps the load", async () => {
    const api = new FakeApi(Array.from({ length: 2500 }, (_, i) => endpoint(i + 1)));
    const { dir, logs, clock } = setup({ api, prefetch: true, maxEntries: 1000, perPage: 500 });
    await dir.start();
    expect(api.listCalls).toEqual([1, 2]);
    expect(dir.size).toBe(1000);
    await dir.resolve(["2400"]); // beyond the cache: one request
    expect(api.getCalls).toEqual(["2400"]);
    clock.t += 3_600_000;
    expect(dir.peek("500")?.status).toBe("found");
    await vi.waitFor(() => expect(api.listCalls).toHaveLength(4));
    const warns = logs.filter((l) => l.msg.includes("endpoint_cache_size"));
    expect(warns).toHaveLength(1);
    expect(warns[0]).toMatchObject({ level: 40, endpoint_cache_size: 1000, total_items: 2500 });
  });

  it("rejects with the API's retryable error, caches nothing, and fails fast for a moment", async () => {
    const { api, dir, clock } = setup();
    api.pause();
    api.failure = unavailable();
    const first = dir.resolve(["1", "2", "3"]);
    await vi.waitFor(() => expect(api.getCalls.length).toBeGreaterThan(0));
    api.release();
    await expect(first).rejects.toMatchObject({ code: "api_unavailable" });
    expect(dir.peek("1")).toBeUndefined();
    // The first failure stopped the others: the outage is not paid for once per endpoint.
    const calls = api.getCalls.length;
    api.failure = undefined;
    await expect(dir.resolve(["1"])).rejects.toMatchObject({ code: "api_unavailable" });
    expect(api.getCalls.length).toBe(calls);
    clock.t += 2_000;
    await dir.resolve(["1"]);
    expect(dir.peek("1")?.status).toBe("found");
  });

  it("rejects resolve and start with a permanent error", async () => {
    const { api, dir } = setup({ prefetch: true });
    api.failure = unauthorized();
    await expect(dir.start()).rejects.toMatchObject({
      code: "api_unauthorized",
      kind: "permanent",
    });
    await expect(dir.resolve(["1"])).rejects.toMatchObject({ code: "api_unauthorized" });
  });

  it("keeps serving a stale entry when its refresh fails, and logs at warn", async () => {
    const { api, dir, clock, logs } = setup();
    await dir.resolve(["1"]);
    clock.t += 3_600_000;
    api.failure = unavailable();
    expect(dir.peek("1")?.status).toBe("found");
    await vi.waitFor(() => expect(logs.some((l) => l.msg.includes("refresh failed"))).toBe(true));
    expect(dir.peek("1")).toEqual({ status: "found", endpoint: endpoint(1) });
    // Refreshes pause after a failure instead of asking on every peek.
    const calls = api.getCalls.length;
    dir.peek("1");
    expect(api.getCalls).toHaveLength(calls);
    clock.t += 120_000;
    api.failure = undefined;
    dir.peek("1");
    await vi.waitFor(() => expect(api.getCalls).toHaveLength(calls + 1));
    expect(logs.filter((l) => l.msg.includes("refresh failed"))).toHaveLength(1);
  });

  it("stops waiting when the caller aborts; the shared request still fills the cache", async () => {
    const { api, dir } = setup();
    api.pause();
    const ac = new AbortController();
    const waiting = dir.resolve(["1"], ac.signal);
    ac.abort(new Error("shutting down"));
    await expect(waiting).rejects.toThrow("shutting down");
    const again = dir.resolve(["1"]);
    api.release();
    await again;
    expect(api.getCalls).toEqual(["1"]);
    expect(dir.peek("1")?.status).toBe("found");
    await expect(dir.resolve(["2"], AbortSignal.abort())).rejects.toThrow();
  });

  it("close() cancels background refreshes and schedules no more", async () => {
    const { api, dir, clock } = setup();
    await dir.resolve(["1"]);
    clock.t += 3_600_000;
    api.hang = true;
    dir.peek("1");
    expect(api.getCalls).toHaveLength(2);
    const waiting = dir.resolve(["2"]);
    dir.close();
    await expect(waiting).rejects.toMatchObject({ code: "endpoint_directory_closed" });
    dir.peek("1");
    await expect(dir.resolve(["3"])).rejects.toMatchObject({ code: "endpoint_directory_closed" });
    expect(api.getCalls).toEqual(["1", "1", "2"]);
  });
});

describe("EndpointDirectory, match by attribute", () => {
  it("answers from one inventory load shared across keys, case-insensitively", async () => {
    const api = new FakeApi(Array.from({ length: 120 }, (_, i) => endpoint(i + 1)));
    const { dir } = setup({ api, match: "hostname", perPage: 50 });
    await Promise.all([
      dir.resolve(["host-1", "HOST-77"]),
      dir.resolve(["Host-120", "nobody"]),
      dir.resolve(["HOST-77"]),
    ]);
    expect(api.listCalls).toEqual([1, 2, 3]);
    expect(api.getCalls).toEqual([]);
    expect(dir.peek("HOST-1")).toEqual({ status: "found", endpoint: endpoint(1) });
    expect(dir.peek("host-120")?.status).toBe("found");
    expect(dir.peek("nobody")).toEqual({ status: "not_found" });
    // Within negativeTtlMs of a complete load, unknown keys cost nothing.
    await dir.resolve(["someone-else"]);
    expect(api.listCalls).toHaveLength(3);
  });

  it("reloads the inventory for unknown keys once negativeTtlMs has passed", async () => {
    const { api, dir, clock } = setup({ match: "hostname" });
    await dir.resolve(["HOST-1"]);
    clock.t += 300_000;
    api.endpoints.push({ id: "77", attributes: { hostname: "late-host" } });
    await dir.resolve(["late-host"]);
    expect(api.listCalls).toEqual([1, 1]);
    expect(dir.peek("LATE-HOST")?.status).toBe("found");
  });

  it("fetches by id a known key the LRU evicted, without a new load", async () => {
    const { api, dir } = setup({ match: "hostname", maxEntries: 5 });
    await dir.resolve(["HOST-40"]);
    expect(dir.size).toBe(5);
    await dir.resolve(["HOST-41", "HOST-42"]);
    expect(api.listCalls).toEqual([1]);
    expect(api.getCalls.sort()).toEqual(["41", "42"]);
  });

  it("refreshes stale entries with one inventory load in prefetch mode", async () => {
    const { api, dir, clock } = setup({ match: "hostname", prefetch: true });
    await dir.start();
    clock.t += 3_600_000;
    for (let i = 1; i <= 20; i++) expect(dir.peek(`HOST-${i}`)?.status).toBe("found");
    await vi.waitFor(() => expect(api.listCalls).toEqual([1, 1]));
    expect(api.getCalls).toEqual([]);
  });
});

import { describe, expect, it } from "vitest";
import { ExporterError } from "../../src/core/errors.js";
import type { TelemetryRecord } from "../../src/core/types.js";
import { type EndpointLookup, type EndpointResolver, Enricher } from "../../src/enrich/enricher.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { Metrics } from "../../src/telemetry/metrics.js";
import { compileFilter } from "../../src/transforms/filter.js";
import { counterValue } from "../helpers/harness.js";

/** Our own resolver interface, answered from a map; can be told to fail its next calls. */
class FakeResolver implements EndpointResolver {
  readonly cache = new Map<string, EndpointLookup>();
  calls: string[][] = [];
  failNext = 0;
  failWith: ExporterError = new ExporterError("api_unavailable", "retryable", "HTTP 503");

  constructor(private readonly known: Record<string, Record<string, unknown>>) {}

  peek(key: string) {
    return this.cache.get(key);
  }

  async resolve(keys: Iterable<string>) {
    const list = [...keys];
    this.calls.push(list);
    if (this.failNext > 0) {
      this.failNext--;
      throw this.failWith;
    }
    for (const key of list) {
      const attributes = this.known[key];
      this.cache.set(
        key,
        attributes
          ? { status: "found", endpoint: { id: key, attributes } }
          : { status: "not_found" },
      );
    }
  }
}

function record(value: Record<string, unknown>, raw = JSON.stringify(value)): TelemetryRecord {
  return { raw, value };
}

function status(r: TelemetryRecord | undefined): unknown {
  return (r?.value.endpoint as { enrichment_status?: string } | undefined)?.enrichment_status;
}

const KNOWN = {
  "529": { hostname: "WS-FIN-0001", platform: "Windows" },
  "77": { hostname: "web-01.prod", platform: "Linux", site: "Zürich 😀" },
};

function setup(opts: { onApiFailure?: "wait" | "export_unenriched"; mergeKey?: string } = {}) {
  const resolver = new FakeResolver(KNOWN);
  const metrics = new Metrics();
  const enricher = new Enricher({
    resolver,
    joinField: "sensor_id",
    mergeKey: opts.mergeKey ?? "endpoint",
    onApiFailure: opts.onApiFailure ?? "wait",
    logger: silentLogger(),
    metrics,
    retry: { baseMs: 10, maxMs: 20 },
  });
  return { resolver, metrics, enricher };
}

describe("Enricher", () => {
  it("merges found, not found and missing join values under the merge key, splicing the raw text", async () => {
    const { enricher, resolver } = setup();
    const input = [
      record({ sensor_id: 529, a: 1 }, '{"sensor_id":529,  "a":1.0}  '),
      record({ sensor_id: "77" }),
      record({ sensor_id: 31337 }),
      record({ other: true }),
      record({}, "{ }"),
    ];
    const { records: out, addedBytes } = await enricher.enrich(input, new AbortController().signal);
    expect(out.map((r) => r.raw)).toEqual([
      '{"sensor_id":529,  "a":1.0,"endpoint":{"enrichment_status":"found","id":"529","hostname":"WS-FIN-0001","platform":"Windows"}}',
      '{"sensor_id":"77","endpoint":{"enrichment_status":"found","id":"77","hostname":"web-01.prod","platform":"Linux","site":"Zürich 😀"}}',
      '{"sensor_id":31337,"endpoint":{"enrichment_status":"not_found"}}',
      '{"other":true,"endpoint":{"enrichment_status":"no_join_value"}}',
      '{ "endpoint":{"enrichment_status":"no_join_value"}}',
    ]);
    for (const r of out) expect(JSON.parse(r.raw)).toEqual(r.value);
    // The bytes added, as measured on the lines (UTF-8, trailing blanks cut off included).
    const utf8 = (rs: readonly TelemetryRecord[]) =>
      rs.reduce((n, r) => n + Buffer.byteLength(r.raw), 0);
    expect(addedBytes).toBe(utf8(out) - utf8(input));
    // One resolve call for the distinct missing keys.
    expect(resolver.calls).toEqual([["529", "77", "31337"]]);
    const windows = compileFilter({ "endpoint.platform": ["Windows"] });
    expect(out.filter((r) => windows?.(r.value)).map((r) => r.value.sensor_id)).toEqual([529]);
  });

  it("answers from the cache without calling the resolver again, and counts hits and misses", async () => {
    const { enricher, resolver, metrics } = setup();
    const batch = [
      record({ sensor_id: 529 }),
      record({ sensor_id: 529 }),
      record({ sensor_id: 77 }),
    ];
    await enricher.enrich(batch, new AbortController().signal);
    await enricher.enrich(batch, new AbortController().signal);
    expect(resolver.calls.length).toBe(1);
    expect(await counterValue(metrics.endpointCacheMisses)).toBe(2);
    expect(await counterValue(metrics.endpointCacheHits)).toBe(2);
  });

  it("never overwrites a field the record already has under the merge key", async () => {
    const { enricher, metrics } = setup();
    const own = record({ sensor_id: 529, endpoint: { hostname: "from-the-edr" } });
    const { records, addedBytes } = await enricher.enrich([own], new AbortController().signal);
    expect(records[0]).toBe(own);
    expect(addedBytes).toBe(0);
    expect(await counterValue(metrics.enrichedRecords)).toBe(1);
    expect((await metrics.enrichedRecords.get()).values[0]?.labels).toEqual({
      status: "merge_key_taken",
    });
  });

  it("waits through API failures (default) and then exports fully enriched records", async () => {
    const { enricher, resolver, metrics } = setup();
    resolver.failNext = 3;
    let settled = false;
    const done = enricher
      .enrich([record({ sensor_id: 529 })], new AbortController().signal)
      .finally(() => {
        settled = true;
      });
    await new Promise((r) => setTimeout(r, 5));
    expect(settled).toBe(false);
    expect((await metrics.enrichmentWaiting.get()).values[0]?.value).toBe(1);
    const [out] = (await done).records;
    expect(resolver.calls.length).toBe(4);
    expect(status(out)).toBe("found");
    expect((await metrics.enrichmentWaiting.get()).values[0]?.value).toBe(0);
  });

  it("waits through a bad key too, and a shutdown ends the wait with the abort reason", async () => {
    const { enricher, resolver } = setup();
    resolver.failNext = 1_000_000;
    resolver.failWith = new ExporterError("api_unauthorized", "permanent", "HTTP 403");
    const ctrl = new AbortController();
    const done = enricher.enrich([record({ sensor_id: 529 })], ctrl.signal);
    await new Promise((r) => setTimeout(r, 30));
    ctrl.abort(new Error("shutting down"));
    await expect(done).rejects.toThrow("shutting down");
  });

  it("with export_unenriched, marks records of unanswered endpoints as unavailable", async () => {
    const { enricher, resolver } = setup({ onApiFailure: "export_unenriched" });
    await enricher.enrich([record({ sensor_id: 77 })], new AbortController().signal);
    resolver.failNext = 1;
    const { records: out } = await enricher.enrich(
      [record({ sensor_id: 529 }), record({ sensor_id: 77 })],
      new AbortController().signal,
    );
    expect(out.map((r) => status(r))).toEqual(["unavailable", "found"]);
  });

  it("asks again for answers evicted while a large batch resolved", async () => {
    const { enricher, resolver } = setup();
    let evictOnce = true;
    const resolve = resolver.resolve.bind(resolver);
    resolver.resolve = async (keys) => {
      await resolve(keys);
      if (evictOnce) {
        evictOnce = false;
        resolver.cache.delete("529");
      }
    };
    const { records: out } = await enricher.enrich(
      [record({ sensor_id: 529 }), record({ sensor_id: 77 })],
      new AbortController().signal,
    );
    expect(resolver.calls).toEqual([["529", "77"], ["529"]]);
    expect(out.every((r) => status(r) === "found")).toBe(true);
  });
});

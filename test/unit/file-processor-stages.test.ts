import { describe, expect, it } from "vitest";
import { Budget } from "../../src/core/budget.js";
import { FileProcessor, type ObjectSource } from "../../src/core/file-processor.js";
import type { SourceRef, TelemetryRecord } from "../../src/core/types.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { Metrics } from "../../src/telemetry/metrics.js";
import { compileFilter } from "../../src/transforms/filter.js";
import { MemoryDeadLetter, MemoryOutput, MemorySource } from "../helpers/fakes.js";
import { counterValue } from "../helpers/harness.js";

const LINES = [
  { sensor_id: 1, event_type_cd: "process_start" },
  { sensor_id: 2, event_type_cd: "network_connection" },
  { sensor_id: 3, event_type_cd: "process_start" },
].map((v) => JSON.stringify(v));

/** Marks objects as already filtered by the service, as S3 Select does. */
class PreselectedSource implements ObjectSource {
  constructor(private readonly inner: MemorySource) {}
  async open(ref: SourceRef) {
    return { ...(await this.inner.open(ref)), preselected: true as const };
  }
}

/** Tags records with the platform its fake inventory knows, after an optional wait. */
class TaggingEnricher {
  calls = 0;
  async enrich(records: readonly TelemetryRecord[]) {
    this.calls++;
    let addedBytes = 0;
    const out = records.map((r) => {
      const value = {
        ...r.value,
        endpoint: { platform: r.value.sensor_id === 1 ? "Windows" : "Linux" },
      };
      const raw = JSON.stringify(value);
      addedBytes += Buffer.byteLength(raw) - Buffer.byteLength(r.raw);
      return { raw, value };
    });
    return { records: out, addedBytes };
  }
}

function setup(
  source: ObjectSource,
  extra: Partial<ConstructorParameters<typeof FileProcessor>[0]>,
) {
  const all = new MemoryOutput("file[0]");
  const windows = new MemoryOutput("file[1]");
  const metrics = new Metrics();
  const files = new FileProcessor({
    source,
    routes: [
      { output: all, filter: null },
      { output: windows, filter: compileFilter({ "endpoint.platform": ["Windows"] }) },
    ],
    deadLetter: new MemoryDeadLetter(),
    metrics,
    logger: silentLogger(),
    bytesInFlight: new Budget(1024 * 1024),
    ...extra,
  });
  return { files, all, windows, metrics };
}

const startsOnly = (r: unknown) =>
  (r as { event_type_cd?: string }).event_type_cd === "process_start";

describe("FileProcessor stages", () => {
  it("evaluates the select clause locally, then enriches, then routes on enriched fields", async () => {
    const source = new MemorySource();
    source.put("b", "k", LINES);
    const enricher = new TaggingEnricher();
    const { files, all, windows, metrics } = setup(source, { select: startsOnly, enricher });
    const outcome = await files.process(
      { bucket: "b", key: "k" },
      "m1",
      new AbortController().signal,
    );
    expect(outcome).toEqual({ status: "done", records: 3, invalid: 0 });
    expect(all.lines.map((l) => JSON.parse(l))).toEqual([
      { sensor_id: 1, event_type_cd: "process_start", endpoint: { platform: "Windows" } },
      { sensor_id: 3, event_type_cd: "process_start", endpoint: { platform: "Linux" } },
    ]);
    expect(windows.lines.map((l) => JSON.parse(l).sensor_id)).toEqual([1]);
    expect(all.batches[0]?.bytes).toBe(all.lines.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0));
    expect(await counterValue(metrics.selectDiscarded)).toBe(1);
  });

  it("does not evaluate the clause again on objects the service already filtered", async () => {
    const inner = new MemorySource();
    inner.put("b", "k", LINES);
    const { files, all, metrics } = setup(new PreselectedSource(inner), { select: startsOnly });
    await files.process({ bucket: "b", key: "k" }, "m1", new AbortController().signal);
    expect(all.lines).toEqual(LINES);
    expect(await counterValue(metrics.selectDiscarded)).toBe(0);
  });

  it("skips enrichment and outputs for a batch the clause empties", async () => {
    const source = new MemorySource();
    source.put("b", "k", [LINES[1] as string]);
    const enricher = new TaggingEnricher();
    const { files, all } = setup(source, { select: startsOnly, enricher });
    await files.process({ bucket: "b", key: "k" }, "m1", new AbortController().signal);
    expect(enricher.calls).toBe(0);
    expect(all.writes).toBe(0);
  });

  it("hands outputs only the parsed fields they read, after filtering on the whole record", async () => {
    const source = new MemorySource();
    source.put("b", "k", LINES);
    const plain = new MemoryOutput("file[0]");
    const keyed = Object.assign(new MemoryOutput("kinesis[1]"), {
      recordFields: ["sensor_id", "device_id"],
    });
    const files = new FileProcessor({
      source,
      routes: [
        { output: plain, filter: null },
        { output: keyed, filter: compileFilter({ event_type_cd: ["process_start"] }) },
      ],
      deadLetter: new MemoryDeadLetter(),
      metrics: new Metrics(),
      logger: silentLogger(),
      bytesInFlight: new Budget(1024 * 1024),
    });
    await files.process({ bucket: "b", key: "k" }, "m1", new AbortController().signal);
    // The text is untouched; the parsed value keeps what some output reads, nothing more.
    expect(plain.lines).toEqual(LINES);
    expect(plain.batches[0]?.records.map((r) => r.value)).toEqual([
      { sensor_id: 1 },
      { sensor_id: 2 },
      { sensor_id: 3 },
    ]);
    expect(keyed.lines).toEqual([LINES[0], LINES[2]]);
    expect(keyed.batches[0]?.records.map((r) => r.value)).toEqual([
      { sensor_id: 1 },
      { sensor_id: 3 },
    ]);
    expect(keyed.batches[0]?.bytes).toBe(
      keyed.lines.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0),
    );
  });

  it("keeps no parsed field when no output reads one", async () => {
    const source = new MemorySource();
    source.put("b", "k", LINES);
    const { files, all } = setup(source, {});
    await files.process({ bucket: "b", key: "k" }, "m1", new AbortController().signal);
    expect(all.lines).toEqual(LINES);
    expect(all.batches[0]?.records.every((r) => Object.keys(r.value).length === 0)).toBe(true);
  });
});

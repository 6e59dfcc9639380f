import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { Budget } from "../../src/core/budget.js";
import {
  FileProcessor,
  type ObjectSource,
  type OpenedObject,
} from "../../src/core/file-processor.js";
import type { SourceRef, TelemetryRecord } from "../../src/core/types.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { Metrics } from "../../src/telemetry/metrics.js";
import { MemoryDeadLetter, MemoryOutput } from "../helpers/fakes.js";
import { counterValue } from "../helpers/harness.js";

/**
 * A read that fails part-way (a cut download, or a socket that timed out while the reader
 * waited on the Red Canary API or a slow output) is resumed in place: the object is opened
 * again and the lines already handed on are passed over, so every record goes out once and
 * the SQS message is never given back.
 */

const REF: SourceRef = { bucket: "b", key: "k" };

interface OpenPlan {
  /** Fail the body after this many bytes (undefined: serve it whole). */
  readonly cutAfter?: number;
  /** The version the open reports (see OpenedObject.version). */
  readonly version?: string;
}

/** Serves one object, each open following the next plan (the last one repeats). */
class FlakySource implements ObjectSource {
  opens = 0;
  /** The body of the latest open. */
  body: Readable | undefined;
  constructor(
    private readonly data: Buffer,
    private readonly plans: readonly OpenPlan[],
  ) {}

  async open(): Promise<OpenedObject> {
    const plan = this.plans[Math.min(this.opens, this.plans.length - 1)] ?? {};
    this.opens++;
    const { data } = this;
    const cut = plan.cutAfter;
    async function* chunks(): AsyncGenerator<Buffer> {
      const end = cut === undefined ? data.length : Math.min(cut, data.length);
      for (let i = 0; i < end; i += 997) yield data.subarray(i, Math.min(end, i + 997));
      if (cut === undefined) return;
      throw Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
    }
    this.body = Readable.from(chunks(), { objectMode: false });
    return {
      body: this.body,
      contentLength: data.length,
      ...(plan.version !== undefined ? { version: plan.version } : {}),
    };
  }
}

function lines(n: number): string[] {
  return Array.from({ length: n }, (_, i) =>
    i === 7 ? "not json" : JSON.stringify({ sensor_id: 100 + (i % 5), i, pad: "x".repeat(40) }),
  );
}

const text = (ls: readonly string[]) => Buffer.from(ls.map((l) => `${l}\n`).join(""));

function setup(
  source: ObjectSource,
  extra: Partial<ConstructorParameters<typeof FileProcessor>[0]> = {},
) {
  const out = new MemoryOutput("file[0]");
  const deadLetter = new MemoryDeadLetter();
  const metrics = new Metrics();
  const files = new FileProcessor({
    source,
    routes: [{ output: out, filter: null }],
    deadLetter,
    metrics,
    logger: silentLogger(),
    bytesInFlight: new Budget(1024 * 1024),
    batchRecords: 50,
    resumeBackoff: { baseMs: 1, maxMs: 4 },
    ...extra,
  });
  return { files, out, deadLetter, metrics };
}

const records = (ls: readonly string[]) => ls.filter((l) => l !== "not json");

describe("FileProcessor resumes a read that failed part-way", () => {
  it("reads a plain object cut twice to its end, every record and invalid line once, in order", async () => {
    const input = lines(1000);
    const data = text(input);
    const source = new FlakySource(data, [
      { cutAfter: 20_000, version: "v1" },
      { cutAfter: 41_000, version: "v1" },
      { version: "v1" },
    ]);
    const { files, out, deadLetter, metrics } = setup(source);
    const outcome = await files.process(REF, "m1", new AbortController().signal);
    expect(outcome).toEqual({ status: "done", records: 999, invalid: 1 });
    expect(out.lines).toEqual(records(input));
    expect(deadLetter.entries.map((e) => e.kind === "invalid_record" && e.line)).toEqual([8]);
    expect(source.opens).toBe(3);
    expect(await counterValue(metrics.readResumes)).toBe(2);
    expect(await counterValue(metrics.recordsReceived)).toBe(999);
  });

  it("reads a gzip object again from its start, passing over what was handed on", async () => {
    const input = lines(3000);
    const data = gzipSync(text(input));
    const source = new FlakySource(data, [
      { cutAfter: Math.floor(data.length / 2), version: "v1" },
      { version: "v1" },
    ]);
    const { files, out } = setup(source);
    const outcome = await files.process(REF, "m1", new AbortController().signal);
    expect(outcome).toMatchObject({ status: "done", records: 2999 });
    expect(out.lines).toEqual(records(input));
  });

  it("resumes a read whose connection broke while the enricher waited on the API", async () => {
    const input = lines(400);
    const source = new FlakySource(text(input), [{ version: "v1" }]);
    const enricher = {
      calls: 0,
      async enrich(batch: readonly TelemetryRecord[]) {
        // While the second batch waits for the API, the idle S3 connection times out.
        if (++this.calls === 2) {
          source.body?.destroy(Object.assign(new Error("socket timeout"), { code: "ETIMEDOUT" }));
          await new Promise((r) => setTimeout(r, 20));
        }
        return { records: [...batch], addedBytes: 0 };
      },
    };
    const { files, out, metrics } = setup(source, { enricher });
    const outcome = await files.process(REF, "m1", new AbortController().signal);
    expect(outcome).toMatchObject({ status: "done", records: 399 });
    expect(out.lines).toEqual(records(input));
    expect(source.opens).toBe(2);
    expect(await counterValue(metrics.readResumes)).toBe(1);
  });

  it("gives the message back when the object is not the one read before", async () => {
    const input = lines(1000);
    const source = new FlakySource(text(input), [
      { cutAfter: 20_000, version: "v1" },
      { version: "v2" },
    ]);
    const { files, out } = setup(source);
    const outcome = await files.process(REF, "m1", new AbortController().signal);
    expect(outcome.status).toBe("retry");
    expect(outcome.status === "retry" && (outcome.error as { code?: string }).code).toBe(
      "object_changed",
    );
    expect(source.opens).toBe(2);
    // What was handed on before the cut stays handed on; the queue brings the file back whole.
    expect(out.lines).toEqual(records(input).slice(0, out.lines.length));
    expect(out.lines.length).toBeGreaterThan(0);
  });

  it("does not resume an object whose version is unknown: the message is retried", async () => {
    const source = new FlakySource(text(lines(1000)), [{ cutAfter: 20_000 }, {}]);
    const { files, metrics } = setup(source);
    const outcome = await files.process(REF, "m1", new AbortController().signal);
    expect(outcome.status).toBe("retry");
    expect(source.opens).toBe(1);
    expect(await counterValue(metrics.readResumes)).toBe(0);
  });

  it("gives up after 3 resumes in a row that hand nothing new on", async () => {
    // Each read breaks at the same place: after the first resume nothing new is handed on.
    const source = new FlakySource(text(lines(1000)), [{ cutAfter: 20_000, version: "v1" }]);
    const { files, out } = setup(source);
    const outcome = await files.process(REF, "m1", new AbortController().signal);
    expect(outcome.status).toBe("retry");
    expect(source.opens).toBe(4);
    expect(new Set(out.lines).size).toBe(out.lines.length);
  });

  it("keeps resuming while each read gets further", async () => {
    const input = lines(2000);
    const plans = Array.from({ length: 8 }, (_, i) => ({
      cutAfter: 10_000 * (i + 1),
      version: "v1",
    }));
    const source = new FlakySource(text(input), [...plans, { version: "v1" }]);
    const { files, out } = setup(source);
    const outcome = await files.process(REF, "m1", new AbortController().signal);
    expect(outcome.status).toBe("done");
    expect(source.opens).toBe(9);
    expect(out.lines).toEqual(records(input));
  });

  it("stops waiting to resume when the exporter shuts down", async () => {
    const source = new FlakySource(text(lines(1000)), [{ cutAfter: 20_000, version: "v1" }]);
    const { files } = setup(source, { resumeBackoff: { baseMs: 60_000, maxMs: 60_000 } });
    const shutdown = new AbortController();
    const outcome = files.process(REF, "m1", shutdown.signal);
    setTimeout(() => shutdown.abort(new Error("shutdown")), 50);
    expect(await outcome).toEqual({ status: "aborted" });
    expect(source.opens).toBe(1);
  });
});

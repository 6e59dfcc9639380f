import { describe, expect, it } from "vitest";
import { ExporterError } from "../../src/core/errors.js";
import type { RecordBatch } from "../../src/core/types.js";
import { kinesisOutputSchema } from "../../src/outputs/kinesis/config.js";
import { KinesisOutput } from "../../src/outputs/kinesis/kinesis-output.js";
import type {
  KinesisStreamApi,
  PutEntry,
  PutEntryResult,
  StreamSummary,
} from "../../src/outputs/kinesis/stream.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { MemoryDeadLetter } from "../helpers/fakes.js";

type Answer = PutEntryResult[] | Error;

/** A stream kept in memory, behind our own KinesisStreamApi; answers can be scripted per call. */
class FakeStream implements KinesisStreamApi {
  readonly location = { streamName: "telemetry", region: "eu-west-1" };
  readonly calls: PutEntry[][] = [];
  readonly stored: string[] = [];
  /** Scripted answers, one per call; then everything is stored. */
  readonly answers: Array<(entries: readonly PutEntry[]) => Answer> = [];
  summary: StreamSummary | Error = { status: "ACTIVE" };
  inFlight = 0;
  maxInFlight = 0;
  destroyed = false;

  async putRecords(entries: readonly PutEntry[]): Promise<PutEntryResult[]> {
    this.calls.push([...entries]);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((r) => setImmediate(r));
    this.inFlight--;
    const answer: Answer = this.answers.shift()?.(entries) ?? entries.map(() => ({}));
    if (answer instanceof Error) throw answer;
    answer.forEach((r, i) => {
      if (!r.errorCode) this.stored.push(text(entries[i] as PutEntry));
    });
    return answer;
  }

  async describe(): Promise<StreamSummary> {
    if (this.summary instanceof Error) throw this.summary;
    return this.summary;
  }

  destroy(): void {
    this.destroyed = true;
  }
}

function text(e: PutEntry): string {
  return Buffer.from(e.data).toString("utf8");
}

function sdkError(name: string, status: number): Error {
  return Object.assign(new Error(`${name} happened`), {
    name,
    $metadata: { httpStatusCode: status },
  });
}

function records(from: number, n: number, pad = 10, sensor?: number) {
  return Array.from({ length: n }, (_, k) => {
    const value = { i: from + k, sensor_id: sensor ?? (from + k) % 7, pad: "x".repeat(pad) };
    return { raw: JSON.stringify(value), value };
  });
}

function batch(recs: RecordBatch["records"]): RecordBatch {
  return {
    source: { bucket: "bkt", key: "k.json.gz" },
    records: recs,
    bytes: recs.reduce((a, r) => a + Buffer.byteLength(r.raw) + 1, 0),
  };
}

function setup(
  opts: { maxRecords?: number; lingerMs?: number; inFlight?: number; attempts?: number } = {},
) {
  const stream = new FakeStream();
  const deadLetter = new MemoryDeadLetter();
  const cfg = kinesisOutputSchema.parse({
    stream_name: "telemetry",
    ...(opts.maxRecords ? { max_records_to_buffer_before_sending: opts.maxRecords } : {}),
  });
  const output = new KinesisOutput(
    cfg,
    { instanceId: "test", logger: silentLogger(), deadLetter },
    "kinesis[0]",
    {
      stream,
      lingerMs: opts.lingerMs ?? 5,
      maxInFlightRequests: opts.inFlight ?? 4,
      retry: { attempts: opts.attempts ?? 5, backoff: { baseMs: 1, maxMs: 5 } },
    },
  );
  return { stream, deadLetter, output };
}

const lines = (recs: ReadonlyArray<{ raw: string }>) => recs.map((r) => `${r.raw}\n`);

describe("KinesisOutput", () => {
  it("sends requests of at most max_records_to_buffer_before_sending records, in order", async () => {
    const { stream, output } = setup({ maxRecords: 100 });
    const recs = records(0, 250);
    await output.write(batch(recs));
    expect(stream.calls.map((c) => c.length)).toEqual([100, 100, 50]);
    expect(stream.calls.flat().map(text)).toEqual(lines(recs));
    expect(stream.calls[0]?.[3]?.partitionKey).toBe("3");
  });

  it("caps requests at 500 records and 5 MiB, data plus partition keys", async () => {
    // No linger (flush sends the rest), so how requests are cut does not depend on timing.
    const { stream, output } = setup({ lingerMs: 60_000 });
    const small = records(0, 1200);
    const big = records(5000, 20, 700_000);
    const writes = Promise.all([output.write(batch(small)), output.write(batch(big))]);
    await output.flush();
    await writes;
    for (const call of stream.calls) {
      expect(call.length).toBeLessThanOrEqual(500);
      const bytes = call.reduce((a, e) => a + e.data.length + Buffer.byteLength(e.partitionKey), 0);
      expect(bytes).toBeLessThanOrEqual(5 * 1024 * 1024);
    }
    // 500 and 500 small; the 200 left with 7 big ones (5 MiB reached); 7 big; the last 6.
    expect(stream.calls.map((c) => c.length)).toEqual([500, 500, 207, 7, 6]);
    expect([...stream.stored].sort()).toEqual(lines([...small, ...big]).sort());
  });

  it("sends a small buffer after the linger time, and resolves only once it is stored", async () => {
    const { stream, output } = setup({ lingerMs: 30 });
    let resolved = false;
    const w = output.write(batch(records(0, 3))).then(() => {
      resolved = true;
    });
    expect(stream.calls.length).toBe(0);
    expect(resolved).toBe(false);
    await w;
    expect(stream.calls.map((c) => c.length)).toEqual([3]);
  });

  it("flush sends what is buffered at once", async () => {
    const { stream, output } = setup({ lingerMs: 60_000 });
    const w = output.write(batch(records(0, 3)));
    await output.flush();
    await w;
    expect(stream.stored.length).toBe(3);
  });

  it("keeps at most maxInFlightRequests requests in flight", async () => {
    const { stream, output } = setup({ maxRecords: 10, inFlight: 2 });
    await output.write(batch(records(0, 200)));
    expect(stream.calls.length).toBe(20);
    expect(stream.maxInFlight).toBe(2);
  });

  it("resends only the failed entries of a partial failure, until all are stored", async () => {
    const { stream, output } = setup();
    const codes = [
      "ProvisionedThroughputExceededException",
      "InternalFailure",
      "KMSThrottlingException",
    ];
    stream.answers.push(
      (es) =>
        es.map((_, i) =>
          i % 4 === 0 ? { errorCode: codes[i % 3], errorMessage: "slow down" } : {},
        ),
      (es) => es.map((_, i) => (i === 0 ? { errorCode: "InternalFailure" } : {})),
    );
    const recs = records(0, 40);
    await output.write(batch(recs));
    expect(stream.calls.map((c) => c.length)).toEqual([40, 10, 1]);
    // The retry carries exactly the failed entries, in their order.
    expect(stream.calls[1]?.map(text)).toEqual(lines(recs.filter((_, i) => i % 4 === 0)));
    expect(stream.stored.length).toBe(40);
    expect([...stream.stored].sort()).toEqual(lines(recs).sort());
  });

  it("retries a throttled or failing call as a whole", async () => {
    const { stream, output } = setup();
    stream.answers.push(
      () => sdkError("ProvisionedThroughputExceededException", 400),
      () => sdkError("InternalFailure", 500),
      () => Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }),
    );
    await output.write(batch(records(0, 5)));
    expect(stream.calls.length).toBe(4);
    expect(stream.stored.length).toBe(5);
  });

  it("rejects with a retryable error after the bounded attempts, then works again", async () => {
    const { stream, output } = setup({ attempts: 3 });
    for (let i = 0; i < 3; i++) stream.answers.push(() => sdkError("ServiceUnavailable", 503));
    const err = await output.write(batch(records(0, 5))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExporterError);
    expect(err).toMatchObject({ kind: "retryable", code: "kinesis_unavailable" });
    expect((err as Error).message).toMatch(/5 records not stored after 3 attempts/);
    expect(stream.calls.length).toBe(3);
    await output.write(batch(records(0, 5)));
    expect(stream.stored.length).toBe(5);
  });

  it("rejects at once with a permanent error when the stream is missing, naming it", async () => {
    const { stream, output } = setup();
    stream.answers.push(() => sdkError("ResourceNotFoundException", 400));
    const err = await output.write(batch(records(0, 5))).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: "permanent", code: "stream_missing" });
    expect((err as Error).message).toContain(
      "Kinesis stream telemetry in eu-west-1 does not exist",
    );
    expect(stream.calls.length).toBe(1);
  });

  it("rejects with a permanent error for entries refused for good (KMS key disabled)", async () => {
    const { stream, output } = setup();
    stream.answers.push((es) =>
      es.map((_, i) => (i === 1 ? { errorCode: "KMSDisabledException" } : {})),
    );
    const err = await output.write(batch(records(0, 3))).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: "permanent", code: "kinesis_rejected" });
    expect((err as Error).message).toContain("1 x KMSDisabledException");
  });

  it("does not send the queued records of a write that already failed", async () => {
    const { stream, output } = setup({ maxRecords: 10, inFlight: 1 });
    stream.answers.push(() => sdkError("AccessDeniedException", 400));
    const err = await output.write(batch(records(0, 50))).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: "permanent", code: "access_denied" });
    await output.flush();
    expect(stream.calls.length).toBe(1);
  });

  it("does not retry the failed entries of a write that already failed elsewhere", async () => {
    const { stream, output } = setup({ maxRecords: 10, inFlight: 2 });
    stream.answers.push(
      () => sdkError("AccessDeniedException", 400),
      (es) => es.map((_, i) => (i === 0 ? { errorCode: "InternalFailure" } : {})),
    );
    const err = await output.write(batch(records(0, 20))).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: "permanent" });
    await output.flush();
    expect(stream.calls.map((c) => c.length)).toEqual([10, 10]);
  });

  it("dead-letters a record over 1 MiB (data plus key) and sends the others", async () => {
    const { stream, deadLetter, output } = setup();
    const ok = records(0, 3);
    // Data is raw + "\n"; the partition key is "7": exactly 1 MiB fits, one byte more does not.
    const atLimit = { value: { sensor_id: 7 }, raw: "" };
    atLimit.raw = `{"sensor_id":7,"p":"${"a".repeat(1024 * 1024 - 24)}"}`;
    const over = { value: { sensor_id: 7 }, raw: `${atLimit.raw.slice(0, -2)}a"}` };
    expect(Buffer.byteLength(atLimit.raw) + 1 + 1).toBe(1024 * 1024);
    await output.write(batch([ok[0], over, ok[1], atLimit, ok[2]] as RecordBatch["records"]));
    expect([...stream.stored].sort()).toEqual(lines([...ok, atLimit]).sort());
    expect(deadLetter.entries).toEqual([
      {
        kind: "rejected_record",
        source: { bucket: "bkt", key: "k.json.gz" },
        output: "kinesis[0]",
        reason: expect.stringMatching(/record of 1048577 bytes .* exceeds the 1048576 bytes/),
        raw: over.raw,
      },
    ]);
  });

  it("resolves a write whose only record went to the dead letter once it is durable", async () => {
    const { stream, deadLetter, output } = setup();
    const huge = { value: {}, raw: `{"p":"${"b".repeat(2 * 1024 * 1024)}"}` };
    await output.write(batch([huge]));
    expect(deadLetter.entries.length).toBe(1);
    expect(stream.calls.length).toBe(0);
  });

  it("takes records up to the stream's own maximum size once the health check learned it", async () => {
    const { stream, deadLetter, output } = setup();
    stream.summary = { status: "ACTIVE", maxRecordBytes: 4 * 1024 * 1024 };
    await output.healthcheck();
    const big = { value: {}, raw: `{"p":"${"c".repeat(3 * 1024 * 1024)}"}` };
    await output.write(batch([big, ...records(0, 2)]));
    expect(deadLetter.entries).toEqual([]);
    expect(stream.stored.length).toBe(3);
  });

  it("health check: ACTIVE and UPDATING pass; missing, refused and not active fail clearly", async () => {
    const { stream, output } = setup();
    await output.healthcheck();
    stream.summary = { status: "UPDATING" };
    await output.healthcheck();
    stream.summary = { status: "CREATING" };
    await expect(output.healthcheck()).rejects.toThrow(
      "Kinesis stream telemetry in eu-west-1 is CREATING, not ACTIVE",
    );
    stream.summary = { status: "DELETING" };
    await expect(output.healthcheck()).rejects.toMatchObject({ kind: "permanent" });
    stream.summary = sdkError("ResourceNotFoundException", 400);
    await expect(output.healthcheck()).rejects.toMatchObject({
      kind: "permanent",
      code: "stream_missing",
      message: expect.stringContaining("Kinesis stream telemetry in eu-west-1 does not exist"),
    });
    stream.summary = sdkError("UnrecognizedClientException", 400);
    await expect(output.healthcheck()).rejects.toMatchObject({
      kind: "permanent",
      code: "access_denied",
    });
  });

  it("close flushes, releases the client, and refuses later writes", async () => {
    const { stream, output } = setup({ lingerMs: 60_000 });
    const w = output.write(batch(records(0, 2)));
    await output.close();
    await w;
    expect(stream.stored.length).toBe(2);
    expect(stream.destroyed).toBe(true);
    await expect(output.write(batch(records(0, 1)))).rejects.toMatchObject({
      code: "output_closed",
    });
  });
});

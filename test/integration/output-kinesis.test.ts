import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ExporterError } from "../../src/core/errors.js";
import type { Output, RecordBatch, TelemetryRecord } from "../../src/core/types.js";
import { generateFileLines } from "../../src/local/generators/index.js";
import { simulate } from "../../src/local/simulator.js";
import { type LocalStack, startLocalStack } from "../../src/local/stack.js";
import { kinesisOutputSchema } from "../../src/outputs/kinesis/config.js";
import { createKinesisOutput, type KinesisOutputOptions } from "../../src/outputs/kinesis/index.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { compileFilter } from "../../src/transforms/filter.js";
import { MemoryDeadLetter } from "../helpers/fakes.js";
import { type FaultProxy, type Rewrite, startFaultProxy } from "../helpers/fault-proxy.js";
import {
  readDeadLetters,
  readJsonLines,
  runUntilDrained,
  simTarget,
  simulatedLines,
  sorted,
} from "../helpers/harness.js";
import {
  createStream,
  type Kinesalite,
  readStream,
  startKinesalite,
} from "../helpers/kinesalite.js";

/**
 * The kinesis output against kinesalite. Every call of the output goes through the project's
 * fault proxy (AWS_ENDPOINT_URL_KINESIS points at it, as a user would point the SDK at a local
 * server), which passes requests through unless a test adds a rule; the tests' own client reads
 * kinesalite directly.
 */
let kinesis: Kinesalite;
let proxy: FaultProxy;
let streamSeq = 0;

beforeAll(async () => {
  kinesis = await startKinesalite();
  proxy = await startFaultProxy(kinesis.endpoint);
  process.env.AWS_ENDPOINT_URL_KINESIS = proxy.endpoint;
});

afterAll(async () => {
  delete process.env.AWS_ENDPOINT_URL_KINESIS;
  await proxy?.close();
  await kinesis?.stop();
});

beforeEach(() => {
  proxy.rules.length = 0;
  proxy.hits.length = 0;
});

const PUT_RECORDS = { name: "x-amz-target", value: /^Kinesis_20131202\.PutRecords$/ };

/** A fresh stream per test, so read-backs see only that test's records. */
async function newStream(shards = 2): Promise<string> {
  const name = `telemetry-${++streamSeq}`;
  await createStream(kinesis.client, name, shards);
  return name;
}

function makeOutput(
  stream: string,
  opts: { maxRecords?: number; options?: Omit<KinesisOutputOptions, "stream"> } = {},
) {
  const deadLetter = new MemoryDeadLetter();
  const cfg = kinesisOutputSchema.parse({
    stream_name: stream,
    aws_access_key_id: "test",
    aws_secret_access_key: "test",
    aws_region: "us-east-1",
    ...(opts.maxRecords ? { max_records_to_buffer_before_sending: opts.maxRecords } : {}),
  });
  const output = createKinesisOutput(
    cfg,
    { instanceId: "test", logger: silentLogger(), deadLetter },
    "kinesis[0]",
    opts.options,
  );
  return { output, deadLetter };
}

/** Realistic standardized records: each carries its endpoint's `sensor_id`. */
function records(fileIndex: number, n: number): TelemetryRecord[] {
  return generateFileLines("standardized", 11, fileIndex, n).map((raw) => ({
    raw,
    value: JSON.parse(raw) as Record<string, unknown>,
  }));
}

function batch(recs: readonly TelemetryRecord[], key = "k.json.gz"): RecordBatch {
  return {
    source: { bucket: "bkt", key },
    records: recs,
    bytes: recs.reduce((a, r) => a + Buffer.byteLength(r.raw) + 1, 0),
  };
}

const asData = (recs: ReadonlyArray<{ raw: string }>) => recs.map((r) => `${r.raw}\n`);

interface SeenEntry {
  readonly data: string;
  readonly partitionKey: string;
}

function entriesOf(body: string): SeenEntry[] {
  const req = JSON.parse(body) as { Records: Array<{ Data: string; PartitionKey: string }> };
  return req.Records.map((r) => ({
    data: Buffer.from(r.Data, "base64").toString("utf8"),
    partitionKey: r.PartitionKey,
  }));
}

/** A pass-through rule that records every PutRecords request's entries. */
function observe(requests: SeenEntry[][]) {
  proxy.rules.push({
    header: PUT_RECORDS,
    fault: {
      kind: "rewrite",
      rewrite: (body) => {
        requests.push(entriesOf(body));
        return {};
      },
    },
  });
}

/**
 * A genuine partial failure: the entries `failAt` picks are kept from kinesalite and reported
 * failed with the given code (FailedRecordCount > 0), the others are really stored and reported
 * as kinesalite answered them.
 */
function partialFailure(
  failAt: (index: number) => string | undefined,
  log: { requests: SeenEntry[][]; failed: number },
): (body: string) => Rewrite {
  return (body) => {
    const req = JSON.parse(body) as { Records: unknown[] };
    log.requests.push(entriesOf(body));
    const codes = req.Records.map((_, i) => failAt(i));
    if (codes.every(Boolean)) codes[0] = undefined; // kinesalite takes no empty request
    log.failed += codes.filter(Boolean).length;
    return {
      request: JSON.stringify({ ...req, Records: req.Records.filter((_, i) => !codes[i]) }),
      response: (upstream) => {
        const res = JSON.parse(upstream) as { Records?: unknown[] };
        if (!res.Records) return upstream;
        let k = 0;
        const out = codes.map((code) =>
          code ? { ErrorCode: code, ErrorMessage: `injected ${code}` } : res.Records?.[k++],
        );
        return JSON.stringify({
          ...res,
          FailedRecordCount: codes.filter(Boolean).length,
          Records: out,
        });
      },
    };
  };
}

function jsonError(type: string, status: number, times?: number) {
  proxy.rules.push({
    header: PUT_RECORDS,
    ...(times !== undefined ? { times } : {}),
    fault: {
      kind: "status",
      status,
      contentType: "application/x-amz-json-1.1",
      body: JSON.stringify({ __type: type, message: `injected ${type}` }),
    },
  });
}

async function stored(stream: string): Promise<string[]> {
  return (await readStream(kinesis.client, stream)).map((r) => r.data);
}

async function closing<T>(output: Output, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    await output.close();
  }
}

describe("kinesis output against kinesalite", () => {
  it("stores batches of any size, each record once, keyed by sensor_id on one shard per key", async () => {
    const stream = await newStream(4);
    const { output } = makeOutput(stream);
    const batches = [1, 7, 499, 500, 501, 1234].map((n, i) => records(i, n));
    await closing(output, async () => {
      await output.healthcheck();
      await Promise.all(batches.map((b, i) => output.write(batch(b, `f${i}.json.gz`))));
    });
    const all = batches.flat();
    const got = await readStream(kinesis.client, stream);
    expect(got.length).toBe(all.length);
    expect(sorted(got.map((r) => r.data))).toEqual(sorted(asData(all)));
    const shardOfKey = new Map<string, string>();
    for (const r of got) {
      const sensor = String((JSON.parse(r.data) as { sensor_id: unknown }).sensor_id);
      expect(r.partitionKey).toBe(sensor);
      expect(shardOfKey.get(r.partitionKey) ?? r.shardId).toBe(r.shardId);
      shardOfKey.set(r.partitionKey, r.shardId);
    }
    // The fleet's sensors spread over all four shards.
    expect(new Set(got.map((r) => r.shardId)).size).toBe(4);
  });

  it("splits requests at 500 records, or max_records_to_buffer_before_sending", async () => {
    const stream = await newStream();
    const requests: SeenEntry[][] = [];
    observe(requests);
    const recs = records(0, 1234);
    const big = makeOutput(stream);
    await closing(big.output, () => big.output.write(batch(recs)));
    // Requests run concurrently, so they may arrive in any order; each is an in-order slice.
    const data = asData(recs);
    const slices = requests
      .map((r) => r.map((e) => e.data))
      .sort((a, b) => data.indexOf(a[0] as string) - data.indexOf(b[0] as string));
    expect(slices.map((r) => r.length)).toEqual([500, 500, 234]);
    expect(slices.flat()).toEqual(data);

    requests.length = 0;
    const small = makeOutput(stream, { maxRecords: 100 });
    await closing(small.output, () => small.output.write(batch(recs.slice(0, 250))));
    expect(requests.map((r) => r.length).sort()).toEqual([100, 100, 50].sort());
    expect(sorted(await stored(stream))).toEqual(sorted(asData([...recs, ...recs.slice(0, 250)])));
  });

  it("splits requests at 5 MiB, data plus partition keys", async () => {
    const stream = await newStream();
    const requests: SeenEntry[][] = [];
    observe(requests);
    const recs = Array.from({ length: 20 }, (_, i) => {
      const value = { sensor_id: 529, i, pad: "p".repeat(700_000) };
      return { raw: JSON.stringify(value), value };
    });
    const { output } = makeOutput(stream);
    await closing(output, () => output.write(batch(recs)));
    const sizes = requests.map((r) =>
      r.reduce((a, e) => a + Buffer.byteLength(e.data) + Buffer.byteLength(e.partitionKey), 0),
    );
    for (const s of sizes) expect(s).toBeLessThanOrEqual(5 * 1024 * 1024);
    expect(requests.map((r) => r.length).sort()).toEqual([6, 7, 7]);
    expect(sorted(await stored(stream))).toEqual(sorted(asData(recs)));
  });

  it("writes a record over 1 MiB to the dead letter and stores the others", async () => {
    const stream = await newStream();
    const recs = records(3, 10);
    const huge = { value: { sensor_id: 7 }, raw: `{"sensor_id":7,"p":"${"h".repeat(1_100_000)}"}` };
    const { output, deadLetter } = makeOutput(stream);
    await closing(output, () =>
      output.write(batch([...recs.slice(0, 5), huge, ...recs.slice(5)], "big/file.json.gz")),
    );
    expect(sorted(await stored(stream))).toEqual(sorted(asData(recs)));
    expect(deadLetter.entries).toEqual([
      {
        kind: "rejected_record",
        source: { bucket: "bkt", key: "big/file.json.gz" },
        output: "kinesis[0]",
        reason: expect.stringContaining("exceeds the 1048576 bytes Kinesis takes per record"),
        raw: huge.raw,
      },
    ]);
  });

  it("fails its health check and its writes clearly for a missing stream", async () => {
    const { output } = makeOutput("no-such-stream");
    await closing(output, async () => {
      const check = await output.healthcheck().catch((e: unknown) => e);
      expect(check).toBeInstanceOf(ExporterError);
      expect(check).toMatchObject({ kind: "permanent", code: "stream_missing" });
      expect((check as Error).message).toMatch(
        /^Kinesis stream no-such-stream in us-east-1 does not exist \(ResourceNotFoundException/,
      );
      const write = await output.write(batch(records(0, 3))).catch((e: unknown) => e);
      expect(write).toMatchObject({ kind: "permanent", code: "stream_missing" });
    });
  });
});

describe("kinesis output under injected faults", () => {
  it("resends only the failed entries of partial failures and loses nothing", async () => {
    const stream = await newStream();
    const log = { requests: [] as SeenEntry[][], failed: 0 };
    const codes = [
      "ProvisionedThroughputExceededException",
      "InternalFailure",
      "KMSThrottlingException",
    ];
    proxy.rules.push({
      header: PUT_RECORDS,
      times: 4,
      fault: {
        kind: "rewrite",
        rewrite: partialFailure((i) => (i % 3 === 0 ? codes[(i / 3) % 3] : undefined), log),
      },
    });
    observe(log.requests);
    const recs = records(5, 1000);
    const { output } = makeOutput(stream, {
      options: { retry: { attempts: 10, backoff: { baseMs: 5, maxMs: 50 } } },
    });
    await closing(output, () =>
      Promise.all([output.write(batch(recs.slice(0, 600))), output.write(batch(recs.slice(600)))]),
    );
    expect(proxy.hits[0]).toBe(4);
    const got = await stored(stream);
    // Every record exactly once: the entries stored in a partial failure were not sent again.
    expect(got.length).toBe(1000);
    expect(sorted(got)).toEqual(sorted(asData(recs)));
    // Entries sent = records + entries reported failed: the retries held only failed entries.
    expect(log.failed).toBeGreaterThan(300);
    expect(log.requests.flat().length).toBe(1000 + log.failed);
  });

  it("retries whole-request throttling and 5xx with backoff and loses nothing", async () => {
    const stream = await newStream();
    jsonError("ProvisionedThroughputExceededException", 400, 2);
    jsonError("InternalFailure", 500, 1);
    const recs = records(6, 300);
    const { output } = makeOutput(stream, {
      options: { retry: { attempts: 10, backoff: { baseMs: 5, maxMs: 50 } } },
    });
    await closing(output, () => output.write(batch(recs)));
    expect(proxy.hits).toEqual([2, 1]);
    const got = await stored(stream);
    expect(got.length).toBe(300);
    expect(sorted(got)).toEqual(sorted(asData(recs)));
  });

  it("gives up after its attempts with a retryable error; the write succeeds once Kinesis is back", async () => {
    const stream = await newStream();
    jsonError("ServiceUnavailable", 503);
    const recs = records(7, 50);
    const { output } = makeOutput(stream, {
      options: { retry: { attempts: 3, backoff: { baseMs: 5, maxMs: 20 } } },
    });
    await closing(output, async () => {
      const err = await output.write(batch(recs)).catch((e: unknown) => e);
      expect(err).toMatchObject({ kind: "retryable", code: "kinesis_unavailable" });
      expect(proxy.hits[0]).toBe(3);
      (proxy.rules[0] as { times?: number }).times = 0;
      // What the pipeline does: the same batch is written again.
      await output.write(batch(recs));
    });
    expect(sorted(await stored(stream))).toEqual(sorted(asData(recs)));
  });

  it("rejects at once with a permanent error for refused credentials", async () => {
    const stream = await newStream();
    jsonError("UnrecognizedClientException", 400);
    const { output } = makeOutput(stream);
    await closing(output, async () => {
      const err = await output.write(batch(records(8, 5))).catch((e: unknown) => e);
      expect(err).toMatchObject({ kind: "permanent", code: "access_denied" });
      expect(proxy.hits[0]).toBe(1);
      proxy.rules.length = 0;
    });
  });
});

describe("kinesis output through the whole exporter", () => {
  let stack: LocalStack;
  let work: string;

  beforeAll(async () => {
    stack = await startLocalStack({ port: 0 });
    work = await mkdtemp(join(tmpdir(), "ce-kinesis-"));
  });

  afterAll(async () => {
    await stack?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it("exports every record its filter wants to Kinesis, next to a file output", async () => {
    const stream = await newStream(2);
    const sim = await simulate({
      target: simTarget(stack, "standardized"),
      format: "standardized",
      files: 4,
      recordsPerFile: 900,
      seed: 21,
      filesPerNotification: 2,
    });
    // Throttling now and then on the way, as a busy stream would answer.
    const log = { requests: [] as SeenEntry[][], failed: 0 };
    proxy.rules.push({
      header: PUT_RECORDS,
      times: 3,
      fault: {
        kind: "rewrite",
        rewrite: partialFailure(
          (i) => (i % 5 === 0 ? "ProvisionedThroughputExceededException" : undefined),
          log,
        ),
      },
    });
    const where = { event_type_cd: ["process_start", "network_connection"] };
    await runUntilDrained(
      stack,
      "standardized",
      `customer_identifier: demo
input:
  stream_name: standardized
  aws_region: us-east-2
  aws_access_key_id: test
  aws_secret_access_key: test
  visibility_timeout_seconds: 30
  wait_time_seconds: 1
outputs:
  - file:
      directory: ${join(work, "all")}
      max_size_bytes: 10000000
  - kinesis:
      stream_name: ${stream}
      max_records_to_buffer_before_sending: 250
      aws_access_key_id: test
      aws_secret_access_key: test
      aws_region: us-east-1
      export_only_where:
        event_type_cd: [process_start, network_connection]
dead_letter:
  directory: ${join(work, "dead-letter")}
  max_receives: 1
shutdown_grace_seconds: 5
`,
    );
    const expected = await simulatedLines(stack, sim.files);
    expect(expected.length).toBe(3600);
    const keep = compileFilter(where);
    const wanted = expected.filter((l) => keep?.(JSON.parse(l)));
    expect(wanted.length).toBeGreaterThan(0);
    expect(wanted.length).toBeLessThan(expected.length);
    expect(proxy.hits[0]).toBe(3);
    const got = (await stored(stream)).map((d) => d.replace(/\n$/, ""));
    expect(sorted(got)).toEqual(sorted(wanted));
    expect(sorted(await readJsonLines(join(work, "all")))).toEqual(sorted(expected));
    expect(await readDeadLetters(join(work, "dead-letter"))).toEqual([]);
  });
});

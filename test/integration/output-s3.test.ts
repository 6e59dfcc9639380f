import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
} from "@aws-sdk/client-s3";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { OutputContext, RecordBatch } from "../../src/core/types.js";
import { generateFileLines, simulate } from "../../src/local/simulator.js";
import { type LocalStack, startLocalStack } from "../../src/local/stack.js";
import { objectKey } from "../../src/outputs/common/object-naming.js";
import { s3OutputSchema } from "../../src/outputs/s3/config.js";
import { createS3Output } from "../../src/outputs/s3/index.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { compileFilter } from "../../src/transforms/filter.js";
import { MemoryDeadLetter } from "../helpers/fakes.js";
import { type FaultProxy, s3ErrorXml, startFaultProxy } from "../helpers/fault-proxy.js";
import {
  readDeadLetters,
  runUntilDrained,
  simTarget,
  simulatedLines,
  sorted,
  testConfig,
} from "../helpers/harness.js";

/**
 * The `s3` output against the local S3 (fauxqs), read back with the official client. Every S3
 * call of the exporter (the input's GetObject and the output's uploads) goes through the
 * project's fault proxy (AWS_ENDPOINT_URL_S3); SQS and SNS go direct (AWS_ENDPOINT_URL). Rules
 * match only the destination bucket's paths, so faults never touch the input.
 */

const DEST = "ce-s3-output-dest";
const FAULTY = "ce-s3-output-faulty";
const INSTANCE = "testhost-4242-a1b2c3";
const ENV_KEYS = [
  "AWS_ENDPOINT_URL",
  "AWS_ENDPOINT_URL_S3",
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_REGION",
  "AWS_DEFAULT_REGION",
] as const;

let stack: LocalStack;
let proxy: FaultProxy;
let work: string;
const savedEnv = new Map<string, string | undefined>();

beforeAll(async () => {
  for (const k of ENV_KEYS) savedEnv.set(k, process.env[k]);
  stack = await startLocalStack({ port: 0 });
  proxy = await startFaultProxy(stack.endpoint);
  process.env.AWS_ENDPOINT_URL = stack.endpoint;
  process.env.AWS_ENDPOINT_URL_S3 = proxy.endpoint;
  for (const bucket of [DEST, FAULTY]) {
    await stack.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  }
  work = await mkdtemp(join(tmpdir(), "ce-s3-output-"));
});

afterAll(async () => {
  for (const [k, v] of savedEnv) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await proxy?.close();
  await stack?.stop();
  await rm(work, { recursive: true, force: true });
});

afterEach(() => {
  // Rules are per test: the ones that fire forever must not reach the next test.
  proxy.rules.splice(0);
  proxy.hits.splice(0);
});

function s3Config(over: Record<string, unknown>) {
  return s3OutputSchema.parse({
    bucket_name: DEST,
    aws_access_key_id: "test",
    aws_secret_access_key: "test",
    aws_region: "us-east-2",
    ...over,
  });
}

function context(): OutputContext {
  return { instanceId: INSTANCE, logger: silentLogger(), deadLetter: new MemoryDeadLetter() };
}

function batchOf(lines: readonly string[]): RecordBatch {
  return {
    source: { bucket: "rc-telemetry", key: "in.json.gz" },
    records: lines.map((raw) => ({ raw, value: JSON.parse(raw) as Record<string, unknown> })),
    bytes: lines.reduce((a, l) => a + Buffer.byteLength(l) + 1, 0),
  };
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

interface StoredObject {
  readonly key: string;
  readonly seq: number;
  readonly contentType: string | undefined;
  readonly body: Buffer;
  /** The JSON lines, gunzipped when the key ends in .gz. */
  readonly lines: string[];
}

const NAME_RE =
  /\/(\d{4})\/(\d{2})\/(\d{2})\/(\d{2})\/canary-exporter-(\d{8}T\d{6}\.\d{3}Z)-(.+)-(\d{6})\.json(\.gz)?$/;

/**
 * Every object under `prefix`, through the official client, in the order the output made them
 * (its sequence number), each checked against object-naming.ts: the key is exactly what
 * `objectKey` gives for the time, instance and sequence in its name.
 */
async function readObjects(bucket: string, prefix: string): Promise<StoredObject[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page: ListObjectsV2CommandOutput = await stack.s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/`, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  const objects: StoredObject[] = [];
  for (const key of keys) {
    const m = NAME_RE.exec(key);
    if (!m) throw new Error(`object ${key} does not follow the naming`);
    const [, , , , , stamp = "", instance = "", seq = "0", gz] = m;
    const startedAt = new Date(
      `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(9, 11)}:${stamp.slice(11, 13)}:${stamp.slice(13)}`,
    );
    expect(key).toBe(objectKey(prefix, startedAt, instance, Number(seq), gz === ".gz"));
    const res = await stack.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const body = Buffer.from(
      await (res.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
    );
    const text = (gz ? gunzipSync(body) : body).toString("utf8");
    expect(text.endsWith("\n")).toBe(true);
    objects.push({
      key,
      seq: Number(seq),
      contentType: res.ContentType,
      body,
      lines: text.split("\n").filter((l) => l !== ""),
    });
  }
  return objects.sort((a, b) => a.key.localeCompare(b.key) || a.seq - b.seq);
}

describe("the s3 output alone", () => {
  it.each([
    ["none", ".json"],
    ["gzip", ".json.gz"],
  ] as const)(
    "compression %s: objects up to max_size_bytes, read back equal, named and typed",
    async (compression, ext) => {
      const prefix = `alone/${compression}`;
      const lines = generateFileLines("standardized", 5, 0, 1500);
      // fauxqs 1.9 does not keep Content-Encoding (real S3 does), so it is checked on the wire:
      // this pass-through rule counts the uploads that carry it.
      proxy.rules.push({
        method: "PUT",
        path: new RegExp(`^/${DEST}/${prefix}/`),
        header: { name: "content-encoding", value: compression === "gzip" ? /^gzip$/ : /./ },
        fault: { kind: "delay", ms: 0 },
      });
      const out = createS3Output(
        s3Config({
          object_key_prefix: prefix,
          max_size_bytes: 200_000,
          compression_format: compression,
        }),
        context(),
        "s3[0]",
      );
      await out.healthcheck();
      // Overlapping writes, as the pipeline makes them.
      const writes = chunks(lines, 100).map((c) => out.write(batchOf(c)));
      await out.flush();
      await Promise.all(writes);
      await out.close();

      const objects = await readObjects(DEST, prefix);
      expect(objects.length).toBeGreaterThan(3);
      for (const o of objects) {
        expect(o.key.startsWith(`${prefix}/`)).toBe(true);
        expect(o.key.endsWith(ext)).toBe(true);
        expect(o.key).toContain(`-${INSTANCE}-`);
        expect(o.contentType).toBe("application/x-ndjson");
        if (compression === "gzip") expect([o.body[0], o.body[1]]).toEqual([0x1f, 0x8b]);
        else expect(o.body.length).toBeLessThanOrEqual(200_000);
        for (const l of o.lines) expect(() => JSON.parse(l)).not.toThrow();
      }
      // Content-Encoding: gzip on every gzip object (one PutObject each), on none of the others.
      expect(proxy.hits[0] ?? 0).toBe(compression === "gzip" ? objects.length : 0);
      // Every record once, in the order written.
      expect(objects.flatMap((o) => o.lines)).toEqual(lines);
    },
  );

  it("uploads a 30 MB object in parts and reads it back byte for byte", async () => {
    const prefix = "alone/large";
    // Random content: what arrives must be exactly what was sent, not something that merely
    // compresses alike.
    const lines = Array.from({ length: 110_000 }, (_, i) =>
      JSON.stringify({ i, md5: randomBytes(16).toString("hex"), pad: "y".repeat(220) }),
    );
    const expectedBody = Buffer.from(`${lines.join("\n")}\n`);
    expect(expectedBody.length).toBeGreaterThan(30_000_000);
    // A pass-through rule that counts the parts: it delays nothing.
    proxy.rules.push({
      method: "PUT",
      path: new RegExp(`^/${DEST}/${prefix}/.*[?&]partNumber=`),
      fault: { kind: "delay", ms: 0 },
    });
    const out = createS3Output(
      s3Config({ object_key_prefix: prefix, max_size_bytes: 40_000_000 }),
      context(),
      "s3[0]",
    );
    const writes = chunks(lines, 500).map((c) => out.write(batchOf(c)));
    await out.flush();
    await Promise.all(writes);
    await out.close();

    const objects = await readObjects(DEST, prefix);
    expect(objects).toHaveLength(1);
    expect(objects[0]?.contentType).toBe("application/x-ndjson");
    expect(objects[0]?.body.equals(expectedBody)).toBe(true);
    // 5 MiB parts: at least six of them for 30 MB (more when the SDK retried one).
    expect(proxy.hits[0]).toBeGreaterThanOrEqual(
      Math.ceil(expectedBody.length / (5 * 1024 * 1024)),
    );
  });

  it("fails its start-up check clearly for a missing bucket", async () => {
    const out = createS3Output(s3Config({ bucket_name: "ce-no-such-bucket" }), context(), "s3[0]");
    await expect(out.healthcheck()).rejects.toMatchObject({
      kind: "permanent",
      code: "bucket_missing",
      message: expect.stringMatching(/^bucket ce-no-such-bucket does not exist: create it/),
    });
    await out.close();
  });

  it("says what to fix when credentials are refused, without quoting them", async () => {
    const keyId = "AKIAREFUSEDKEY000001";
    const secret = `refused-${randomBytes(12).toString("hex")}`;
    proxy.rules.push(
      {
        method: "HEAD",
        path: new RegExp(`^/${FAULTY}/?$`),
        fault: { kind: "status", status: 403 },
      },
      {
        method: "PUT",
        path: new RegExp(`^/${FAULTY}/refused/`),
        fault: {
          kind: "status",
          status: 403,
          body: s3ErrorXml(
            "SignatureDoesNotMatch",
            `The request signature we calculated does not match. AWSAccessKeyId ${keyId}`,
          ),
        },
      },
    );
    const out = createS3Output(
      s3Config({
        bucket_name: FAULTY,
        object_key_prefix: "refused",
        aws_access_key_id: keyId,
        aws_secret_access_key: secret,
        flush_interval_seconds: 1,
      }),
      context(),
      "s3[0]",
    );
    const check = await out.healthcheck().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(check).toMatchObject({ kind: "permanent", code: "access_denied" });
    const writing = out.write(batchOf(['{"n":1}'])).then(
      () => undefined,
      (err: unknown) => err,
    );
    await out.flush();
    const write = await writing;
    // Permanent: not retried by the output (the pipeline retries the batch on its own).
    expect(write).toMatchObject({ kind: "permanent", code: "credentials_rejected" });
    expect(proxy.hits[1]).toBe(1);
    for (const err of [check, write]) {
      const message = (err as Error).message;
      expect(message).toContain("aws_access_key_id");
      expect(message).not.toContain(keyId);
      expect(message).not.toContain(secret);
    }
    await out.close();
  });

  it("reports an unreachable endpoint as retryable", async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const srv = createServer();
      srv.listen(0, "127.0.0.1", () => {
        const { port } = srv.address() as { port: number };
        srv.close(() => resolve(port));
      });
    });
    process.env.AWS_ENDPOINT_URL_S3 = `http://127.0.0.1:${closedPort}`;
    try {
      const out = createS3Output(s3Config({}), context(), "s3[0]");
      await expect(out.healthcheck()).rejects.toMatchObject({
        kind: "retryable",
        code: "s3_unreachable",
        message: expect.stringContaining(`cannot reach S3 for bucket ${DEST}`),
      });
      await out.close();
    } finally {
      process.env.AWS_ENDPOINT_URL_S3 = proxy.endpoint;
    }
  });
});

function pipelineConfig(stream: string, dir: string, outputs: string): string {
  return testConfig({ stream, dir, outputs });
}

describe("the s3 output through the whole exporter", () => {
  it("writes exactly the records each s3 output's filter wants (gzip and none, config and environment credentials)", async () => {
    const dir = join(work, "pipeline");
    const sim = await simulate({
      target: simTarget(stack, "standardized"),
      format: "standardized",
      files: 5,
      recordsPerFile: 600,
      seed: 21,
      filesPerNotification: 2,
    });
    // The second output has no keys and no region: the SDK's default chain finds these, and
    // the region falls back to us-east-1. A pass-through rule proves both were used.
    process.env.AWS_ACCESS_KEY_ID = "ENVKEYFORTHEOUTPUT01";
    process.env.AWS_SECRET_ACCESS_KEY = "env-secret";
    delete process.env.AWS_REGION;
    delete process.env.AWS_DEFAULT_REGION;
    proxy.rules.push({
      method: "PUT",
      path: new RegExp(`^/${DEST}/pipeline/starts/`),
      header: {
        name: "authorization",
        value: /Credential=ENVKEYFORTHEOUTPUT01\/\d{8}\/us-east-1\/s3\/aws4_request/,
      },
      fault: { kind: "delay", ms: 0 },
    });
    try {
      await runUntilDrained(
        stack,
        "standardized",
        pipelineConfig(
          "standardized",
          dir,
          `  - s3:
      bucket_name: ${DEST}
      object_key_prefix: pipeline/all
      aws_access_key_id: test
      aws_secret_access_key: test
      aws_region: us-east-2
      max_size_bytes: 400000
      flush_interval_seconds: 1
      compression_format: gzip
  - s3:
      bucket_name: ${DEST}
      object_key_prefix: pipeline/starts/
      flush_interval_seconds: 1
      export_only_where:
        event_type_cd: [process_start, network_connection]`,
        ),
      );
    } finally {
      delete process.env.AWS_ACCESS_KEY_ID;
      delete process.env.AWS_SECRET_ACCESS_KEY;
    }
    const expected = await simulatedLines(stack, sim.files);
    expect(expected).toHaveLength(3000);
    const keep = compileFilter({ event_type_cd: ["process_start", "network_connection"] });
    const expectedStarts = expected.filter((l) => keep?.(JSON.parse(l)));
    expect(expectedStarts.length).toBeGreaterThan(0);
    expect(expectedStarts.length).toBeLessThan(expected.length);

    const all = await readObjects(DEST, "pipeline/all");
    expect(all.length).toBeGreaterThan(1);
    for (const o of all) {
      expect(o.key.endsWith(".json.gz")).toBe(true);
      expect([o.body[0], o.body[1]]).toEqual([0x1f, 0x8b]);
    }
    expect(sorted(all.flatMap((o) => o.lines))).toEqual(sorted(expected));
    const starts = await readObjects(DEST, "pipeline/starts");
    expect(starts.every((o) => o.key.endsWith(".json"))).toBe(true);
    expect(sorted(starts.flatMap((o) => o.lines))).toEqual(sorted(expectedStarts));
    expect(proxy.hits[0]).toBe(starts.length);
    expect(await readDeadLetters(join(dir, "dead-letter"))).toEqual([]);
  });

  it("loses nothing when PutObject and UploadPart answer 5xx for a while and a connection drops: retried until stored", async () => {
    const dir = join(work, "faults");
    // About 9 MB: the first object (6.3-7 MB: a batch, up to ~0.7 MB here, is never split;
    // filled long before the 5 s interval) goes multipart, the rest is one PutObject.
    const sim = await simulate({
      target: simTarget(stack, "cf-flattened"),
      format: "cf-flattened",
      files: 4,
      recordsPerFile: 1600,
      seed: 33,
    });
    const parts = {
      method: "PUT",
      path: new RegExp(`^/${FAULTY}/faults/.*[?&]partNumber=`),
      times: 4,
      fault: {
        kind: "status",
        status: 503,
        body: s3ErrorXml("SlowDown", "Please reduce your request rate."),
      },
    } as const;
    const puts = {
      method: "PUT",
      // PutObject: an object key without the multipart query.
      path: new RegExp(`^/${FAULTY}/faults/[^?]*(\\?x-id=PutObject)?$`),
      // The SDK makes 3 attempts: the first upload fails for good, the output retries it.
      times: 3,
      fault: {
        kind: "status",
        status: 500,
        body: s3ErrorXml("InternalError", "We encountered an internal error. Please try again."),
      },
    } as const;
    const completes = {
      method: "POST",
      path: new RegExp(`^/${FAULTY}/faults/.*[?&]uploadId=`),
      // The multipart object is complete upstream, but its answer breaks off: the client must
      // not take that for success, and the object must end up whole.
      times: 1,
      fault: { kind: "cut", afterBytes: 20 },
    } as const;
    proxy.rules.push({ ...parts }, { ...puts }, { ...completes });
    await runUntilDrained(
      stack,
      "cf-flattened",
      pipelineConfig(
        "cf-flattened",
        dir,
        `  - s3:
      bucket_name: ${FAULTY}
      object_key_prefix: faults
      aws_access_key_id: test
      aws_secret_access_key: test
      aws_region: us-east-2
      max_size_bytes: 7000000
      flush_interval_seconds: 5`,
      ),
    );
    expect(proxy.hits).toEqual([4, 3, 1]);
    const expected = await simulatedLines(stack, sim.files);
    expect(expected).toHaveLength(6400);
    const objects = await readObjects(FAULTY, "faults");
    expect(Math.max(...objects.map((o) => o.body.length))).toBeGreaterThan(5 * 1024 * 1024);
    expect(sorted(objects.flatMap((o) => o.lines))).toEqual(sorted(expected));
    expect(await readDeadLetters(join(dir, "dead-letter"))).toEqual([]);
  });
});

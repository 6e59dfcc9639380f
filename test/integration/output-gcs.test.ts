import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Storage } from "@google-cloud/storage";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ExporterError } from "../../src/core/errors.js";
import type { Output, RecordBatch } from "../../src/core/types.js";
import { type GcsStandIn, startGcsStandIn } from "../../src/local/gcs-standin.js";
import { simulate } from "../../src/local/simulator.js";
import { type LocalStack, startLocalStack } from "../../src/local/stack.js";
import { type GcsOutputConfig, gcsOutputSchema } from "../../src/outputs/gcs/config.js";
import { createGcsOutput } from "../../src/outputs/gcs/index.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { compileFilter } from "../../src/transforms/filter.js";
import { MemoryDeadLetter } from "../helpers/fakes.js";
import { startFaultProxy } from "../helpers/fault-proxy.js";
import {
  queueEmpty,
  readDeadLetters,
  runUntilDrained,
  simTarget,
  simulatedLines,
  sorted,
  testConfig,
} from "../helpers/harness.js";

/**
 * The google_cloud_storage output against the project's GCS stand-in (src/local/gcs-standin.ts,
 * a protocol-level stand-in of the GCS JSON API: no GCS server is installable here), found through
 * STORAGE_EMULATOR_HOST as a user's emulator would be. Everything is read back through the
 * official client.
 */

const BUCKET = "ce-gcs-output";
let standIn: GcsStandIn;
let reader: Storage;
let stack: LocalStack | undefined;
let work: string;
const savedEmulatorHost = process.env.STORAGE_EMULATOR_HOST;

beforeAll(async () => {
  standIn = await startGcsStandIn();
  standIn.createBucket(BUCKET);
  process.env.STORAGE_EMULATOR_HOST = standIn.endpoint;
  reader = new Storage({ projectId: "test" });
  work = await mkdtemp(join(tmpdir(), "ce-gcs-"));
});

afterAll(async () => {
  if (savedEmulatorHost === undefined) delete process.env.STORAGE_EMULATOR_HOST;
  else process.env.STORAGE_EMULATOR_HOST = savedEmulatorHost;
  await stack?.stop();
  await standIn?.close();
  await rm(work, { recursive: true, force: true });
});

afterEach(() => {
  process.env.STORAGE_EMULATOR_HOST = standIn.endpoint;
});

async function localStack(): Promise<LocalStack> {
  stack ??= await startLocalStack({ port: 0 });
  return stack;
}

function gcsConfig(over: Record<string, unknown>): GcsOutputConfig {
  return gcsOutputSchema.parse({ bucket_name: BUCKET, ...over });
}

function output(over: Record<string, unknown>): Output {
  const ctx = {
    instanceId: "testhost-1-abc123",
    logger: silentLogger(),
    deadLetter: new MemoryDeadLetter(),
  };
  return createGcsOutput(gcsConfig(over), ctx, "google_cloud_storage[0]");
}

function batch(from: number, n: number, pad = 60): RecordBatch {
  const records = Array.from({ length: n }, (_, i) => {
    const raw = JSON.stringify({
      i: from + i,
      event_type_cd: "process_start",
      pad: "x".repeat(pad),
    });
    return { raw, value: JSON.parse(raw) as Record<string, unknown> };
  });
  const bytes = records.reduce((a, r) => a + Buffer.byteLength(r.raw) + 1, 0);
  return { source: { bucket: "src", key: "k" }, records, bytes };
}

interface ReadBack {
  readonly names: string[];
  readonly lines: string[];
  readonly meta: Array<{ contentType?: string; contentEncoding?: string; size?: string | number }>;
}

/** Every object under `prefix`, in name order, downloaded (and gunzipped) by the official client. */
async function readBack(prefix: string): Promise<ReadBack> {
  const [files] = await reader.bucket(BUCKET).getFiles({ prefix, autoPaginate: true });
  const out: ReadBack = { names: [], lines: [], meta: [] };
  for (const f of files.sort((a, b) => a.name.localeCompare(b.name))) {
    out.names.push(f.name);
    const [meta] = await f.getMetadata();
    out.meta.push(meta);
    const [body] = await f.download();
    out.lines.push(...body.toString("utf8").split("\n").filter(Boolean));
  }
  return out;
}

async function failureOf(p: Promise<unknown>): Promise<ExporterError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ExporterError);
  return err as ExporterError;
}

describe("google_cloud_storage output on its own", () => {
  it.each(["none", "gzip"] as const)(
    "uploads batches as JSON-lines objects (%s) that read back equal",
    async (compression) => {
      const prefix = `alone-${compression}`;
      const out = output({
        object_key_prefix: prefix,
        max_size_bytes: 8_000,
        compression_format: compression,
      });
      await out.healthcheck(AbortSignal.timeout(10_000));
      const writes: Promise<void>[] = [];
      for (let i = 0; i < 30; i++) writes.push(out.write(batch(i * 10, 10)));
      await out.flush();
      await Promise.all(writes);
      await out.close();

      const got = await readBack(`${prefix}/`);
      const expected = Array.from({ length: 300 }, (_, i) => batch(i, 1).records[0]?.raw);
      expect(got.lines).toEqual(expected);
      expect(got.names.length).toBeGreaterThan(2);
      const ext = compression === "gzip" ? "\\.json\\.gz" : "\\.json";
      for (const name of got.names) {
        expect(name).toMatch(
          new RegExp(
            `^${prefix}/\\d{4}/\\d{2}/\\d{2}/\\d{2}/canary-exporter-\\d{8}T\\d{6}\\.\\d{3}Z-testhost-1-abc123-\\d{6}${ext}$`,
          ),
        );
      }
      for (const meta of got.meta) {
        expect(meta.contentType).toBe("application/x-ndjson");
        expect(meta.contentEncoding).toBe(compression === "gzip" ? "gzip" : undefined);
      }
      if (compression === "gzip") {
        const [raw] = await reader
          .bucket(BUCKET)
          .file(got.names[0] as string)
          .download({
            decompress: false,
          });
        expect([raw[0], raw[1]]).toEqual([0x1f, 0x8b]);
      }
    },
  );

  it("sends a 20 MB object as a resumable upload that reads back equal", async () => {
    const prefix = "big";
    const out = output({ object_key_prefix: prefix, max_size_bytes: 30_000_000 });
    const writes: Promise<void>[] = [];
    let n = 0;
    for (let bytes = 0; bytes < 20_000_000; ) {
      const b = batch(n, 1000, 900);
      writes.push(out.write(b));
      n += 1000;
      bytes += b.bytes;
    }
    await out.close();
    await Promise.all(writes);
    const got = await readBack(`${prefix}/`);
    expect(got.names).toHaveLength(1);
    const upload = standIn.uploads.find((u) => u.name === got.names[0]);
    expect(upload?.uploadType).toBe("resumable");
    expect(upload?.bytes).toBeGreaterThan(20_000_000);
    expect(got.lines).toHaveLength(n);
    expect(got.lines).toEqual(
      Array.from({ length: n }, (_, i) => batch(i, 1, 900).records[0]?.raw),
    );
  });

  it("fails its health check clearly for a missing bucket", async () => {
    const out = output({ bucket_name: "no-such-bucket" });
    const err = await failureOf(out.healthcheck(AbortSignal.timeout(10_000)));
    expect(err.kind).toBe("permanent");
    expect(err.message).toMatch(/^bucket no-such-bucket does not exist .*bucket_name/);
    await out.close();
  });

  it("fails its health check clearly when GCS refuses the credentials or the permission", async () => {
    const strict = await startGcsStandIn({ requireAuth: true });
    const readOnly = await startGcsStandIn({ grantedPermissions: ["storage.buckets.get"] });
    try {
      strict.createBucket(BUCKET);
      process.env.STORAGE_EMULATOR_HOST = strict.endpoint;
      const refused = await failureOf(output({}).healthcheck(AbortSignal.timeout(10_000)));
      expect(refused.kind).toBe("permanent");
      expect(refused.message).toMatch(
        /HTTP 401.*check the google_cloud_storage output's credentials_json/,
      );

      readOnly.createBucket(BUCKET);
      process.env.STORAGE_EMULATOR_HOST = readOnly.endpoint;
      // Bucket metadata is readable, yet creating objects is what the output does.
      const reader = await failureOf(output({}).healthcheck(AbortSignal.timeout(10_000)));
      expect(reader.kind).toBe("permanent");
      expect(reader.message).toMatch(/may not create objects in gs:\/\/ce-gcs-output/);
      // Were the permission taken away after the start, uploads fail as permanent too.
      const out = output({});
      const write = out.write(batch(0, 1));
      await out.close();
      const denied = await failureOf(write);
      expect(denied.kind).toBe("permanent");
      expect(denied.message).toMatch(/HTTP 403.*storage\.objects\.create/);
    } finally {
      await strict.close();
      await readOnly.close();
    }
  });

  it("passes its health check for a writer that may not read bucket metadata (objectCreator)", async () => {
    const writerOnly = await startGcsStandIn({ grantedPermissions: ["storage.objects.create"] });
    const nothing = await startGcsStandIn({ grantedPermissions: [] });
    try {
      writerOnly.createBucket(BUCKET);
      nothing.createBucket(BUCKET);
      process.env.STORAGE_EMULATOR_HOST = writerOnly.endpoint;
      await output({}).healthcheck(AbortSignal.timeout(10_000));
      process.env.STORAGE_EMULATOR_HOST = nothing.endpoint;
      const err = await failureOf(output({}).healthcheck(AbortSignal.timeout(10_000)));
      expect(err.kind).toBe("permanent");
      expect(err.message).toMatch(/may not create objects in gs:\/\/ce-gcs-output.*objectCreator/);
    } finally {
      await writerOnly.close();
      await nothing.close();
    }
  });

  it("says how to write STORAGE_EMULATOR_HOST when its scheme is missing", async () => {
    process.env.STORAGE_EMULATOR_HOST = standIn.endpoint.replace("http://", "");
    const err = await failureOf(output({}).healthcheck(AbortSignal.timeout(10_000)));
    expect(err.message).toMatch(/STORAGE_EMULATOR_HOST .*with its scheme, such as http:/);
  });

  it("uses credentials_json without asking Google for a token when STORAGE_EMULATOR_HOST is set", async () => {
    // A well-formed key that Google has never seen: against an emulator host the client sends no
    // credentials at all, so nothing tries to reach oauth2.googleapis.com (there is no network here).
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const credentials_json = JSON.stringify({
      type: "service_account",
      project_id: "ce-test-project",
      private_key_id: "0123456789abcdef0123456789abcdef01234567",
      private_key: pem,
      client_email: "exporter@ce-test-project.iam.gserviceaccount.com",
      client_id: "123456789012345678901",
      token_uri: "https://oauth2.googleapis.com/token",
    });
    const out = output({ object_key_prefix: "with-key", credentials_json });
    await out.healthcheck(AbortSignal.timeout(10_000));
    const write = out.write(batch(0, 5));
    await out.flush();
    await write;
    expect((await readBack("with-key/")).lines).toHaveLength(5);
    // The key never shows in an error.
    const missing = output({ bucket_name: "no-such-bucket", credentials_json });
    const err = await failureOf(missing.healthcheck(AbortSignal.timeout(10_000)));
    expect(err.message).not.toContain("PRIVATE KEY");
    expect(err.message).not.toContain("0123456789abcdef0123456789abcdef01234567");
  });

  it("loses nothing when uploads meet 503s and connections cut after the upload", async () => {
    const proxy = await startFaultProxy(standIn.endpoint, [
      // More 503s on single-request uploads than the client retries: the engine retries too.
      {
        method: "POST",
        path: /uploadType=multipart/,
        times: 4,
        fault: {
          kind: "status",
          status: 503,
          contentType: "application/json",
          body: '{"error":{"code":503,"message":"Service Unavailable"}}',
        },
      },
      // A resumable upload's data request: 503 once, then the answer cut after GCS stored it.
      // (Status queries carry `Content-Range: bytes */*` and go through.)
      {
        method: "PUT",
        path: /upload_id=/,
        header: { name: "content-range", value: /^bytes \d/ },
        times: 1,
        fault: { kind: "status", status: 503 },
      },
      {
        method: "PUT",
        path: /upload_id=/,
        header: { name: "content-range", value: /^bytes \d/ },
        times: 1,
        fault: { kind: "cut", afterBytes: 1 },
      },
    ]);
    try {
      process.env.STORAGE_EMULATOR_HOST = proxy.endpoint;
      const small = output({ object_key_prefix: "faults-small", max_size_bytes: 5_000 });
      const big = output({ object_key_prefix: "faults-big", max_size_bytes: 12_000_000 });
      const writes: Promise<void>[] = [];
      for (let i = 0; i < 10; i++) writes.push(small.write(batch(i * 20, 20)));
      let n = 0;
      for (let bytes = 0; bytes < 10_000_000; n += 1000) {
        const b = batch(n, 1000, 900);
        writes.push(big.write(b));
        bytes += b.bytes;
      }
      await Promise.all([small.flush(), big.flush()]);
      await Promise.all(writes);
      await Promise.all([small.close(), big.close()]);
      expect(proxy.hits).toEqual([4, 1, 1]);
      process.env.STORAGE_EMULATOR_HOST = standIn.endpoint;
      expect((await readBack("faults-small/")).lines).toEqual(
        Array.from({ length: 200 }, (_, i) => batch(i, 1).records[0]?.raw),
      );
      expect((await readBack("faults-big/")).lines).toEqual(
        Array.from({ length: n }, (_, i) => batch(i, 1, 900).records[0]?.raw),
      );
    } finally {
      await proxy.close();
    }
  });
});

function pipelineConfig(stream: string, dir: string, outputs: string): string {
  return testConfig({ stream, dir, outputs, maxReceives: 5 });
}

describe("google_cloud_storage output in the whole pipeline", () => {
  it("receives exactly the records its export_only_where wants, plain and gzip", async () => {
    const s = await localStack();
    const dir = join(work, "pipeline");
    const sim = await simulate({
      target: simTarget(s, "standardized"),
      format: "standardized",
      files: 4,
      recordsPerFile: 600,
      seed: 23,
      filesPerNotification: 2,
    });
    const where = { event_type_cd: ["process_start", "network_connection"] };
    await runUntilDrained(
      s,
      "standardized",
      pipelineConfig(
        "standardized",
        dir,
        `  - google_cloud_storage:
      bucket_name: ${BUCKET}
      object_key_prefix: pipeline/all
      max_size_bytes: 200000
      flush_interval_seconds: 1
  - google_cloud_storage:
      bucket_name: ${BUCKET}
      object_key_prefix: pipeline/starts
      compression_format: gzip
      flush_interval_seconds: 1
      export_only_where:
        event_type_cd: [process_start, network_connection]`,
      ),
    );
    const expected = await simulatedLines(s, sim.files);
    expect(expected).toHaveLength(2400);
    const keep = compileFilter(where);
    const expectedStarts = expected.filter((l) => keep?.(JSON.parse(l)));
    expect(expectedStarts.length).toBeGreaterThan(0);
    expect(expectedStarts.length).toBeLessThan(expected.length);
    const all = await readBack("pipeline/all/");
    const starts = await readBack("pipeline/starts/");
    expect(sorted(all.lines)).toEqual(sorted(expected));
    expect(sorted(starts.lines)).toEqual(sorted(expectedStarts));
    expect(starts.names.every((n) => n.endsWith(".json.gz"))).toBe(true);
    expect(await readDeadLetters(join(dir, "dead-letter"))).toEqual([]);
  });

  it("deletes the messages only once 503s on uploads are overcome, losing nothing", async () => {
    const s = await localStack();
    const dir = join(work, "pipeline-faults");
    const proxy = await startFaultProxy(standIn.endpoint, [
      {
        method: "POST",
        path: /\/upload\/storage\/v1\//,
        times: 6,
        fault: { kind: "status", status: 503 },
      },
    ]);
    try {
      process.env.STORAGE_EMULATOR_HOST = proxy.endpoint;
      const sim = await simulate({
        target: simTarget(s, "native"),
        format: "native",
        files: 3,
        recordsPerFile: 400,
        seed: 5,
      });
      await runUntilDrained(
        s,
        "native",
        pipelineConfig(
          "native",
          dir,
          `  - google_cloud_storage:
      bucket_name: ${BUCKET}
      object_key_prefix: pipeline-faults
      compression_format: gzip
      flush_interval_seconds: 1`,
        ),
      );
      expect(proxy.hits[0]).toBe(6);
      expect(await queueEmpty(s, "native")).toBe(true);
      process.env.STORAGE_EMULATOR_HOST = standIn.endpoint;
      const expected = await simulatedLines(s, sim.files);
      expect(sorted((await readBack("pipeline-faults/")).lines)).toEqual(sorted(expected));
    } finally {
      await proxy.close();
    }
  });
});

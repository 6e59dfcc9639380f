import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import {
  BlobServiceClient,
  type ContainerClient,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ExporterError } from "../../src/core/errors.js";
import type { Output, RecordBatch } from "../../src/core/types.js";
import { simulate } from "../../src/local/simulator.js";
import { type LocalStack, startLocalStack } from "../../src/local/stack.js";
import type { AzureBlobOutputConfig } from "../../src/outputs/azure-blob/config.js";
import { type AzureEnv, planAzureBlobTarget } from "../../src/outputs/azure-blob/credentials.js";
import { classifyAzureError } from "../../src/outputs/azure-blob/errors.js";
import {
  type AzureBlobStoreOptions,
  createAzureBlobOutput,
} from "../../src/outputs/azure-blob/index.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { compileFilter } from "../../src/transforms/filter.js";
import { type Azurite, startAzurite } from "../helpers/azurite.js";
import { MemoryDeadLetter } from "../helpers/fakes.js";
import { type FaultProxy, startFaultProxy } from "../helpers/fault-proxy.js";
import {
  runUntilDrained,
  simTarget,
  simulatedLines,
  sorted,
  testConfig,
} from "../helpers/harness.js";

let az: Azurite;
let service: BlobServiceClient;
let stack: LocalStack;
let work: string;
const proxies: FaultProxy[] = [];
const ENV_KEYS = [
  "AZURE_STORAGE_CONNECTION_STRING",
  "AZURE_STORAGE_KEY",
  "AZURE_STORAGE_BLOB_ENDPOINT",
] as const;

beforeAll(async () => {
  [az, stack] = await Promise.all([startAzurite(), startLocalStack({ port: 0 })]);
  service = new BlobServiceClient(az.endpoint, new StorageSharedKeyCredential(az.account, az.key));
  work = await mkdtemp(join(tmpdir(), "ce-azure-"));
});

afterEach(async () => {
  for (const k of ENV_KEYS) delete process.env[k];
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

afterAll(async () => {
  await Promise.all([az?.stop(), stack?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

/** The Azure error body for 503 ServerBusy, as the service sends it. */
const SERVER_BUSY_XML =
  '<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code><Message>Ingress is over the account limit.\nRequestId:fault-proxy\nTime:2026-12-03T00:00:00.0000000Z</Message></Error>';

async function newContainer(name: string): Promise<ContainerClient> {
  const c = service.getContainerClient(name);
  await c.create();
  return c;
}

function cfg(over: Partial<AzureBlobOutputConfig> = {}): AzureBlobOutputConfig {
  return {
    storage_account_name: az.account,
    container_name: "telemetry",
    blob_name_prefix: "canary",
    storage_access_key: az.key,
    max_size_bytes: 10_000_000,
    flush_interval_seconds: 60,
    compression_format: "none",
    export_only_where: undefined,
    ...over,
  };
}

function output(
  config: AzureBlobOutputConfig,
  env: AzureEnv = { AZURE_STORAGE_BLOB_ENDPOINT: az.endpoint },
  store: Partial<AzureBlobStoreOptions> = {},
): Output {
  const ctx = {
    instanceId: "host-1-abc123",
    logger: silentLogger(),
    deadLetter: new MemoryDeadLetter(),
  };
  return createAzureBlobOutput(config, ctx, "azure_blob[0]", env, store);
}

/** `count` telemetry-like lines from `from`, each with a few non-ASCII characters. */
function lines(from: number, count: number, pad = 60): string[] {
  return Array.from({ length: count }, (_, i) =>
    JSON.stringify({
      event_type_cd: (from + i) % 3 === 0 ? "process_start" : "network_connection",
      n: from + i,
      sensor_id: 529,
      path: "C:\\Users\\ünïcødé\\✓.exe",
      pad: "x".repeat(pad),
    }),
  );
}

function batchOf(raws: readonly string[]): RecordBatch {
  const records = raws.map((raw) => ({ raw, value: JSON.parse(raw) as Record<string, unknown> }));
  const bytes = raws.reduce((a, r) => a + Buffer.byteLength(r) + 1, 0);
  return { source: { bucket: "rc-bucket", key: "obj.json.gz" }, records, bytes };
}

/** Writes `all` in batches of `per`, flushes, and waits for every write to be durable. */
async function writeAll(out: Output, all: readonly string[], per: number): Promise<void> {
  const writes: Promise<void>[] = [];
  for (let i = 0; i < all.length; i += per) writes.push(out.write(batchOf(all.slice(i, i + per))));
  await out.flush();
  await Promise.all(writes);
}

interface StoredBlob {
  readonly name: string;
  readonly contentType: string | undefined;
  readonly contentEncoding: string | undefined;
  readonly lines: string[];
}

/** Every blob under `prefix`, in name order, downloaded with the official client. */
async function readBlobs(container: ContainerClient, prefix = ""): Promise<StoredBlob[]> {
  const blobs: StoredBlob[] = [];
  for await (const item of container.listBlobsFlat({ prefix })) {
    const body = await container.getBlobClient(item.name).downloadToBuffer();
    const text = (item.properties.contentEncoding === "gzip" ? gunzipSync(body) : body).toString(
      "utf8",
    );
    blobs.push({
      name: item.name,
      contentType: item.properties.contentType,
      contentEncoding: item.properties.contentEncoding,
      lines: text.split("\n").filter((l) => l !== ""),
    });
  }
  return blobs.sort((a, b) => a.name.localeCompare(b.name));
}

const NAME =
  /^canary\/\d{4}\/\d{2}\/\d{2}\/\d{2}\/canary-exporter-\d{8}T\d{6}\.\d{3}Z-host-1-abc123-\d{6}\.json$/;

describe("azure_blob output against Azurite", () => {
  for (const compression of ["none", "gzip"] as const) {
    it(`writes JSON-lines blobs (${compression}) that read back equal, in order`, async () => {
      const container = await newContainer(`roundtrip-${compression}`);
      const out = output(
        cfg({
          container_name: container.containerName,
          compression_format: compression,
          max_size_bytes: 40_000,
        }),
      );
      await out.healthcheck();
      const input = lines(0, 2_000);
      await writeAll(out, input, 150);
      await out.close();

      const blobs = await readBlobs(container);
      expect(blobs.length).toBeGreaterThan(5);
      expect(blobs.flatMap((b) => b.lines)).toEqual(input);
      for (const b of blobs) {
        expect(b.name).toMatch(
          compression === "gzip" ? new RegExp(`${NAME.source.slice(0, -1)}\\.gz$`) : NAME,
        );
        expect(b.contentType).toBe("application/x-ndjson");
        expect(b.contentEncoding).toBe(compression === "gzip" ? "gzip" : undefined);
      }
    });
  }

  it("uploads a 20 MB blob in blocks that reads back equal", async () => {
    const container = await newContainer("large");
    const out = output(
      cfg({ container_name: container.containerName, max_size_bytes: 30_000_000 }),
    );
    const input = lines(0, 20_000, 950); // ~20.8 MB of JSON lines
    await writeAll(out, input, 1_000);
    await out.close();

    const blobs = await readBlobs(container);
    expect(blobs).toHaveLength(1);
    const [blob] = blobs;
    expect(blob?.lines).toEqual(input);
    const blocks = await container.getBlockBlobClient(blob?.name ?? "").getBlockList("committed");
    // 4 MiB blocks, staged then committed: never one 20 MB request.
    const size = input.reduce((a, l) => a + Buffer.byteLength(l) + 1, 0);
    expect(size).toBeGreaterThan(20_000_000);
    expect(blocks.committedBlocks?.length).toBe(Math.ceil(size / (4 * 1024 * 1024)));
    expect(blocks.committedBlocks?.reduce((a, b) => a + b.size, 0)).toBe(size);
  });

  it("fails its health check clearly for a missing container", async () => {
    const out = output(cfg({ container_name: "no-such-container" }));
    const err = await out.healthcheck().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ExporterError);
    expect(err).toMatchObject({ kind: "permanent", code: "container_not_found" });
    expect((err as Error).message).toMatch(
      /container "no-such-container" of storage account "devstoreaccount1" does not exist .*create it or fix container_name/,
    );
  });

  it("fails its health check clearly for a wrong key, without quoting it", async () => {
    await newContainer("wrong-key");
    const wrongKey = Buffer.from(
      "not the account key at all, 64 bytes long......................",
    ).toString("base64");
    const out = output(cfg({ container_name: "wrong-key", storage_access_key: wrongKey }));
    const err = await out.healthcheck().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ kind: "permanent", code: "access_denied" });
    expect((err as Error).message).toMatch(/denied \(403 .*check storage_access_key/);
    expect((err as Error).message).not.toContain(wrongKey);
    expect((err as Error).message).not.toContain(az.key);
  });

  it("rejects writes at run time with a permanent error when the container is gone", async () => {
    const out = output(cfg({ container_name: "gone-container", max_size_bytes: 100 }));
    await expect(out.write(batchOf(lines(0, 5)))).rejects.toMatchObject({
      kind: "permanent",
      code: "container_not_found",
    });
  });

  it("takes credentials from AZURE_STORAGE_CONNECTION_STRING, then AZURE_STORAGE_KEY", async () => {
    const container = await newContainer("from-env");
    const viaConnectionString = output(
      cfg({ container_name: "from-env", storage_access_key: undefined, blob_name_prefix: "cs" }),
      { AZURE_STORAGE_CONNECTION_STRING: az.connectionString, AZURE_STORAGE_KEY: "ignored" },
    );
    await viaConnectionString.healthcheck();
    await writeAll(viaConnectionString, lines(0, 10), 10);
    const viaKey = output(
      cfg({ container_name: "from-env", storage_access_key: undefined, blob_name_prefix: "key" }),
      { AZURE_STORAGE_KEY: az.key, AZURE_STORAGE_BLOB_ENDPOINT: `${az.endpoint}/` },
    );
    await viaKey.healthcheck();
    await writeAll(viaKey, lines(10, 10), 10);
    expect((await readBlobs(container, "cs/")).flatMap((b) => b.lines)).toEqual(lines(0, 10));
    expect((await readBlobs(container, "key/")).flatMap((b) => b.lines)).toEqual(lines(10, 10));
  });

  it("refuses setups that cannot work, saying what to change and quoting no secret", async () => {
    const mismatch = output(
      cfg({ storage_account_name: "otheraccount", storage_access_key: undefined }),
      {
        AZURE_STORAGE_CONNECTION_STRING: az.connectionString,
      },
    );
    await expect(mismatch.healthcheck()).rejects.toThrow(
      /AZURE_STORAGE_CONNECTION_STRING is for storage account "devstoreaccount1" but storage_account_name is "otheraccount"/,
    );
    const broken = output(cfg({ storage_access_key: undefined }), {
      AZURE_STORAGE_CONNECTION_STRING: "AccountName=x;AccountKey=SECRET-VALUE;BlobEndpoint=::nope",
    });
    const err = await broken.healthcheck().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/not a valid Azure Storage connection string/);
    expect(err?.message).not.toContain("SECRET-VALUE");
    const httpWithoutKey = output(cfg({ storage_access_key: undefined }), {
      AZURE_STORAGE_BLOB_ENDPOINT: az.endpoint,
    });
    await expect(httpWithoutKey.healthcheck()).rejects.toThrow(/Azure AD credentials need https/);
  });

  it("retries 503 ServerBusy beyond the SDK's own tries and loses nothing", async () => {
    const container = await newContainer("busy-direct");
    const proxy = await startFaultProxy(az.origin, [
      {
        method: "PUT",
        path: /\/busy-direct\//,
        times: 5,
        fault: { kind: "status", status: 503, body: SERVER_BUSY_XML },
      },
    ]);
    proxies.push(proxy);
    // Two SDK tries per upload: the engine's own upload retries must cover the rest.
    const out = output(
      cfg({ container_name: container.containerName, max_size_bytes: 20_000 }),
      { AZURE_STORAGE_BLOB_ENDPOINT: `${proxy.endpoint}/${az.account}` },
      { retry: { maxTries: 2, retryDelayInMs: 20, maxRetryDelayInMs: 50 } },
    );
    const input = lines(0, 500);
    await writeAll(out, input, 50);
    expect(proxy.hits[0]).toBe(5);
    expect((await readBlobs(container)).flatMap((b) => b.lines)).toEqual(input);
  });
});

function pipelineConfig(stream: string, dir: string, outputs: string): string {
  return testConfig({ stream, dir, outputs });
}

describe("azure_blob output through the whole pipeline", () => {
  it("delivers exactly the records each azure_blob output's filter wants (none and gzip)", async () => {
    const starts = await newContainer("pipeline-starts");
    const all = await newContainer("pipeline-all");
    const sim = await simulate({
      target: simTarget(stack, "standardized"),
      format: "standardized",
      files: 5,
      recordsPerFile: 600,
      seed: 11,
      filesPerNotification: 2,
    });
    // No key in the config: the connection string gives credentials and Azurite's endpoint.
    process.env.AZURE_STORAGE_CONNECTION_STRING = az.connectionString;
    await runUntilDrained(
      stack,
      "standardized",
      pipelineConfig(
        "standardized",
        join(work, "pipeline"),
        `  - azure_blob:
      storage_account_name: devstoreaccount1
      container_name: pipeline-starts
      blob_name_prefix: rc/starts
      max_size_bytes: 200000
      flush_interval_seconds: 1
      export_only_where:
        event_type_cd: [process_start]
  - azure_blob:
      storage_account_name: devstoreaccount1
      container_name: pipeline-all
      max_size_bytes: 1000000
      flush_interval_seconds: 1
      compression_format: gzip`,
      ),
    );
    const expected = await simulatedLines(stack, sim.files);
    expect(expected).toHaveLength(3_000);
    const keep = compileFilter({ event_type_cd: ["process_start"] });
    const expectedStarts = expected.filter((l) => keep?.(JSON.parse(l)));
    expect(expectedStarts.length).toBeGreaterThan(0);
    expect(expectedStarts.length).toBeLessThan(expected.length);

    const startBlobs = await readBlobs(starts);
    expect(startBlobs.every((b) => /^rc\/starts\/\d{4}\/.*\.json$/.test(b.name))).toBe(true);
    expect(sorted(startBlobs.flatMap((b) => b.lines))).toEqual(sorted(expectedStarts));
    const allBlobs = await readBlobs(all);
    expect(allBlobs.every((b) => b.name.endsWith(".json.gz") && b.contentEncoding === "gzip")).toBe(
      true,
    );
    expect(sorted(allBlobs.flatMap((b) => b.lines))).toEqual(sorted(expected));
  });

  it("loses nothing when blob PUTs answer 503 ServerBusy, and deletes the messages after", async () => {
    const container = await newContainer("pipeline-busy");
    const proxy = await startFaultProxy(az.origin, [
      {
        method: "PUT",
        path: /\/pipeline-busy\//,
        times: 2,
        fault: { kind: "status", status: 503, body: SERVER_BUSY_XML },
      },
    ]);
    proxies.push(proxy);
    const sim = await simulate({
      target: simTarget(stack, "native"),
      format: "native",
      files: 3,
      recordsPerFile: 400,
      seed: 5,
    });
    process.env.AZURE_STORAGE_BLOB_ENDPOINT = `${proxy.endpoint}/${az.account}`;
    await runUntilDrained(
      stack,
      "native",
      pipelineConfig(
        "native",
        join(work, "busy"),
        `  - azure_blob:
      storage_account_name: devstoreaccount1
      container_name: pipeline-busy
      storage_access_key: ${az.key}
      max_size_bytes: 100000
      flush_interval_seconds: 1`,
      ),
    );
    expect(proxy.hits[0]).toBe(2);
    const expected = await simulatedLines(stack, sim.files);
    expect(expected).toHaveLength(1_200);
    expect(sorted((await readBlobs(container)).flatMap((b) => b.lines))).toEqual(sorted(expected));
  });
});

describe("azure_blob credentials and error classes (no server)", () => {
  const cs =
    "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net";

  it("takes the config key, then the connection string, then AZURE_STORAGE_KEY, then the default credential", () => {
    const all = { AZURE_STORAGE_CONNECTION_STRING: cs, AZURE_STORAGE_KEY: "ZW52" };
    expect(planAzureBlobTarget("acct", "Y2Zn", all)).toEqual({
      source: "storage_access_key",
      endpoint: "https://acct.blob.core.windows.net",
      key: "Y2Zn",
    });
    expect(planAzureBlobTarget("acct", undefined, all).source).toBe(
      "AZURE_STORAGE_CONNECTION_STRING",
    );
    expect(planAzureBlobTarget("acct", undefined, { AZURE_STORAGE_KEY: "ZW52" }).source).toBe(
      "AZURE_STORAGE_KEY",
    );
    expect(planAzureBlobTarget("acct", undefined, {})).toEqual({
      source: "DefaultAzureCredential",
      endpoint: "https://acct.blob.core.windows.net",
    });
    expect(
      planAzureBlobTarget("acct", "Y2Zn", {
        AZURE_STORAGE_BLOB_ENDPOINT: "https://acct.blob.core.chinacloudapi.cn/",
      }),
    ).toMatchObject({ endpoint: "https://acct.blob.core.chinacloudapi.cn" });
    expect(() =>
      planAzureBlobTarget("acct", "Y2Zn", {
        AZURE_STORAGE_BLOB_ENDPOINT: "https://acct.blob.core.windows.net/?sv=1&sig=SECRET",
      }),
    ).toThrow(/without credentials or query/);
  });

  it("tells retryable from permanent, with a hint for the credential in use", () => {
    const ctx = {
      account: "acct",
      container: "logs",
      endpoint: "https://acct.blob.core.windows.net",
      source: "DefaultAzureCredential" as const,
    };
    const rest = (statusCode: number, code: string) =>
      Object.assign(new Error(`${code} happened\nRequestId:1`), {
        name: "RestError",
        statusCode,
        code,
      });
    expect(classifyAzureError(rest(503, "ServerBusy"), ctx).kind).toBe("retryable");
    expect(classifyAzureError(rest(500, "InternalError"), ctx).kind).toBe("retryable");
    expect(classifyAzureError(rest(429, "TooManyRequests"), ctx).kind).toBe("retryable");
    expect(classifyAzureError(rest(400, "InvalidHeaderValue"), ctx).kind).toBe("permanent");
    const denied = classifyAzureError(rest(403, "AuthorizationPermissionMismatch"), ctx);
    expect(denied.kind).toBe("permanent");
    expect(denied.message).toMatch(/Storage Blob Data Contributor role/);
    const timeout = Object.assign(new Error("The operation was aborted."), { name: "AbortError" });
    expect(classifyAzureError(timeout, ctx)).toMatchObject({
      kind: "retryable",
      code: "azure_unreachable",
    });
    const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
    expect(classifyAzureError(reset, ctx).kind).toBe("retryable");
    const noIdentity = Object.assign(new Error("no managed identity endpoint"), {
      name: "CredentialUnavailableError",
    });
    expect(classifyAzureError(noIdentity, ctx, { atStartup: true }).kind).toBe("permanent");
    expect(classifyAzureError(noIdentity, ctx).kind).toBe("retryable");
    const sas = Object.assign(
      new Error("GET https://acct.blob.core.windows.net/logs?sv=1&sig=SECRET failed"),
      {
        code: "ECONNRESET",
      },
    );
    expect(classifyAzureError(sas, ctx).message).not.toContain("SECRET");
  });
});

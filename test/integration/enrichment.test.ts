import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/index.js";
import { buildFleet, fleetById, type Sensor } from "../../src/local/fleet.js";
import { type RedCanaryStandIn, startRedCanaryStandIn } from "../../src/local/redcanary-standin.js";
import { simulate } from "../../src/local/simulator.js";
import { type LocalStack, startLocalStack } from "../../src/local/stack.js";
import { createExporter } from "../../src/runtime/create-exporter.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { Metrics } from "../../src/telemetry/metrics.js";
import { startFaultProxy } from "../helpers/fault-proxy.js";
import {
  counterValue,
  queueEmpty,
  readJsonLines,
  runUntilDrained,
  simTarget,
  simulatedLines,
  sorted,
  testConfig,
  waitFor,
} from "../helpers/harness.js";

/**
 * Endpoint enrichment end to end: fauxqs for SQS/SNS/S3 and the project's Red Canary API
 * stand-in (no public server exists), both over HTTP, the exporter in process.
 */

const STREAM = "standardized";
const FLEET = buildFleet();
const BY_ID = fleetById(FLEET);

let stack: LocalStack;
let work: string;
const standIns: RedCanaryStandIn[] = [];

beforeAll(async () => {
  stack = await startLocalStack({ port: 0 });
  work = await mkdtemp(join(tmpdir(), "ce-enrich-"));
});

afterAll(async () => {
  await Promise.all(standIns.map((s) => s.close()));
  await stack?.stop();
  await rm(work, { recursive: true, force: true });
});

async function standIn(opts: Parameters<typeof startRedCanaryStandIn>[0] = {}) {
  const s = await startRedCanaryStandIn(opts);
  standIns.push(s);
  return s;
}

function config(dir: string, api: RedCanaryStandIn, outputs: string, enrichment = ""): string {
  return testConfig({
    stream: STREAM,
    dir,
    outputs,
    extra: `red_canary_authentication_token: ${api.token}
endpoint_enrichment:
  api_url: ${api.url}
${enrichment}`,
  });
}

function simulateFiles(files: number, recordsPerFile: number, seed: number) {
  return simulate({
    target: simTarget(stack, STREAM),
    format: STREAM,
    files,
    recordsPerFile,
    seed,
  });
}

/** An in-process exporter on `text`, with the waits the outage tests need. */
async function startExporter(text: string) {
  process.env.AWS_ENDPOINT_URL = stack.endpoint;
  const metrics = new Metrics();
  const cfg = parseConfig(text, "test-config.yaml");
  const { exporter, poller } = await createExporter(cfg, { logger: silentLogger(), metrics });
  const running = exporter.run();
  return {
    metrics,
    poller,
    recordsWaiting: () =>
      waitFor(
        async () => (await metrics.enrichmentWaiting.get()).values[0]?.value !== 0,
        "records to wait for the API",
      ),
    drained: () =>
      waitFor(
        async () => (await queueEmpty(stack, STREAM)) && poller.inFlightCount === 0,
        "the queue to drain",
        60_000,
      ),
    async stop() {
      exporter.stop("test done");
      await running;
    },
  };
}

type Json = Record<string, unknown>;

/** The output line without its endpoint key, and the endpoint object. */
function split(line: string): { record: Json; endpoint: Json } {
  const { endpoint_metadata, ...record } = JSON.parse(line) as Json;
  return { record, endpoint: endpoint_metadata as Json };
}

function expectEndpointOf(endpoint: Json, sensor: Sensor): void {
  expect(endpoint).toMatchObject({
    enrichment_status: "found",
    id: String(sensor.sensor_id),
    hostname: sensor.hostname,
    platform: sensor.platform,
    operating_system: sensor.operating_system,
  });
}

describe("endpoint enrichment against the Red Canary API stand-in", () => {
  it("enriches every record of hundreds of sensors within 10/s and 20/min, and routes on endpoint fields", async () => {
    const api = await standIn(); // the API's real limits: 10 a second, 20 a minute
    const dir = join(work, "real-limits");
    const sim = await simulateFiles(12, 500, 401);
    const { metrics } = await runUntilDrained(
      stack,
      STREAM,
      config(
        dir,
        api,
        `  - file: {directory: ${join(dir, "all")}}
  - file:
      directory: ${join(dir, "windows")}
      export_only_where: {endpoint_metadata.platform: [Windows]}
  - file:
      directory: ${join(dir, "linux-starts")}
      export_only_where:
        endpoint_metadata.platform: [Linux]
        event_type_cd: [process_start]`,
      ),
    );
    const input = await simulatedLines(stack, sim.files);
    const all = await readJsonLines(join(dir, "all"));
    expect(all).toHaveLength(6000);
    const sensors = new Set<number>();
    for (const line of all) {
      const { record, endpoint } = split(line);
      const sensor = BY_ID.get(record.sensor_id as number);
      if (!sensor) throw new Error(`sensor ${String(record.sensor_id)} is not in the fleet`);
      sensors.add(sensor.sensor_id);
      expectEndpointOf(endpoint, sensor);
    }
    expect(sensors.size).toBeGreaterThan(150);
    // The records themselves are unchanged, byte for byte, apart from the added key.
    expect(sorted(all.map((l) => JSON.stringify(split(l).record)))).toEqual(
      sorted(input.map((l) => JSON.stringify(JSON.parse(l)))),
    );
    const platformOf = (l: string) => BY_ID.get(split(l).record.sensor_id as number)?.platform;
    expect(sorted(await readJsonLines(join(dir, "windows")))).toEqual(
      sorted(all.filter((l) => platformOf(l) === "Windows")),
    );
    const linuxStarts = all.filter(
      (l) => platformOf(l) === "Linux" && split(l).record.event_type_cd === "process_start",
    );
    expect(linuxStarts.length).toBeGreaterThan(0);
    expect(sorted(await readJsonLines(join(dir, "linux-starts")))).toEqual(sorted(linuxStarts));
    // Counted at the stand-in: the inventory in pages of 100, nothing refused.
    expect(api.rateLimited).toBe(0);
    expect(api.requests).toBeLessThanOrEqual(3);
    expect(api.maxInWindow(1000)).toBeLessThanOrEqual(10);
    expect(api.maxInWindow(60_000)).toBeLessThanOrEqual(20);
    expect(await counterValue(metrics.enrichedRecords)).toBe(6000);
    expect(await counterValue(metrics.apiRequests)).toBe(api.requests);
  }, 120_000);

  it("without prefetch, asks once per distinct endpoint, and marks endpoints the API does not know", async () => {
    // 150 of the 200 sensors are known to the API; limits loosened so the test stays short.
    const known = FLEET.slice(0, 150);
    const api = await standIn({ fleet: known, perSecond: 10, perMinute: 600 });
    const dir = join(work, "no-prefetch");
    await simulateFiles(6, 500, 402);
    await runUntilDrained(
      stack,
      STREAM,
      config(
        dir,
        api,
        `  - file: {directory: ${join(dir, "all")}}`,
        `  prefetch: false
  requests_per_minute: 600`,
      ),
    );
    const all = await readJsonLines(join(dir, "all"));
    expect(all).toHaveLength(3000);
    const knownIds = new Set(known.map((s) => s.sensor_id));
    const distinct = new Set<number>();
    let notFound = 0;
    for (const line of all) {
      const { record, endpoint } = split(line);
      const id = record.sensor_id as number;
      distinct.add(id);
      if (knownIds.has(id)) expectEndpointOf(endpoint, BY_ID.get(id) as Sensor);
      else {
        notFound++;
        expect(endpoint).toEqual({ enrichment_status: "not_found" });
      }
    }
    expect(notFound).toBeGreaterThan(0);
    // One key check at start, then one lookup per distinct endpoint: no repeats.
    expect(api.requests).toBe(distinct.size + 1);
    expect(api.rateLimited).toBe(0);
  }, 120_000);

  it("holds records while the API is down and exports them fully enriched when it is back", async () => {
    const api = await standIn({ perMinute: 600 });
    api.setDown("503");
    const dir = join(work, "outage");
    await simulateFiles(4, 250, 403);
    const run = await startExporter(
      config(
        dir,
        api,
        `  - file: {directory: ${join(dir, "all")}}
  - file:
      directory: ${join(dir, "macs")}
      export_only_where: {endpoint_metadata.platform: [MacOS]}`,
        "  requests_per_minute: 600",
      ),
    );
    const { metrics, poller } = run;
    try {
      // The API answers nothing: records wait, their messages stay in flight, nothing is out.
      await run.recordsWaiting();
      await new Promise((r) => setTimeout(r, 8000));
      expect(await readJsonLines(join(dir, "all")).catch(() => [])).toEqual([]);
      // The outage is not paid for once per endpoint (hundreds of sensors, 4 attempts each):
      // lookups wait on one inventory load, and the breaker stops the others.
      expect(api.requests).toBeLessThan(60);
      expect(await counterValue(metrics.messagesDeleted)).toBe(0);
      expect(poller.inFlightCount).toBeGreaterThan(0);
      expect(await counterValue(metrics.messagesReleased)).toBe(0);

      api.setDown(false);
      await run.drained();
    } finally {
      await run.stop();
    }
    const all = await readJsonLines(join(dir, "all"));
    expect(all).toHaveLength(1000);
    for (const line of all) {
      const { record, endpoint } = split(line);
      expectEndpointOf(endpoint, BY_ID.get(record.sensor_id as number) as Sensor);
    }
    expect(sorted(await readJsonLines(join(dir, "macs")))).toEqual(
      sorted(all.filter((l) => split(l).endpoint.platform === "MacOS")),
    );
    expect((await metrics.enrichmentWaiting.get()).values[0]?.value).toBe(0);
  }, 120_000);

  it("resumes in place a file whose S3 connection dropped while its records waited for the API", async () => {
    // A long outage: the reader stops pulling the object while it waits, the idle S3
    // connection is dropped (here by a proxy after 3 s; in production by the socket timeout),
    // and the read resumes in place once the API is back, its SQS message never given back.
    const api = await standIn({ perMinute: 600 });
    api.setDown("503");
    const proxy = await startFaultProxy(stack.endpoint, [
      {
        method: "GET",
        path: /\.json/,
        times: 1,
        fault: { kind: "cut", afterBytes: 150_000, holdMs: 3000 },
      },
    ]);
    process.env.AWS_ENDPOINT_URL_S3 = proxy.endpoint;
    const dir = join(work, "dropped-while-waiting");
    const sim = await simulateFiles(1, 12_000, 405);
    const run = await startExporter(
      config(dir, api, `  - file: {directory: ${join(dir, "all")}}`, "  requests_per_minute: 600"),
    );
    const { metrics } = run;
    try {
      await run.recordsWaiting();
      await waitFor(() => proxy.hits[0] === 1, "the object to be requested through the proxy");
      await new Promise((r) => setTimeout(r, 5000)); // the connection is dropped meanwhile
      expect(await readJsonLines(join(dir, "all")).catch(() => [])).toEqual([]);
      api.setDown(false);
      await run.drained();
    } finally {
      await run.stop();
      delete process.env.AWS_ENDPOINT_URL_S3;
      await proxy.close();
    }
    const all = await readJsonLines(join(dir, "all"));
    const input = await simulatedLines(stack, sim.files);
    expect(all).toHaveLength(12_000);
    expect(sorted(all.map((l) => JSON.stringify(split(l).record)))).toEqual(
      sorted(input.map((l) => JSON.stringify(JSON.parse(l)))),
    );
    for (const line of all) {
      const { record, endpoint } = split(line);
      expectEndpointOf(endpoint, BY_ID.get(record.sensor_id as number) as Sensor);
    }
    expect(await counterValue(metrics.readResumes)).toBe(1);
    expect(await counterValue(metrics.messagesReceived)).toBe(1);
    expect(await counterValue(metrics.messagesReleased)).toBe(0);
  }, 120_000);

  it("with on_api_failure: export_unenriched, exports records marked unavailable while the API is down", async () => {
    const api = await standIn({ perMinute: 600 });
    api.setDown("reset");
    const dir = join(work, "unenriched");
    await simulateFiles(2, 100, 404);
    await runUntilDrained(
      stack,
      STREAM,
      config(
        dir,
        api,
        `  - file: {directory: ${join(dir, "all")}}`,
        `  on_api_failure: export_unenriched
  requests_per_minute: 600
  timeout_seconds: 2`,
      ),
    );
    const all = await readJsonLines(join(dir, "all"));
    expect(all).toHaveLength(200);
    for (const line of all)
      expect(split(line).endpoint).toEqual({ enrichment_status: "unavailable" });
  }, 120_000);

  it("refuses to start with a key the API rejects, without printing the key", async () => {
    const api = await standIn();
    const dir = join(work, "bad-key");
    process.env.AWS_ENDPOINT_URL = stack.endpoint;
    const text = config(dir, api, `  - file: {directory: ${join(dir, "all")}}`).replace(
      `red_canary_authentication_token: ${api.token}`,
      "red_canary_authentication_token: wrong-key-0123456789",
    );
    const cfg = parseConfig(text, "test-config.yaml");
    const err = await createExporter(cfg, { logger: silentLogger(), metrics: new Metrics() }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.name).toBe("StartupError");
    expect(err?.message).toContain("red_canary_authentication_token");
    expect(err?.message).not.toContain("wrong-key-0123456789");
    expect(api.forbidden).toBeGreaterThan(0);
  });
});

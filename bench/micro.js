import pino from "pino";
import { EndpointDirectory } from "../dist/enrich/endpoint-directory.js";
import { Enricher } from "../dist/enrich/enricher.js";
import { buildFleet } from "../dist/local/fleet.js";
import { generateFile } from "../dist/local/generators/index.js";
import { compileWhere } from "../dist/select/where.js";
import { Metrics } from "../dist/telemetry/metrics.js";
import { compileFilter } from "../dist/transforms/filter.js";
import { round } from "./lib/exporter.js";
import { fleetApi } from "./lib/fleet-api.js";
import { fmt, STREAM } from "./lib/setup.js";
import { BENCH_CLAUSE } from "./select.js";

/** Five conditions, one of each kind: IN, <>, =, LIKE, BETWEEN. */
const FIVE_CLAUSE =
  "s.event_type_cd IN ('process_start', 'network_connection', 'child_process') AND s.sensor_id <> 529 AND s.os_platform = 'windows' AND s.process.image.name LIKE '%.exe' AND s.event_time BETWEEN '2024-01-01' AND '2025-01-01'";
/** The seed template's export_only_where, for comparison (see throughput.js). */
const FILTER = { event_type_cd: ["process_start", "child_process"] };
const BATCH = 1000;
const FILE_RECORDS = 5000;

/**
 * In-process costs per record, no servers: the `input.s3_select_where` predicate on parsed
 * records, and `Enricher.enrich` on batches of 1000 records with every endpoint cached; with
 * JSON.parse of the same lines and the export_only_where filter as yardsticks. Each case runs
 * once to warm up, then in passes over all records until `seconds` have passed (at least 3);
 * the rate is that of the median pass.
 */
export async function microBench(opts) {
  const fleet = buildFleet();
  const total = opts.microRecords;
  process.stdout.write(`micro: generating ${fmt(total)} ${STREAM} records ...`);
  const lines = [];
  for (let i = 0; lines.length < total; i++) {
    const n = Math.min(FILE_RECORDS, total - lines.length);
    lines.push(...generateFile(STREAM, opts.seed, i, n, { fleet }).lines);
  }
  const records = lines.map((raw) => ({ raw, value: JSON.parse(raw) }));
  const plainBytes = lines.reduce((a, l) => a + Buffer.byteLength(l) + 1, 0);
  process.stdout.write(` ${fmt(plainBytes / 1e6, 1)} MB\n`);

  const cases = [];
  const measure = async (id, title, pass, extra = {}) => {
    let result = await pass(); // warm-up (and the result to report)
    const times = [];
    const until = performance.now() + opts.microSeconds * 1000;
    while (times.length < 3 || performance.now() < until) {
      const t = performance.now();
      result = await pass();
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    const ms = times[Math.floor((times.length - 1) / 2)];
    const c = {
      id,
      title,
      records: records.length,
      passes: times.length,
      records_per_s: Math.round(records.length / (ms / 1000)),
      ns_per_record: Math.round((ms * 1e6) / records.length),
      pass_ms_range: [round(times[0], 1), round(times[times.length - 1], 1)],
      ...extra,
      ...(typeof result === "object" ? result : {}),
    };
    cases.push(c);
    process.stdout.write(
      `  ${id}: ${fmt(c.records_per_s)} records/s (${c.ns_per_record} ns a record)\n`,
    );
    return c;
  };
  const share = (kept) => ({ kept_share: round(kept / records.length, 3) });

  await measure(
    "json-parse",
    "JSON.parse of each line (yardstick: the exporter does it anyway)",
    () => {
      let n = 0;
      for (const l of lines) n += JSON.parse(l) === null ? 0 : 1;
      return { parsed: n };
    },
  );
  const filter = compileFilter(FILTER);
  await measure(
    "export-only-where",
    "the seed's export_only_where (event_type_cd in 2 values)",
    () => {
      let kept = 0;
      for (const r of records) if (filter(r.value)) kept++;
      return share(kept);
    },
  );
  for (const [id, clause] of [
    ["where-seed", BENCH_CLAUSE],
    ["where-5-conditions", FIVE_CLAUSE],
  ]) {
    const predicate = compileWhere(clause);
    await measure(
      id,
      `compileWhere: ${clause}`,
      () => {
        let kept = 0;
        for (const r of records) if (predicate(r.value)) kept++;
        return share(kept);
      },
      { clause },
    );
  }

  const logger = pino({ level: "silent" });
  const metrics = new Metrics();
  const api = fleetApi(fleet);
  const directory = new EndpointDirectory({
    api,
    maxEntries: 1000,
    ttlMs: 3_600_000,
    negativeTtlMs: 300_000,
    match: "id",
    prefetch: true,
    perPage: 1000,
    logger,
  });
  await directory.start();
  const enricher = new Enricher({
    resolver: directory,
    joinField: "sensor_id",
    mergeKey: "endpoint_metadata",
    onApiFailure: "wait",
    logger,
    metrics,
  });
  const batches = [];
  for (let i = 0; i < records.length; i += BATCH) batches.push(records.slice(i, i + BATCH));
  const signal = new AbortController().signal;
  // enrich is async (it may wait on the API); with a warm cache it never does, so a pass is
  // one await per batch.
  const inventoryRequests = api.requests;
  const c = await measure(
    "enrich-warm-cache",
    `Enricher.enrich on batches of ${BATCH} records, every endpoint cached`,
    async () => {
      let added = 0;
      for (const b of batches) {
        const { records: out } = await enricher.enrich(b, signal);
        for (let i = 0; i < out.length; i++) added += out[i].raw.length - b[i].raw.length;
      }
      return { chars_added_per_record: round(added / records.length, 0) };
    },
  );
  c.inventory_requests = inventoryRequests;
  c.api_requests_while_timed = api.requests - inventoryRequests;
  const counter = (await metrics.registry.getMetricsAsJSON()).find(
    (m) => m.name === "canary_exporter_enriched_events_total",
  );
  // Counted over the warm-up and every timed pass: per pass, each record once.
  c.enrichment_status = Object.fromEntries(
    (counter?.values ?? []).map((v) => [v.labels.status, v.value / (c.passes + 1)]),
  );
  directory.close();
  return {
    benchmark: "micro",
    description:
      "In-process costs per record on parsed simulated standardized records (no servers): the s3_select_where predicate (compileWhere) and Enricher.enrich with a warm cache, with JSON.parse and export_only_where as yardsticks. Rate of the median pass; one JavaScript thread.",
    simulation: {
      records: records.length,
      plain_bytes: plainBytes,
      fleet_endpoints: fleet.length,
      batch_records: BATCH,
    },
    cases,
  };
}

import { buildFleet } from "../dist/local/fleet.js";
import { startRedCanaryStandIn } from "../dist/local/redcanary-standin.js";
import { labelled, round } from "./lib/exporter.js";
import { runOnce, runScenarios, simulateFiles, simulationFacts } from "./lib/scenarios.js";
import { CUSTOMER, startStack } from "./lib/setup.js";

/** The API's published limits, which the stand-in enforces (429 beyond them). */
const PER_SECOND = 10;
const PER_MINUTE = 20;
/** The stand-in's largest page (its default); the exporter asks for 1000 a page. */
const MAX_PER_PAGE = 100;

/**
 * Endpoint enrichment: the throughput benchmark's setup at max_concurrent_files 4, with and
 * without `red_canary_authentication_token`, against the Red Canary API stand-in on 127.0.0.1
 * at the real limits. The stand-in and the simulator serve the same fleet, so every record's
 * sensor_id is found. Requests and 429s are counted at the stand-in, per run.
 */
export async function enrichBench(opts, workDir) {
  const fleet = buildFleet();
  const { stack, target } = await startStack();
  const api = await startRedCanaryStandIn({
    fleet,
    perSecond: PER_SECOND,
    perMinute: PER_MINUTE,
    maxPerPage: MAX_PER_PAGE,
  });
  try {
    const sim = await simulateFiles("enrich", stack, target, opts, { fleet });
    const enrichment = {
      red_canary_authentication_token: api.token,
      endpoint_enrichment: { api_url: api.url },
    };
    const plain = { id: "plain-c4", title: "no enrichment (baseline)", mcf: 4, outputs: [{}] };
    const enriched = {
      id: "enrich-c4",
      title: "endpoint enrichment (prefetch, the default)",
      mcf: 4,
      outputs: [{}],
      settings: enrichment,
    };
    const scenarios = [
      plain,
      enriched,
      {
        ...enriched,
        id: "enrich-c4-heap-320",
        title: "endpoint enrichment, NODE_OPTIONS=--max-old-space-size=320",
        env: { NODE_OPTIONS: "--max-old-space-size=320" },
      },
    ];
    if (opts.profile) {
      // Both, in the same session: the difference is what enrichment costs.
      for (const s of [plain, enriched]) {
        scenarios.push({
          ...s,
          id: `${s.id}-cpu-profile`,
          title: `as ${s.id}, exporter under --cpu-prof (figures skewed by the profiler)`,
          profile: true,
        });
      }
    }
    const ctx = { stack, target, sim, workDir, keep: opts.keep };
    const runs = await runScenarios(
      scenarios,
      opts.repeat,
      async (s, k) => {
        const before = {
          requests: api.requests,
          rateLimited: api.rateLimited,
          log: api.requestLog.length,
        };
        const r = await runOnce(ctx, s, `enrich-${s.id}-${k + 1}`);
        const requests = api.requestLog.slice(before.log);
        const out = r.outputs[0];
        return {
          api_requests: api.requests - before.requests,
          api_429s: api.rateLimited - before.rateLimited,
          api_paths: requests.map((q) => `${q.status} ${q.path}`),
          enrichment_status: labelled(r.metrics_labelled, "enriched_events_total", "status"),
          api_requests_by_outcome: labelled(
            r.metrics_labelled,
            "red_canary_api_requests_total",
            "outcome",
          ),
          output_bytes_per_record: out.written_records
            ? round(out.written_bytes / out.written_records, 0)
            : null,
          ...r,
        };
      },
      (a) => (a.api_requests ? `, ${a.api_requests} API requests, ${a.api_429s} 429s` : ""),
    );
    const base = runs[0];
    for (const run of runs) {
      run.vs_baseline = {
        records_per_s: round(run.records_per_s / base.records_per_s, 2),
        cpu_s_per_million_records: round(
          run.cpu_s_per_million_records / base.cpu_s_per_million_records,
          2,
        ),
        peak_rss: round(run.peak_rss_bytes / base.peak_rss_bytes, 2),
        output_bytes: round(run.outputs[0].written_bytes / base.outputs[0].written_bytes, 2),
        startup_s: round(run.startup_s - base.startup_s, 2),
      };
    }
    return {
      benchmark: "enrich",
      description:
        "As the throughput benchmark (file output, max_concurrent_files 4), with endpoint enrichment against the Red Canary API stand-in (dist/local/redcanary-standin.js) at 10 requests/s and 20/min, compared with the same files without enrichment. API requests and 429s are counted at the stand-in over each exporter's whole life (start-up included).",
      simulation: { ...simulationFacts(opts, sim), fleet_endpoints: fleet.length },
      api_stand_in: {
        per_second: PER_SECOND,
        per_minute: PER_MINUTE,
        max_per_page: MAX_PER_PAGE,
        customer: CUSTOMER,
        total_requests: api.requests,
        total_429s: api.rateLimited,
      },
      runs,
    };
  } finally {
    await api.close();
    await stack.stop();
  }
}

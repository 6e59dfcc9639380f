import { startS3SelectStandIn } from "../dist/local/s3-select-standin.js";
import { round } from "./lib/exporter.js";
import { runOnce, runScenarios, simulateFiles, simulationFacts } from "./lib/scenarios.js";
import { startStack } from "./lib/setup.js";

/** The clause of the select benchmark: standardized records, two event types, one sensor out. */
export const BENCH_CLAUSE =
  "s.event_type_cd IN ('process_start', 'network_connection') AND s.sensor_id <> 529";

/**
 * `input.s3_select_where`: the throughput benchmark's setup at max_concurrent_files 4, without
 * the clause, with it evaluated by the exporter (`s3_select_mode: local`), and through the S3
 * Select stand-in (`s3`: dist/local/s3-select-standin.js, in this process in front of fauxqs;
 * the exporter's S3 endpoint is pointed at it with AWS_ENDPOINT_URL_S3). The stand-in runs on the
 * same two cores as the exporter, so its rate says nothing about AWS's S3 Select.
 */
export async function selectBench(opts, workDir) {
  const { stack, target } = await startStack();
  const selectStandIn = await startS3SelectStandIn({ upstream: stack.endpoint });
  try {
    const sim = await simulateFiles("select", stack, target, opts);
    /** What the clause keeps, as the local run counted it; the S3 run must write as many. */
    let kept;
    const keptBy = (m) =>
      m.component_received_events_total - (m.s3_select_discarded_events_total ?? 0);
    const scenarios = [
      { id: "plain-c4", title: "no WHERE clause (baseline)", mcf: 4, outputs: [{}] },
      {
        id: "select-local-c4",
        title: "s3_select_where evaluated by the exporter (s3_select_mode: local)",
        mcf: 4,
        outputs: [{ expected: keptBy }],
        input: { s3_select_where: BENCH_CLAUSE, s3_select_mode: "local" },
      },
      {
        id: "select-s3-standin-c4",
        title: "s3_select_where through the S3 Select stand-in (s3_select_mode: s3)",
        mcf: 4,
        outputs: [{ expected: () => kept }],
        input: { s3_select_where: BENCH_CLAUSE, s3_select_mode: "s3" },
        env: { AWS_ENDPOINT_URL_S3: selectStandIn.endpoint },
      },
    ];
    if (opts.profile) {
      scenarios.push({
        ...scenarios[1],
        id: "select-local-c4-cpu-profile",
        title: "as select-local-c4, exporter under --cpu-prof (figures skewed by the profiler)",
        profile: true,
      });
    }
    const ctx = { stack, target, sim, workDir, keep: opts.keep };
    const runs = await runScenarios(
      scenarios,
      opts.repeat,
      async (s, k) => {
        const before = {
          select: selectStandIn.selectRequests,
          passthrough: selectStandIn.passthroughRequests,
        };
        const r = await runOnce(ctx, s, `select-${s.id}-${k + 1}`);
        if (s.id === "select-local-c4" && kept === undefined) kept = keptBy(r.metrics);
        const written = r.outputs[0].written_records;
        return {
          kept_records: written,
          kept_share: round(written / sim.totalRecords, 3),
          ...(s.env
            ? {
                select_requests: selectStandIn.selectRequests - before.select,
                s3_requests_passed_through: selectStandIn.passthroughRequests - before.passthrough,
              }
            : {}),
          ...r,
        };
      },
      (a) => (a.kept_share < 1 ? `, ${Math.round(a.kept_share * 100)}% kept` : ""),
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
      };
    }
    return {
      benchmark: "select",
      description:
        "As the throughput benchmark (file output, max_concurrent_files 4), with input.s3_select_where evaluated by the exporter (local) or by the S3 Select stand-in in the bench process (s3); records_per_s counts every record in the files, kept or not.",
      clause: BENCH_CLAUSE,
      simulation: simulationFacts(opts, sim),
      kept_records: kept,
      runs,
    };
  } finally {
    await selectStandIn.close();
    await stack.stop();
  }
}

import { runOnce, runScenarios, simulateFiles, simulationFacts } from "./lib/scenarios.js";
import { startStack } from "./lib/setup.js";

/** The seed template's filter: about 22% of simulated standardized records pass it. */
const FILTER = { event_type_cd: ["process_start", "child_process"] };

/**
 * Throughput: simulate `files` x `records` standardized records once, then for each scenario
 * (`repeat` times) announce every file again (one message per file, on a queue of the run's
 * own) and time a fresh exporter process from start to drained queue.
 */
export async function throughputBench(opts, workDir) {
  const { stack, target } = await startStack();
  try {
    const sim = await simulateFiles("throughput", stack, target, opts);
    const filtered = FILTER.event_type_cd.reduce((a, t) => a + (sim.eventTypes[t] ?? 0), 0);

    const scenarios = [
      ...opts.concurrency.map((c) => ({
        id: `file-c${c}`,
        title: `1 file output, max_concurrent_files ${c}`,
        mcf: c,
        outputs: [{}],
      })),
      {
        id: "file-filtered-c4",
        title: "1 file output with export_only_where, max_concurrent_files 4",
        mcf: 4,
        outputs: [{ where: FILTER, expected: filtered }],
      },
      {
        id: "two-outputs-c4",
        title: "2 file outputs (all + filtered), max_concurrent_files 4",
        mcf: 4,
        outputs: [{}, { where: FILTER, expected: filtered }],
      },
    ];
    if (opts.profile) {
      scenarios.push({
        id: "file-c4-cpu-profile",
        title: "as file-c4, exporter under --cpu-prof (figures skewed by the profiler)",
        mcf: 4,
        outputs: [{}],
        profile: true,
      });
    }

    const ctx = { stack, target, sim, workDir, keep: opts.keep };
    const runs = await runScenarios(scenarios, opts.repeat, (s, k) =>
      runOnce(ctx, s, `throughput-${s.id}-${k + 1}`),
    );
    return {
      benchmark: "throughput",
      description:
        "Records from S3 (gzip JSON lines, simulated standardized telemetry) to file outputs, exporter as a child process against fauxqs on 127.0.0.1; time from the exporter's first metrics answer (start-up done) until every SQS message is deleted.",
      simulation: { ...simulationFacts(opts, sim), filtered_records: filtered, filter: FILTER },
      runs,
    };
  } finally {
    await stack.stop();
  }
}

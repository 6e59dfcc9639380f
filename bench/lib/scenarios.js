import { rm } from "node:fs/promises";
import { join } from "node:path";
import { announceObjects, simulate } from "../../dist/local/simulator.js";
import { freePort, round, runExporter } from "./exporter.js";
import { summariseProfile } from "./profile.js";
import { countOutput, fmt, freshDir, freshQueue, mb, STREAM, writeConfig } from "./setup.js";

/**
 * What the throughput-style benchmarks (throughput, enrich, select) share: simulate the files
 * once, then time a fresh exporter process per scenario run over all of them, and report the
 * median of `repeat` runs.
 */

/**
 * Simulates `opts.files` x `opts.records` standardized records (seed `opts.seed`) into the
 * stack's bucket. The result is the simulator's, plus `rawBytes` (plain JSON lines), `seconds`
 * and `eventTypes` summed over the files.
 */
export async function simulateFiles(name, stack, target, opts, extra = {}) {
  process.stdout.write(
    `${name}: simulating ${opts.files} files x ${fmt(opts.records)} ${STREAM} records ...`,
  );
  const started = performance.now();
  const sim = await simulate({
    target,
    format: STREAM,
    files: opts.files,
    recordsPerFile: opts.records,
    seed: opts.seed,
    namespace: stack.namespace,
    ...extra,
  });
  const seconds = (performance.now() - started) / 1000;
  const rawBytes = sim.files.reduce((a, f) => a + f.rawBytes, 0);
  const eventTypes = {};
  for (const f of sim.files) {
    for (const [t, n] of Object.entries(f.eventTypes)) eventTypes[t] = (eventTypes[t] ?? 0) + n;
  }
  process.stdout.write(
    ` ${fmt(mb(sim.totalBytes), 1)} MB gzip, ${fmt(mb(rawBytes), 1)} MB plain, in ${seconds.toFixed(1)} s\n`,
  );
  return { ...sim, rawBytes, seconds, eventTypes };
}

/** The `simulation` block of a result. */
export function simulationFacts(opts, sim) {
  return {
    files: opts.files,
    records_per_file: opts.records,
    records: sim.totalRecords,
    gzip_bytes: sim.totalBytes,
    plain_bytes: sim.rawBytes,
    seconds: round(sim.seconds, 1),
  };
}

/**
 * One exporter run of scenario `s` over every simulated file, on a queue of its own. `s`:
 * - `mcf`: max_concurrent_files; `outputs`: `[{ where?, expected? }]`, one file output each,
 *   `expected` the records it must receive (default: all), a number or a function of the
 *   exporter's final metrics (when only the exporter knows, e.g. what a WHERE clause kept);
 * - `input`, `settings`: extra config keys (see writeConfig); `env`: extra environment;
 * - `profile`: run under `--cpu-prof` and summarise the profile.
 */
export async function runOnce({ stack, target, sim, workDir, keep }, s, label) {
  const queue = await freshQueue(stack, `bench-${label}`);
  for (const f of sim.files) {
    await announceObjects(target, [{ key: f.key, size: f.bytes, eTag: f.eTag }]);
  }
  await queue.close(sim.files.length);
  const dir = await freshDir(join(workDir, label));
  const outputs = s.outputs.map((o, i) => ({ ...o, directory: join(dir, `out${i}`) }));
  const metricsPort = await freePort();
  const configPath = join(dir, "config.yaml");
  await writeConfig(configPath, {
    queueUrl: queue.queueUrl,
    outputs,
    maxConcurrentFiles: s.mcf,
    metricsPort,
    deadLetter: join(dir, "dead-letter"),
    input: s.input,
    settings: s.settings,
  });
  const profDir = s.profile ? join(dir, "cpu-prof") : undefined;
  const r = await runExporter({
    configPath,
    env: { ...stack.env(), ...s.env },
    metricsPort,
    workDir: dir,
    label,
    cpuProfDir: profDir,
    nodeArgs: ["--trace-gc"],
    done: (m) => (m.sqs_messages_deleted_total ?? 0) >= sim.files.length,
  });
  const written = [];
  for (const o of outputs) {
    const c = await countOutput(o.directory);
    const expected =
      typeof o.expected === "function" ? o.expected(r.metrics) : (o.expected ?? sim.totalRecords);
    written.push({
      filter: o.where ?? null,
      expected_records: expected,
      written_records: c.lines,
      written_bytes: c.bytes,
      files: c.files,
    });
  }
  const result = {
    records: sim.totalRecords,
    outputs: written,
    records_per_s: Math.round(sim.totalRecords / r.busy_s),
    mb_per_s_gzip: round(mb(sim.totalBytes) / r.busy_s, 1),
    mb_per_s_plain: round(mb(sim.rawBytes) / r.busy_s, 1),
    cpu_s_per_million_records: round((r.cpu_busy_s / sim.totalRecords) * 1e6, 2),
    ...r,
  };
  if (profDir) result.cpu_profile = await summariseProfile(profDir);
  if (!keep) await rm(dir, { recursive: true, force: true });
  return result;
}

/**
 * Runs each scenario `repeat` times (a profiled one once) with `attempt(s, k)`, printing each
 * rate, and returns one run per scenario: the median attempt by rate as the headline, the
 * range, and every attempt when there were several. `note(attempt)` adds to the printed line.
 */
export async function runScenarios(scenarios, repeat, attempt, note = () => "") {
  const runs = [];
  for (const s of scenarios) {
    process.stdout.write(`  ${s.id}: ${s.title} ...`);
    const attempts = [];
    for (let k = 0; k < (s.profile ? 1 : repeat); k++) {
      const a = await attempt(s, k);
      attempts.push(a);
      const lost = a.outputs.some((w) => w.written_records < w.expected_records);
      const noisy = a.other_cpu_s > 0.2 * a.busy_s ? " (noisy: other processes ran)" : "";
      process.stdout.write(
        ` ${fmt(a.records_per_s)}/s${note(a)}${noisy}${lost ? " MISSING RECORDS" : ""}`,
      );
    }
    const byRate = [...attempts].sort((a, b) => a.records_per_s - b.records_per_s);
    const median = byRate[Math.floor((byRate.length - 1) / 2)];
    const run = {
      id: s.id,
      title: s.title,
      max_concurrent_files: s.mcf,
      attempts: attempts.length,
      records_per_s_range: [byRate[0].records_per_s, byRate[byRate.length - 1].records_per_s],
      ...median,
      ...(attempts.length > 1 ? { all_attempts: attempts } : {}),
    };
    runs.push(run);
    process.stdout.write(
      `\n    median ${fmt(run.records_per_s)} records/s, ${run.mb_per_s_plain} MB/s plain, CPU ${run.cpu_busy_s} s, peak RSS ${fmt(mb(run.peak_rss_bytes))} MB\n`,
    );
  }
  return runs;
}

/** The console table of throughput-style runs; `extra(run)` adds columns. */
export function runRows(runs, extra = () => ({})) {
  return runs.map((r) => ({
    run: r.id,
    "records/s": fmt(r.records_per_s),
    range: r.attempts > 1 ? r.records_per_s_range.map((x) => fmt(x)).join("-") : "",
    "MB/s plain": r.mb_per_s_plain,
    "busy s": r.busy_s,
    "CPU s/M rec": r.cpu_s_per_million_records,
    "bench CPU s": r.harness_cpu_s,
    "others' CPU s": r.other_cpu_s,
    "peak RSS MB": fmt(mb(r.peak_rss_bytes)),
    ...extra(r),
  }));
}

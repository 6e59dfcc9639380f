// Runs the benchmarks (see bench/README.md): `npm run bench -- [options]`.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { enrichBench } from "./enrich.js";
import { machineFacts } from "./lib/machine.js";
import { runRows } from "./lib/scenarios.js";
import { fmt, mb } from "./lib/setup.js";
import { memoryBench } from "./memory.js";
import { microBench } from "./micro.js";
import { selectBench } from "./select.js";
import { throughputBench } from "./throughput.js";

const HELP = `npm run bench -- [options]

  --only LIST          any of throughput,memory,enrich,select,micro, or all
                       (default: throughput,memory)
  --files N            throughput, enrich, select: files (default 200)
  --records N          records per file, those three and the small memory case (default 5000)
  --concurrency LIST   throughput: max_concurrent_files values (default 1,4,8)
  --repeat N           throughput, enrich, select: runs per scenario, the median is reported
                       (default 1)
  --profile            throughput, enrich, select: one more run under --cpu-prof, top costs
                       in the results
  --micro-records N    micro: records measured in process (default 200000)
  --big-mb N           memory: plain size of the large file in MB (default 1000)
  --long-line-mb N     memory: length of the overlong line in MB (default 50)
  --seed N             simulation seed (default 7)
  --quick              small sizes for a smoke run; results go to a temp directory
  --out DIR            where <name>.json go (default bench/results)
  --keep               keep the work directory (outputs, configs, exporter logs)
`;

const { values } = parseArgs({
  options: {
    only: { type: "string" },
    files: { type: "string" },
    records: { type: "string" },
    concurrency: { type: "string" },
    repeat: { type: "string" },
    profile: { type: "boolean" },
    "micro-records": { type: "string" },
    "big-mb": { type: "string" },
    "long-line-mb": { type: "string" },
    seed: { type: "string" },
    quick: { type: "boolean" },
    out: { type: "string" },
    keep: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

const quick = values.quick ?? false;
const positive = (name, text, fallback) => {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!(n > 0)) throw new Error(`--${name} must be a positive number, not "${text}"`);
  return n;
};
const opts = {
  files: positive("files", values.files, quick ? 20 : 200),
  records: positive("records", values.records, quick ? 2000 : 5000),
  concurrency: (values.concurrency ?? (quick ? "1,4" : "1,4,8"))
    .split(",")
    .map((s) => positive("concurrency", s.trim())),
  repeat: Math.floor(positive("repeat", values.repeat, 1)),
  profile: values.profile ?? false,
  bigMb: positive("big-mb", values["big-mb"], quick ? 100 : 1000),
  longLineMb: positive("long-line-mb", values["long-line-mb"], quick ? 20 : 50),
  microRecords: Math.floor(
    positive("micro-records", values["micro-records"], quick ? 20_000 : 200_000),
  ),
  /** Each micro case runs passes for at least this long. */
  microSeconds: quick ? 0.3 : 2,
  seed: positive("seed", values.seed, 7),
  keep: values.keep ?? false,
};
const benches = {
  throughput: throughputBench,
  memory: memoryBench,
  enrich: enrichBench,
  select: selectBench,
  micro: microBench,
};
const only =
  values.only === "all"
    ? Object.keys(benches)
    : (values.only ?? "throughput,memory").split(",").map((s) => s.trim());
for (const name of only) if (!(name in benches)) throw new Error(`unknown benchmark "${name}"`);
const outDir = resolve(
  values.out ?? (quick ? join(tmpdir(), "canary-exporter-bench-results") : "bench/results"),
);

const machine = machineFacts();
process.stdout.write(
  `canary-exporter benchmarks: node ${machine.node}, ${machine.cpus} x ${machine.cpu_model}, commit ${machine.git_commit?.slice(0, 10) ?? "?"}${machine.git_dirty ? " (with uncommitted changes)" : ""}\n`,
);
const workDir = await mkdtemp(join(tmpdir(), "canary-exporter-bench-"));
const started = performance.now();
try {
  await mkdir(outDir, { recursive: true });
  for (const name of only) {
    const t = performance.now();
    const result = await benches[name](opts, workDir);
    const path = join(outDir, `${name}.json`);
    const doc = {
      ...result,
      machine,
      options: opts,
      bench_seconds: Math.round((performance.now() - t) / 100) / 10,
    };
    await writeFile(path, `${JSON.stringify(doc, null, 2)}\n`);
    process.stdout.write(`${name}: figures in ${relative(process.cwd(), path) || path}\n\n`);
    summarise(doc);
  }
} finally {
  if (opts.keep) process.stdout.write(`work directory kept: ${workDir}\n`);
  else await rm(workDir, { recursive: true, force: true });
}
process.stdout.write(`done in ${((performance.now() - started) / 1000).toFixed(0)} s\n`);

function summarise(doc) {
  console.table(rowsOf(doc));
}

function rowsOf(doc) {
  switch (doc.benchmark) {
    case "throughput":
      return doc.runs.map((r) => ({
        run: r.id,
        "records/s": fmt(r.records_per_s),
        range: r.attempts > 1 ? r.records_per_s_range.map((x) => fmt(x)).join("-") : "",
        "MB/s gzip": r.mb_per_s_gzip,
        "MB/s plain": r.mb_per_s_plain,
        "busy s": r.busy_s,
        "CPU s": r.cpu_busy_s,
        "fauxqs CPU s": r.harness_cpu_s,
        "others' CPU s": r.other_cpu_s,
        "peak RSS MB": fmt(mb(r.peak_rss_bytes)),
        "heap after full GC MB": r.heap_after_full_gc_max_mb,
      }));
    case "memory":
      return doc.cases.map((c) => ({
        case: c.id,
        "plain MB": fmt(mb(c.object.plain_bytes)),
        "gzip MB": fmt(mb(c.object.gzip_bytes), 1),
        "busy s": c.busy_s,
        "MB/s plain": c.mb_per_s_plain,
        "CPU s": c.cpu_busy_s,
        "others' CPU s": c.other_cpu_s,
        "peak RSS MB": fmt(mb(c.peak_rss_bytes)),
        "x small": c.peak_rss_vs_small,
        "heap after full GC MB": c.heap_after_full_gc_max_mb,
        "records ok": c.written_records === c.expected_records,
        "dead letter": c.dead_letter.length,
      }));
    case "enrich":
      return runRows(doc.runs, (r) => ({
        "start-up s": r.startup_s,
        "API requests": r.api_requests,
        "429s": r.api_429s,
        "bytes/record out": r.output_bytes_per_record,
        found: r.enrichment_status.found ?? "",
      }));
    case "select":
      return runRows(doc.runs, (r) => ({
        kept: `${fmt(r.kept_records)} (${Math.round(r.kept_share * 100)}%)`,
        "records ok": r.outputs[0].written_records >= r.outputs[0].expected_records,
      }));
    default:
      return doc.cases.map((c) => ({
        case: c.id,
        "records/s": fmt(c.records_per_s),
        "ns/record": c.ns_per_record,
        passes: c.passes,
        kept: c.kept_share ?? "",
      }));
  }
}

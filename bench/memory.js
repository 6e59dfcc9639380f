import { rm } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { fileBody, generateFileLines } from "../dist/local/generators/index.js";
import { announceObjects, simulate, uploadObject } from "../dist/local/simulator.js";
import { freePort, round, runExporter } from "./lib/exporter.js";
import {
  countOutput,
  fmt,
  freshDir,
  freshQueue,
  mb,
  readDeadLetter,
  STREAM,
  startStack,
  writeConfig,
} from "./lib/setup.js";

/** Bytes per simulated standardized record, on average (measured: about 833). */
const BYTES_PER_RECORD = 833;
/** Normal records before and after the long line. */
const AROUND_LONG_LINE = 1000;

/**
 * Memory bound: the exporter's peak RSS for a small file, a large and a ten times larger file
 * (multipart uploads) and a file with one line far over the 16 MiB line limit. The claim under test:
 * memory stays bounded whatever the file size (streaming, 64 MiB of records in flight).
 */
export async function memoryBench(opts, workDir) {
  const { stack, target } = await startStack();
  const cases = [];
  try {
    const run = async (id, title, queue, object, expected) => {
      await queue.close(1);
      const dir = await freshDir(join(workDir, id));
      const metricsPort = await freePort();
      const configPath = join(dir, "config.yaml");
      const output = join(dir, "out");
      const deadLetter = join(dir, "dead-letter");
      await writeConfig(configPath, {
        queueUrl: queue.queueUrl,
        outputs: [{ directory: output }],
        maxConcurrentFiles: 4,
        metricsPort,
        deadLetter,
      });
      process.stdout.write(`  ${id}: ${title} ...`);
      const r = await runExporter({
        configPath,
        env: stack.env(),
        metricsPort,
        workDir: dir,
        label: id,
        nodeArgs: ["--trace-gc"],
        done: (m) => (m.sqs_messages_deleted_total ?? 0) >= 1,
      });
      const written = await countOutput(output);
      const dead = await readDeadLetter(deadLetter);
      const result = {
        id,
        title,
        object,
        expected_records: expected,
        written_records: written.lines,
        dead_letter: dead.map((e) => ({
          kind: e.kind,
          line: e.line,
          reason: e.reason,
          raw_chars: typeof e.raw === "string" ? e.raw.length : undefined,
        })),
        mb_per_s_plain: round(mb(object.plain_bytes) / r.busy_s, 1),
        ...r,
      };
      cases.push(result);
      process.stdout.write(
        ` peak RSS ${fmt(mb(r.peak_rss_bytes))} MB (at start-up ${fmt(mb(r.rss_at_ready_bytes))} MB; V8 heap after full GCs at most ${r.heap_after_full_gc_max_mb} MB), ${r.busy_s} s, ${written.lines === expected ? "all records written" : `${written.lines} of ${expected} records written`}${dead.length ? `, ${dead.length} dead-letter entries` : ""}\n`,
      );
      if (!opts.keep) await rm(dir, { recursive: true, force: true });
    };

    // 1. A small file: the baseline.
    let queue = await freshQueue(stack, "bench-memory-small");
    const small = await simulateOne(target, stack, opts.records, opts.seed, "small");
    await run(
      "small-file",
      `one file of ${fmt(opts.records)} records`,
      queue,
      small,
      small.records,
    );

    // 2. and 3. A large file and one ten times larger, uploaded with multipart: the peak must
    // not grow with the size.
    for (const [id, sizeMb, seed] of [
      ["medium-file", opts.bigMb / 10, opts.seed + 1],
      ["big-file", opts.bigMb, opts.seed + 2],
    ]) {
      const records = Math.max(1, Math.round((sizeMb * 1e6) / BYTES_PER_RECORD));
      process.stdout.write(
        `memory: simulating one file of ${fmt(records)} records (~${fmt(sizeMb)} MB plain) ...`,
      );
      queue = await freshQueue(stack, `bench-memory-${id}`);
      const object = await simulateOne(target, stack, records, seed, id);
      process.stdout.write(
        ` ${fmt(mb(object.gzip_bytes), 1)} MB gzip in ${object.upload_parts} parts, ${object.simulate_s} s\n`,
      );
      await run(
        id,
        `one file of ${fmt(mb(object.plain_bytes))} MB plain (${fmt(records)} records)`,
        queue,
        object,
        records,
      );
    }

    // 3. One line far over the line limit, between normal records: dead-lettered, not held.
    queue = await freshQueue(stack, "bench-memory-long-line");
    const longLine = await uploadLongLine(target, opts.longLineMb, opts.seed + 3);
    await run(
      "long-line",
      `one ${fmt(opts.longLineMb)} MB line between ${fmt(2 * AROUND_LONG_LINE)} normal records`,
      queue,
      longLine,
      2 * AROUND_LONG_LINE,
    );

    const base = cases[0]?.peak_rss_bytes ?? 1;
    for (const c of cases) c.peak_rss_vs_small = round(c.peak_rss_bytes / base, 2);
    return {
      benchmark: "memory",
      description:
        "Peak RSS (VmHWM) of the exporter process for a small file, a large file, one ten times larger, and a file with one line over the 16 MiB limit; max_concurrent_files 4, one file output, 64 MiB in-flight budget.",
      cases,
    };
  } finally {
    await stack.stop();
  }
}

async function simulateOne(target, stack, records, seed, label) {
  const started = performance.now();
  const sim = await simulate({
    target,
    format: STREAM,
    files: 1,
    recordsPerFile: records,
    seed,
    namespace: stack.namespace,
    keyPrefix: `bench/${label}`,
  });
  const f = sim.files[0];
  return {
    key: f.key,
    records,
    gzip_bytes: f.bytes,
    plain_bytes: f.rawBytes,
    upload_parts: Number(/-(\d+)$/.exec(f.eTag)?.[1] ?? 1),
    simulate_s: round((performance.now() - started) / 1000, 1),
  };
}

/** A gzip object: normal records, one `{"event_type_cd":..,"padding":"AAAA…"}` line, more records. */
async function uploadLongLine(target, sizeMb, seed) {
  const lineBytes = Math.round(sizeMb * 1e6);
  const head = '{"event_type_cd":"process_start","sensor_id":1,"padding":"';
  const tail = '"}\n';
  const before = fileBody(generateFileLines(STREAM, seed, 0, AROUND_LONG_LINE));
  const after = fileBody(generateFileLines(STREAM, seed, 1, AROUND_LONG_LINE));
  async function* body() {
    yield Buffer.from(before);
    yield Buffer.from(head);
    const block = Buffer.alloc(1 << 20, "A");
    let left = lineBytes - head.length - tail.length + 1; // + 1: the newline is not counted
    while (left > 0) {
      const n = Math.min(left, block.length);
      yield n === block.length ? block : block.subarray(0, n);
      left -= n;
    }
    yield Buffer.from(tail);
    yield Buffer.from(after);
  }
  const key = `bench/long-line/${Date.now()}.json.gz`;
  const put = await uploadObject(target.s3, target.bucket, key, Readable.from(body()), {
    gzip: true,
  });
  await announceObjects(target, [{ key, size: put.bytes, eTag: put.eTag }]);
  return {
    key,
    records: 2 * AROUND_LONG_LINE,
    long_line_bytes: lineBytes,
    gzip_bytes: put.bytes,
    plain_bytes: Buffer.byteLength(before) + lineBytes + 1 + Buffer.byteLength(after),
  };
}

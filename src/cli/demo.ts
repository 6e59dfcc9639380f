import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { pino } from "pino";
import { parseConfig } from "../config/index.js";
import { buildFleet } from "../local/fleet.js";
import { type RedCanaryStandIn, startRedCanaryStandIn } from "../local/redcanary-standin.js";
import { simulate } from "../local/simulator.js";
import { startLocalStack } from "../local/stack.js";
import { createExporter } from "../runtime/create-exporter.js";
import { createLogger } from "../telemetry/logger.js";
import { Metrics } from "../telemetry/metrics.js";

export interface DemoOptions {
  files?: number | undefined;
  records?: number | undefined;
  dir?: string | undefined;
  out: NodeJS.WritableStream;
}

const STREAM = "standardized";

function demoConfig(dir: string, api: RedCanaryStandIn): string {
  return `---
# Written by "canary-exporter demo": the seed's template, filled in for the local stack.
customer_identifier: demo

input:
  stream_name: ${STREAM}
  aws_region: us-east-2
  aws_access_key_id: test
  aws_secret_access_key: test
  visibility_timeout_seconds: 60
  wait_time_seconds: 2

# Endpoint enrichment: the local Red Canary API stand-in, with the real API's limits
# (10 requests a second, 20 a minute). Remove these lines for a run without enrichment.
red_canary_authentication_token: ${api.token}
endpoint_enrichment:
  api_url: ${api.url}

outputs:
  - file:
      directory: ${join(dir, "all")}
      max_size_bytes: 10000000
      max_files: 1000
  - file:
      directory: ${join(dir, "procstarts")}
      max_size_bytes: 10000000
      max_files: 1000
      export_only_where:
        event_type_cd:
          - process_start
  - file:
      directory: ${join(dir, "windows")}
      max_size_bytes: 10000000
      max_files: 1000
      export_only_where:
        endpoint_metadata.platform:
          - Windows

dead_letter:
  directory: ${join(dir, "dead-letter")}
`;
}

async function counter(c: { get(): Promise<{ values: Array<{ value: number }> }> }) {
  return (await c.get()).values.reduce((a, v) => a + v.value, 0);
}

/**
 * Reads every `.json` file of a directory and counts records by `event_type_cd` and by the
 * enriched platform.
 */
async function countOutput(dir: string) {
  const names = (await readdir(dir)).filter((n) => n.endsWith(".json"));
  const byType = new Map<string, number>();
  const byPlatform = new Map<string, number>();
  let total = 0;
  for (const n of names) {
    const text = await readFile(join(dir, n), "utf8");
    for (const line of text.split("\n")) {
      if (!line) continue;
      const record = JSON.parse(line) as {
        event_type_cd?: unknown;
        endpoint_metadata?: { platform?: unknown; enrichment_status?: unknown };
      };
      const t = String(record.event_type_cd);
      byType.set(t, (byType.get(t) ?? 0) + 1);
      const meta = record.endpoint_metadata;
      const p = String(meta?.enrichment_status === "found" ? meta.platform : "not enriched");
      byPlatform.set(p, (byPlatform.get(p) ?? 0) + 1);
      total++;
    }
  }
  return { files: names.length, total, byType, byPlatform };
}

const fmt = (n: number) => n.toLocaleString("en-US");

/**
 * The first README command: a local SQS/SNS/S3 provisioned like Red Canary's side, simulated
 * telemetry, the exporter run on a config like the seed's, and a summary. No cloud account.
 */
export async function demoCommand(opts: DemoOptions): Promise<number> {
  const out = opts.out;
  const files = opts.files ?? 40;
  const perFile = opts.records ?? 2500;
  const dir = resolve(opts.dir ?? "demo-output");
  const say = (s: string) => out.write(`${s}\n`);
  for (const sub of [
    "all",
    "procstarts",
    "windows",
    "dead-letter",
    "config.yaml",
    "exporter.log",
  ]) {
    await rm(join(dir, sub), { recursive: true, force: true });
  }
  await mkdir(dir, { recursive: true });

  // The demo pins its SDK through the lockfile; the SDK's notice about future Node versions
  // would only distract here (`run` still shows it).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  say("canary-exporter demo: Red Canary's side simulated on this machine, no cloud account used\n");
  const stack = await startLocalStack({ port: 0 });
  const fleet = buildFleet();
  const api = await startRedCanaryStandIn({ fleet });
  try {
    process.env.AWS_ENDPOINT_URL = stack.endpoint;
    const queueName = `canaryexporter-${STREAM}-file-added-demo`;
    say(
      `1/4 local SQS/SNS/S3 (fauxqs) on ${stack.endpoint}: bucket ${stack.bucket}, queue ${queueName}`,
    );
    say(
      `    local Red Canary API stand-in on ${api.url}: ${fleet.length} endpoints, 10 requests/s and 20/min as the real API`,
    );

    const sim = await simulate({
      target: {
        s3: stack.s3,
        sns: stack.sns,
        bucket: stack.bucket,
        topicArn: stack.topicArn(STREAM),
        region: stack.region,
      },
      format: STREAM,
      files,
      recordsPerFile: perFile,
      seed: 42,
      fleet,
    });
    say(
      `2/4 uploaded ${files} gzip files (${fmt(sim.totalRecords)} ${STREAM} records, ${(sim.totalBytes / 1e6).toFixed(1)} MB) and announced each on SNS`,
    );

    const configPath = join(dir, "config.yaml");
    const configText = demoConfig(dir, api);
    await writeFile(configPath, configText);
    const cfg = parseConfig(configText, configPath);
    const logPath = join(dir, "exporter.log");
    const logger = createLogger(
      "info",
      pino.destination({ dest: logPath, sync: false, mkdir: true }),
    );
    const metrics = new Metrics();
    say(
      `3/4 exporting with ${relative(process.cwd(), configPath)} (log: ${relative(process.cwd(), logPath)})`,
    );
    const { exporter, poller } = await createExporter(cfg, { logger, metrics });
    const started = Date.now();
    const running = exporter.run();
    let idleChecks = 0;
    while (idleChecks < 2) {
      await new Promise((r) => setTimeout(r, 500));
      const read = await counter(metrics.recordsReceived);
      const done = await counter(metrics.filesProcessed);
      const secs = (Date.now() - started) / 1000;
      const width = 30;
      const filled = Math.round((Math.min(read, sim.totalRecords) / sim.totalRecords) * width);
      out.write(
        `\r    [${"#".repeat(filled)}${".".repeat(width - filled)}] ${fmt(read)}/${fmt(sim.totalRecords)} records, ${done}/${files} files, ${fmt(Math.round(read / Math.max(secs, 0.001)))} records/s `,
      );
      const depth = await stack.queueDepth(STREAM);
      idleChecks =
        depth.visible === 0 && depth.inFlight === 0 && poller.inFlightCount === 0
          ? idleChecks + 1
          : 0;
    }
    const seconds = (Date.now() - started) / 1000;
    out.write("\n");
    exporter.stop("queue drained");
    await running;
    logger.flush();

    const all = await countOutput(join(dir, "all"));
    const starts = await countOutput(join(dir, "procstarts"));
    const windows = await countOutput(join(dir, "windows"));
    const expectedWindows = all.byPlatform.get("Windows") ?? 0;
    const expectedStarts = sim.files.reduce((a, f) => a + (f.eventTypes.process_start ?? 0), 0);
    say(
      `4/4 done in ${seconds.toFixed(1)} s: ${fmt(Math.round(sim.totalRecords / seconds))} records/s, ${(sim.totalBytes / 1e6 / seconds).toFixed(1)} MB/s compressed\n`,
    );
    say("records per event type (output 'all'):");
    for (const [type, n] of [...all.byType.entries()].sort((a, b) => b[1] - a[1])) {
      say(`  ${fmt(n).padStart(9)}  ${type}`);
    }
    say("");
    say("records per endpoint platform, from the Red Canary API (endpoint_metadata.platform):");
    for (const [platform, n] of [...all.byPlatform.entries()].sort((a, b) => b[1] - a[1])) {
      say(`  ${fmt(n).padStart(9)}  ${platform}`);
    }
    say(
      `  ${api.requests} API requests for ${fmt(all.total)} records (${api.rateLimited} refused with 429)`,
    );
    say("");
    say(
      `  ${relative(process.cwd(), join(dir, "all"))}/         ${fmt(all.total)} of ${fmt(sim.totalRecords)} records in ${all.files} files`,
    );
    say(
      `  ${relative(process.cwd(), join(dir, "procstarts"))}/  ${fmt(starts.total)} of ${fmt(expectedStarts)} process_start records in ${starts.files} files`,
    );
    say(
      `  ${relative(process.cwd(), join(dir, "windows"))}/     ${fmt(windows.total)} of ${fmt(expectedWindows)} records of Windows endpoints in ${windows.files} files`,
    );
    const complete =
      all.total >= sim.totalRecords &&
      starts.total >= expectedStarts &&
      windows.total >= expectedWindows &&
      !all.byPlatform.has("not enriched");
    say(
      complete
        ? "  nothing lost: every simulated record reached the outputs that want it"
        : "  WARNING: some records are missing; see the log",
    );
    say("\nexplore it with jq, as in Red Canary's guide:");
    say(
      `  cd ${relative(process.cwd(), join(dir, "all")) || "."} && jq .event_type_cd *.json | sort | uniq -c`,
    );
    return complete ? 0 : 1;
  } finally {
    await api.close();
    await stack.stop();
  }
}

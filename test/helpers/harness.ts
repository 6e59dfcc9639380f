import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { parseConfig } from "../../src/config/index.js";
import type { LocalStack } from "../../src/local/stack.js";
import { createExporter } from "../../src/runtime/create-exporter.js";
import { createLogger, silentLogger } from "../../src/telemetry/logger.js";
import { Metrics } from "../../src/telemetry/metrics.js";

/** Polls `check` until it returns true or the deadline passes (no fixed sleeps in tests). */
export async function waitFor(
  check: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Runs `count` in-process exporters on the same `configText` (competing consumers, as users
 * scale out) until the queue of `stream` is empty and nothing is in flight, then stops them
 * gracefully. The SDK finds the local stack through AWS_ENDPOINT_URL, as a user's would.
 */
export async function runUntilDrained(
  stack: LocalStack,
  stream: string,
  configText: string,
  count = 1,
) {
  process.env.AWS_ENDPOINT_URL = stack.endpoint;
  const cfg = parseConfig(configText, "test-config.yaml");
  const metrics = new Metrics();
  // CE_TEST_LOG=debug shows the exporter's log while a test runs.
  const logger = process.env.CE_TEST_LOG
    ? createLogger(process.env.CE_TEST_LOG as "debug")
    : silentLogger();
  const parts = await Promise.all(
    Array.from({ length: count }, () => createExporter(cfg, { logger, metrics })),
  );
  const running = parts.map((p) => p.exporter.run());
  let idle = 0;
  await waitFor(
    async () => {
      const depth = await stack.queueDepth(stream);
      const busy = parts.some((p) => p.poller.inFlightCount > 0);
      idle = depth.visible === 0 && depth.inFlight === 0 && !busy ? idle + 1 : 0;
      return idle >= 3;
    },
    `queue ${stream} to drain`,
    60_000,
  );
  for (const p of parts) p.exporter.stop("test done");
  await Promise.all(running);
  return { metrics };
}

/** Every line of every complete `.json` file in a directory, in file-name order. */
export async function readJsonLines(dir: string): Promise<string[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith(".json")).sort();
  const lines: string[] = [];
  for (const n of names) {
    const text = await readFile(join(dir, n), "utf8");
    for (const l of text.split("\n")) if (l) lines.push(l);
  }
  return lines;
}

export async function readDeadLetters(dir: string): Promise<Array<Record<string, unknown>>> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith(".jsonl"));
  } catch {
    return [];
  }
  const out: Array<Record<string, unknown>> = [];
  for (const n of names) {
    for (const l of (await readFile(join(dir, n), "utf8")).split("\n")) {
      if (l) out.push(JSON.parse(l) as Record<string, unknown>);
    }
  }
  return out;
}

export function sorted(lines: readonly string[]): string[] {
  return [...lines].sort();
}

export async function counterValue(c: { get(): Promise<{ values: Array<{ value: number }> }> }) {
  return (await c.get()).values.reduce((a, v) => a + v.value, 0);
}

/** The simulator's target for one stream of a local stack. */
export function simTarget(stack: LocalStack, stream: string) {
  return {
    s3: stack.s3,
    sns: stack.sns,
    bucket: stack.bucket,
    topicArn: stack.topicArn(stream),
    region: stack.region,
  };
}

/** The lines of an object as stored in the stack's bucket (gunzipped when gzip). */
export async function objectLines(stack: LocalStack, key: string): Promise<string[]> {
  const res = await stack.s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: key }));
  const body = res.Body as { transformToByteArray(): Promise<Uint8Array> };
  const bytes = Buffer.from(await body.transformToByteArray());
  const text = (bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes).toString(
    "utf8",
  );
  return text
    .split("\n")
    .map((l) => l.replace(/\r$/, ""))
    .filter((l) => l.trim() !== "");
}

/** Every line of every simulated file, in file order. */
export async function simulatedLines(stack: LocalStack, files: ReadonlyArray<{ key: string }>) {
  const lines: string[] = [];
  for (const f of files) lines.push(...(await objectLines(stack, f.key)));
  return lines;
}

/** True when the stream's queue holds no message, visible or in flight. */
export async function queueEmpty(stack: LocalStack, stream: string): Promise<boolean> {
  const d = await stack.queueDepth(stream);
  return d.visible === 0 && d.inFlight === 0;
}

/**
 * A config for in-process test runs against the local stack: the seed's shape, the local test
 * keys, short polls and timeouts so tests drain fast.
 */
export function testConfig(opts: {
  stream: string;
  /** The dead-letter directory goes under it. */
  dir: string;
  /** The YAML list items under `outputs:`, indented by two spaces. */
  outputs: string;
  maxReceives?: number;
  visibilitySeconds?: number;
  /** Appended at the top level. */
  extra?: string;
}): string {
  return `customer_identifier: demo
input:
  stream_name: ${opts.stream}
  aws_region: us-east-2
  aws_access_key_id: test
  aws_secret_access_key: test
  visibility_timeout_seconds: ${opts.visibilitySeconds ?? 30}
  wait_time_seconds: 1
outputs:
${opts.outputs}
dead_letter:
  directory: ${join(opts.dir, "dead-letter")}
  max_receives: ${opts.maxReceives ?? 3}
shutdown_grace_seconds: 5
${opts.extra ?? ""}`;
}

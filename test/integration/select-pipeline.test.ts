import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { PublishCommand } from "@aws-sdk/client-sns";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type S3SelectStandIn, startS3SelectStandIn } from "../../src/local/s3-select-standin.js";
import { s3EventFor, simulate } from "../../src/local/simulator.js";
import { type LocalStack, startLocalStack } from "../../src/local/stack.js";
import {
  counterValue,
  readJsonLines,
  runUntilDrained,
  simTarget,
  simulatedLines,
  sorted,
  testConfig,
} from "../helpers/harness.js";

/**
 * `input.s3_select_where` through the whole exporter: against fauxqs, which has no S3 Select (the
 * exporter falls back to evaluating the clause itself), and through the project's S3 Select
 * stand-in in front of fauxqs (the records come filtered by SelectObjectContent). Both must give
 * the records SQL semantics select, compared by content.
 */

let stack: LocalStack;
let select: S3SelectStandIn;
let work: string;

beforeAll(async () => {
  stack = await startLocalStack({ port: 0 });
  select = await startS3SelectStandIn({ upstream: stack.endpoint });
  work = await mkdtemp(join(tmpdir(), "ce-select-"));
});

afterEach(() => {
  delete process.env.AWS_ENDPOINT_URL_S3;
});

afterAll(async () => {
  await select?.close();
  await stack?.stop();
  await rm(work, { recursive: true, force: true });
});

const STARTS_NOT_529 =
  "s.event_type_cd IN ('process_start', 'network_connection') AND s.sensor_id <> 529";

function config(dir: string, clause: string, mode?: string): string {
  return testConfig({
    stream: "standardized",
    dir,
    outputs: `  - file: {directory: ${join(dir, "out")}}`,
  }).replace(
    "  wait_time_seconds: 1\n",
    `  wait_time_seconds: 1\n  s3_select_where: ${JSON.stringify(clause)}\n${mode ? `  s3_select_mode: ${mode}\n` : ""}`,
  );
}

function expected(lines: string[]): string[] {
  return sorted(
    lines.filter((l) => {
      const r = JSON.parse(l) as { event_type_cd: string; sensor_id: number };
      return (
        (r.event_type_cd === "process_start" || r.event_type_cd === "network_connection") &&
        r.sensor_id !== 529
      );
    }),
  );
}

function simulateFiles(files: number, recordsPerFile: number, seed: number) {
  const format = "standardized";
  return simulate({ target: simTarget(stack, format), format, files, recordsPerFile, seed });
}

/** Parsed and re-serialised: S3 Select re-serialises the records it returns. */
const canonical = (lines: string[]) => sorted(lines.map((l) => JSON.stringify(JSON.parse(l))));

describe("input.s3_select_where end to end", () => {
  it("where S3 Select is unavailable (fauxqs), evaluates the clause in the exporter", async () => {
    const dir = join(work, "fallback");
    const sim = await simulateFiles(5, 400, 501);
    const { metrics } = await runUntilDrained(stack, "standardized", config(dir, STARTS_NOT_529));
    const input = await simulatedLines(stack, sim.files);
    const want = expected(input);
    expect(want.length).toBeGreaterThan(100);
    expect(sorted(await readJsonLines(join(dir, "out")))).toEqual(want);
    expect(await counterValue(metrics.selectDiscarded)).toBe(input.length - want.length);
  }, 60_000);

  it("with s3_select_mode: local, never asks S3 Select", async () => {
    process.env.AWS_ENDPOINT_URL_S3 = select.endpoint;
    const before = select.selectRequests;
    const dir = join(work, "local");
    const sim = await simulateFiles(3, 300, 502);
    await runUntilDrained(stack, "standardized", config(dir, STARTS_NOT_529, "local"));
    expect(sorted(await readJsonLines(join(dir, "out")))).toEqual(
      expected(await simulatedLines(stack, sim.files)),
    );
    expect(select.selectRequests).toBe(before);
  }, 60_000);

  it("where S3 Select answers, reads the records it selected", async () => {
    process.env.AWS_ENDPOINT_URL_S3 = select.endpoint;
    const before = select.selectRequests;
    const dir = join(work, "select");
    const sim = await simulateFiles(4, 400, 503);
    const { metrics } = await runUntilDrained(
      stack,
      "standardized",
      config(dir, STARTS_NOT_529, "s3"),
    );
    expect(select.selectRequests - before).toBe(4);
    expect(canonical(await readJsonLines(join(dir, "out")))).toEqual(
      canonical(expected(await simulatedLines(stack, sim.files))),
    );
    // S3 dropped the others: the exporter never saw them.
    expect(await counterValue(metrics.selectDiscarded)).toBe(0);
  }, 60_000);

  it("applies the guide's own example clause to nested records, both ways, with the same result", async () => {
    const clause =
      "S3Object.data.data.entries[0].event_type_full IN ('process_event', 'image_load_event')";
    const records = [
      { id: 1, data: { data: { entries: [{ event_type_full: "process_event" }] } } },
      { id: 2, data: { data: { entries: [{ event_type_full: "netconn_event" }] } } },
      {
        id: 3,
        data: {
          data: { entries: [{ event_type_full: "image_load_event" }, { event_type_full: "x" }] },
        },
      },
      { id: 4, data: { data: { entries: [] } } },
      { id: 5, data: { data: { entries: [{ event_type_full: null }] } } },
      { id: 6, data: { other: true } },
      { id: 7, data: { data: { entries: [{ event_type_full: "PROCESS_EVENT" }] } } },
    ].map((r) => JSON.stringify(r));
    const results: string[][] = [];
    for (const [name, viaSelect] of [
      ["nested-fallback", false],
      ["nested-select", true],
    ] as const) {
      if (viaSelect) process.env.AWS_ENDPOINT_URL_S3 = select.endpoint;
      const key = `${name}/telemetry.json.gz`;
      await stack.s3.send(
        new PutObjectCommand({
          Bucket: stack.bucket,
          Key: key,
          Body: gzipSync(`${records.join("\n")}\n`),
        }),
      );
      await stack.sns.send(
        new PublishCommand({
          TopicArn: stack.topicArn("standardized"),
          Message: JSON.stringify(s3EventFor(stack.bucket, [{ key, size: 1 }], stack.region)),
        }),
      );
      const dir = join(work, name);
      await runUntilDrained(stack, "standardized", config(dir, clause, viaSelect ? "s3" : "auto"));
      results.push((await readJsonLines(join(dir, "out"))).map((l) => String(JSON.parse(l).id)));
    }
    expect(results).toEqual([
      ["1", "3"],
      ["1", "3"],
    ]);
  }, 60_000);
});

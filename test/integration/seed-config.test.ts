import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { gunzipSync } from "node:zlib";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { simulate } from "../../src/local/simulator.js";
import { type LocalStack, startLocalStack } from "../../src/local/stack.js";
import { killAllCli, startCli } from "../helpers/cli.js";
import { readJsonLines, sorted, waitFor } from "../helpers/harness.js";

let stack: LocalStack;
let cwd: string;

beforeAll(async () => {
  stack = await startLocalStack({ port: 0 });
  cwd = await mkdtemp(join(tmpdir(), "ce-seed-"));
});

afterAll(async () => {
  killAllCli();
  await stack?.stop();
  await rm(cwd, { recursive: true, force: true });
});

describe("the seed's own config", () => {
  it("runs unchanged: Red Canary's template with its placeholders filled and one file output", async () => {
    // The template as published (non-breaking-space indentation included), placeholders filled,
    // the first `file` output uncommented: directory output/procstarts, event_type_cd
    // process_start and sensor_id 529. Only the endpoint comes from the environment.
    await copyFile(resolve("test/fixtures/config/seed-filled.yaml"), join(cwd, "config.yaml"));
    const sim = await simulate({
      target: {
        s3: stack.s3,
        sns: stack.sns,
        bucket: stack.bucket,
        topicArn: stack.topicArn("standardized"),
        region: stack.region,
      },
      format: "standardized",
      files: 8,
      recordsPerFile: 3000,
      seed: 529,
    });
    const exporter = startCli(["run"], { cwd, env: { AWS_ENDPOINT_URL: stack.endpoint } });
    await waitFor(
      async () => {
        const d = await stack.queueDepth("standardized");
        return d.visible === 0 && d.inFlight === 0;
      },
      "the queue to drain",
      60_000,
    );
    exporter.child.kill("SIGTERM");
    expect(await exporter.exited, exporter.log()).toBe(0);

    const expected: string[] = [];
    for (const f of sim.files) {
      const res = await stack.s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: f.key }));
      const bytes = Buffer.from(
        await (res.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
      );
      for (const line of gunzipSync(bytes).toString("utf8").split("\n")) {
        if (!line) continue;
        const r = JSON.parse(line) as { event_type_cd?: string; sensor_id?: number };
        if (r.event_type_cd === "process_start" && r.sensor_id === 529) expected.push(line);
      }
    }
    expect(expected.length).toBeGreaterThan(0);
    expect(sorted(await readJsonLines(join(cwd, "output/procstarts")))).toEqual(sorted(expected));
    // The secret key of the config never reaches the log.
    expect(exporter.log()).not.toContain("wJalrXUtnFEMI");
  }, 120_000);
});

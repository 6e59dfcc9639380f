import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { simulate } from "../../src/local/simulator.js";
import { type LocalStack, startLocalStack } from "../../src/local/stack.js";
import { killAllCli, startCli } from "../helpers/cli.js";
import {
  objectLines,
  queueEmpty,
  simTarget,
  simulatedLines,
  sorted,
  waitFor,
} from "../helpers/harness.js";

let stack: LocalStack;
let work: string;

beforeAll(async () => {
  stack = await startLocalStack({ port: 0 });
  work = await mkdtemp(join(tmpdir(), "ce-cli-s3-"));
});

afterAll(async () => {
  killAllCli();
  await stack?.stop();
  await rm(work, { recursive: true, force: true });
});

describe("the daemon with an object output", () => {
  it("stays up while every in-flight message waits for an object's flush interval", async () => {
    await stack.s3.send(new CreateBucketCommand({ Bucket: "ce-cli-dest" }));
    const sim = await simulate({
      target: simTarget(stack, "native"),
      format: "native",
      files: 8,
      recordsPerFile: 50,
      seed: 8,
    });
    const configPath = join(work, "config.yaml");
    // Small files and a 2 s flush interval: all in-flight messages wait on the interval timer
    // alone, with nothing else for the process to do.
    await writeFile(
      configPath,
      `customer_identifier: demo
input:
  stream_name: native
  aws_access_key_id: test
  aws_secret_access_key: test
  max_concurrent_files: 2
  wait_time_seconds: 1
outputs:
  - s3:
      bucket_name: ce-cli-dest
      object_key_prefix: telemetry
      aws_access_key_id: test
      aws_secret_access_key: test
      aws_region: us-east-2
      flush_interval_seconds: 2
dead_letter:
  directory: ${join(work, "dead-letter")}
`,
    );
    const exporter = startCli(["run", "-c", configPath], {
      env: { AWS_ENDPOINT_URL: stack.endpoint },
    });
    await waitFor(() => queueEmpty(stack, "native"), "the queue to drain", 60_000);
    expect(exporter.child.exitCode, exporter.log()).toBe(null);
    exporter.child.kill("SIGTERM");
    expect(await exporter.exited, exporter.log()).toBe(0);

    const listed = await stack.s3.send(
      new ListObjectsV2Command({ Bucket: "ce-cli-dest", Prefix: "telemetry/" }),
    );
    const got: string[] = [];
    for (const o of listed.Contents ?? []) {
      got.push(
        ...(await objectLines({ ...stack, bucket: "ce-cli-dest" } as LocalStack, o.Key ?? "")),
      );
    }
    expect(sorted(got)).toEqual(sorted(await simulatedLines(stack, sim.files)));
  }, 120_000);
});

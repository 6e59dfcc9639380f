import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { simulate } from "../../src/local/simulator.js";
import { type LocalStack, startLocalStack } from "../../src/local/stack.js";
import { killAllCli, startCli } from "../helpers/cli.js";
import {
  queueEmpty,
  readJsonLines,
  simTarget,
  simulatedLines,
  sorted,
  waitFor,
} from "../helpers/harness.js";

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
      target: simTarget(stack, "standardized"),
      format: "standardized",
      files: 8,
      recordsPerFile: 3000,
      seed: 529,
    });
    const exporter = startCli(["run"], { cwd, env: { AWS_ENDPOINT_URL: stack.endpoint } });
    await waitFor(() => queueEmpty(stack, "standardized"), "the queue to drain", 60_000);
    exporter.child.kill("SIGTERM");
    expect(await exporter.exited, exporter.log()).toBe(0);

    const expected = (await simulatedLines(stack, sim.files)).filter((line) => {
      const r = JSON.parse(line) as { event_type_cd?: string; sensor_id?: number };
      return r.event_type_cd === "process_start" && r.sensor_id === 529;
    });
    expect(expected.length).toBeGreaterThan(0);
    expect(sorted(await readJsonLines(join(cwd, "output/procstarts")))).toEqual(sorted(expected));
    // The secret key of the config never reaches the log.
    expect(exporter.log()).not.toContain("wJalrXUtnFEMI");
  }, 120_000);
});

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validateCommand } from "../../src/cli/validate.js";

const fixture = (name: string) => join(import.meta.dirname, "../fixtures/config", name);

const HEADER = `customer_identifier: demo
input:
  stream_name: native
`;

/** Collects what a command writes. */
function sink() {
  const chunks: string[] = [];
  return {
    stream: {
      write: (chunk: string) => chunks.push(chunk) > 0,
    } as unknown as NodeJS.WritableStream,
    text: () => chunks.join(""),
  };
}

describe("validateCommand", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "config-validate-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("prints OK, the queue and the effective config with secrets hidden", async () => {
    const out = sink();
    const err = sink();
    const configPath = fixture("seed-filled.yaml");

    const code = await validateCommand({ configPath, out: out.stream, err: err.stream });

    expect(code).toBe(0);
    expect(err.text()).toBe("");
    const lines = out.text().split("\n");
    expect(lines[0]).toBe(`${configPath}: OK`);
    expect(out.text()).toContain("canaryexporter-standardized-file-added-demo");
    expect(out.text()).not.toContain("AKIAIOSFODNN7EXAMPLE");
    expect(out.text()).not.toContain("wJalrXUtnFEMI");
    expect(out.text()).toContain('aws_secret_access_key: "***"');
    const keys = lines.filter((l) => /^[a-z_]+:/.test(l)).map((l) => l.split(":")[0]);
    expect(keys).toEqual([
      "queue",
      "customer_identifier",
      "input",
      "endpoint_cache_size",
      "outputs",
      "dead_letter",
      "shutdown_grace_seconds",
      "log_level",
    ]);
    const inputKeys = lines
      .slice(lines.indexOf("input:") + 1, lines.indexOf("endpoint_cache_size: 1000"))
      .map((l) => l.trim().split(":")[0]);
    expect(inputKeys).toEqual([
      "stream_name",
      "aws_region",
      "aws_access_key_id",
      "aws_secret_access_key",
      "s3_select_mode",
      "max_concurrent_files",
      "visibility_timeout_seconds",
      "wait_time_seconds",
    ]);
  });

  it("refuses outputs this build cannot run, at their line", async () => {
    const configPath = join(dir, "config.yaml");
    await writeFile(
      configPath,
      `${HEADER}outputs:\n  - file: {directory: out}\n  - kinesis: {stream_name: k}\n`,
    );
    const out = sink();
    const err = sink();

    const code = await validateCommand({
      configPath,
      out: out.stream,
      err: err.stream,
      implementedOutputs: new Set(["file"]),
    });

    expect(code).toBe(1);
    expect(out.text()).toBe("");
    expect(err.text()).toBe(
      `${configPath}:6:5: outputs[1].kinesis: the kinesis output is not supported yet in this version; remove it or use a file output\n`,
    );
  });

  it("prints each issue and exits 1 on an invalid config", async () => {
    const configPath = join(dir, "bad.yaml");
    await writeFile(
      configPath,
      `${HEADER}  log_level: info\noutputs: [{file: {directory: out}}]\n`,
    );
    const err = sink();

    const code = await validateCommand({ configPath, out: sink().stream, err: err.stream });

    expect(code).toBe(1);
    expect(err.text()).toBe(
      `${configPath}:4:3: input.log_level: unknown key under input:; it belongs at the top level\n`,
    );
  });

  it("says so in one line when the file is missing", async () => {
    const err = sink();

    const code = await validateCommand({
      configPath: "config.yaml.missing",
      out: sink().stream,
      err: err.stream,
    });

    expect(code).toBe(1);
    expect(err.text()).toBe("config.yaml.missing: cannot read: no such file\n");
  });
});

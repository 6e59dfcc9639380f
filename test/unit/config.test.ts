import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import {
  type ExporterConfig,
  loadConfig,
  type OutputConfig,
  toConfigFile,
} from "../../src/config/index.js";
import { parse } from "../helpers/config.js";

const FIXTURES = join(import.meta.dirname, "../fixtures/config");
const fixture = (name: string) => join(FIXTURES, name);

const HEADER = `customer_identifier: demo
input:
  stream_name: native
`;

function outputOf<T extends OutputConfig["type"]>(cfg: ExporterConfig, type: T, index = 0) {
  const output = cfg.outputs[index];
  if (output?.type !== type) throw new Error(`outputs[${index}] is not ${type}`);
  return output as Extract<OutputConfig, { type: T }>;
}

describe("the guide's template", () => {
  it("filled in, with the first file output uncommented, validates unchanged", async () => {
    const cfg = await loadConfig(fixture("seed-filled.yaml"));

    expect(cfg.customer_identifier).toBe("demo");
    expect(cfg.input).toEqual({
      stream_name: "standardized",
      aws_region: "us-east-2",
      aws_access_key_id: "AKIAIOSFODNN7EXAMPLE",
      aws_secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
      max_concurrent_files: 4,
      s3_select_mode: "auto",
      visibility_timeout_seconds: 300,
      wait_time_seconds: 20,
    });
    expect(cfg.outputs).toEqual([
      {
        type: "file",
        index: 0,
        config: {
          directory: "output/procstarts",
          max_size_bytes: 10_000_000,
          max_files: 2,
          export_only_where: { event_type_cd: ["process_start"], sensor_id: [529] },
        },
      },
    ]);
    expect(cfg.endpoint_cache_size).toBe(1000);
    expect(cfg.red_canary_authentication_token).toBeUndefined();
    expect(cfg.dead_letter).toEqual({
      directory: "dead-letter",
      max_receives: 5,
      on_max_receives: "dead_letter",
    });
    expect(cfg.shutdown_grace_seconds).toBe(30);
    expect(cfg.log_level).toBe("info");
    expect(cfg.metrics).toBeUndefined();
  });

  it("tolerates the web page's non-breaking spaces in indentation", async () => {
    // The fixture is the guide's text as copied from the page, U+00A0 in the indentation.
    const text = await readFile(fixture("seed-filled.yaml"), "utf8");
    expect(text).toContain("\u00a0");

    expect(parse(text)).toEqual(parse(text.replace(/\u00a0/g, " ")));
  });

  it("takes the guide's native outputs example as it is", async () => {
    const cfg = await loadConfig(fixture("seed-native.yaml"));

    expect(outputOf(cfg, "file").config).toEqual({
      directory: "/output",
      max_size_bytes: 10_000_000,
      max_files: 4,
      export_only_where: {
        type: [
          "ingress.event.regmod",
          "ingress.event.filemod",
          "ingress.event.netconn",
          "ingress.event.procstart",
          "ingress.event.module",
          "ingress.event.childproc",
          "ingress.event.crossprocopen",
        ],
      },
    });
  });

  it("takes the guide's standardized outputs example as it is", async () => {
    const cfg = await loadConfig(fixture("seed-standardized.yaml"));

    expect(outputOf(cfg, "file").config).toEqual({
      directory: "/output",
      max_size_bytes: 10_000_000,
      max_files: 2,
      export_only_where: { event_type_cd: ["process_start", "child_process", "binary"] },
    });
  });
});

const GCP_KEY = JSON.stringify({ type: "service_account", project_id: "p" }, null, 2);

const ALL_OUTPUTS = `${HEADER}outputs:
  - file:
      directory: out
  - kinesis:
      stream_name: telemetry
  - s3:
      bucket_name: my-bucket
      aws_region: eu-west-1
  - azure_blob:
      storage_account_name: devstoreaccount1
      container_name: telemetry
  - google_cloud_storage:
      bucket_name: my-bucket
      credentials_json: |
${GCP_KEY.replace(/^/gm, "        ")}
  - google_cloud_pubsub:
      topic_name: projects/p/topics/t
      compression_format: gzip
`;

describe("outputs", () => {
  it("parses all six output types with their defaults", () => {
    const cfg = parse(ALL_OUTPUTS);

    expect(cfg.outputs.map((o) => [o.type, o.index])).toEqual([
      ["file", 0],
      ["kinesis", 1],
      ["s3", 2],
      ["azure_blob", 3],
      ["google_cloud_storage", 4],
      ["google_cloud_pubsub", 5],
    ]);
    expect(outputOf(cfg, "file", 0).config).toEqual({
      directory: "out",
      max_size_bytes: 10_000_000,
    });
    expect(outputOf(cfg, "kinesis", 1).config).toEqual({
      stream_name: "telemetry",
      max_records_to_buffer_before_sending: 500,
    });
    expect(outputOf(cfg, "s3", 2).config).toEqual({
      bucket_name: "my-bucket",
      object_key_prefix: "",
      aws_region: "eu-west-1",
      max_size_bytes: 10_000_000,
      flush_interval_seconds: 60,
      compression_format: "none",
    });
    expect(outputOf(cfg, "azure_blob", 3).config).toEqual({
      storage_account_name: "devstoreaccount1",
      container_name: "telemetry",
      blob_name_prefix: "",
      max_size_bytes: 10_000_000,
      flush_interval_seconds: 60,
      compression_format: "none",
    });
    expect(outputOf(cfg, "google_cloud_storage", 4).config).toEqual({
      bucket_name: "my-bucket",
      object_key_prefix: "",
      credentials_json: `${GCP_KEY}\n`,
      max_size_bytes: 10_000_000,
      flush_interval_seconds: 60,
      compression_format: "none",
    });
    expect(outputOf(cfg, "google_cloud_pubsub", 5).config).toEqual({
      topic_name: "projects/p/topics/t",
      compression_format: "gzip",
    });
  });

  it("treats an empty or null export_only_where as no filter, and a single value as a list", () => {
    const cfg = parse(`${HEADER}outputs:
  - file: {directory: a, export_only_where: {}}
  - file: {directory: b, export_only_where: }
  - file:
      directory: c
      export_only_where:
        sensor_id: 529
        process.username: [root, null, true, 1.5]
`);

    expect(outputOf(cfg, "file", 0).config.export_only_where).toBeUndefined();
    expect(outputOf(cfg, "file", 1).config.export_only_where).toBeUndefined();
    expect(outputOf(cfg, "file", 2).config.export_only_where).toEqual({
      sensor_id: [529],
      "process.username": ["root", null, true, 1.5],
    });
  });

  it("keeps a number-looking string value as written", () => {
    const cfg = parse(`customer_identifier: 1234
input: {stream_name: native}
outputs:
  - s3: {bucket_name: b, object_key_prefix: 0123}
`);

    expect(cfg.customer_identifier).toBe("1234");
    expect(outputOf(cfg, "s3").config.object_key_prefix).toBe("0123");
  });
});

describe("the effective config", () => {
  it("parses back to the same config", () => {
    const cfg = parse(
      ALL_OUTPUTS.replace(
        "  stream_name: native\n",
        "  stream_name: native\n  aws_access_key_id: a\n  aws_secret_access_key: b\n",
      ),
    );

    const again = parse(stringify(toConfigFile(cfg)));

    expect(again).toEqual(cfg);
  });
});

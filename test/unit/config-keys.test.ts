import { describe, expect, it } from "vitest";
import {
  deriveQueueName,
  type ExporterConfig,
  type OutputConfig,
  queueTarget,
  redactConfig,
} from "../../src/config/index.js";
import { issuesOf, parse } from "../helpers/config.js";

const HEADER = `customer_identifier: demo
input:
  stream_name: native
`;

function outputOf<T extends OutputConfig["type"]>(cfg: ExporterConfig, type: T, index = 0) {
  const output = cfg.outputs[index];
  if (output?.type !== type) throw new Error(`outputs[${index}] is not ${type}`);
  return output as Extract<OutputConfig, { type: T }>;
}

describe("endpoint_cache_size and red_canary_authentication_token", () => {
  it("are read from the top level", () => {
    const cfg = parse(`${HEADER}endpoint_cache_size: 50
red_canary_authentication_token: tok-top
outputs: [{file: {directory: out}}]
`);

    expect(cfg.endpoint_cache_size).toBe(50);
    expect(cfg.red_canary_authentication_token).toBe("tok-top");
    expect(cfg.input).not.toHaveProperty("endpoint_cache_size");
  });

  it("are read from under input:", () => {
    const cfg = parse(`${HEADER}  endpoint_cache_size: 60
  red_canary_authentication_token: tok-input
outputs: [{file: {directory: out}}]
`);

    expect(cfg.endpoint_cache_size).toBe(60);
    expect(cfg.red_canary_authentication_token).toBe("tok-input");
    expect(cfg.input).not.toHaveProperty("red_canary_authentication_token");
  });

  it("may be in both places when they agree", () => {
    const cfg = parse(`${HEADER}  endpoint_cache_size: 70
  red_canary_authentication_token: same
endpoint_cache_size: 70
red_canary_authentication_token: same
outputs: [{file: {directory: out}}]
`);

    expect(cfg.endpoint_cache_size).toBe(70);
    expect(cfg.red_canary_authentication_token).toBe("same");
  });

  it("are an error in both places with different values", () => {
    const issues = issuesOf(`${HEADER}  endpoint_cache_size: 70
  red_canary_authentication_token: Tok3nNumberOne
endpoint_cache_size: 80
red_canary_authentication_token: Tok3nNumberTwo
outputs: [{file: {directory: out}}]
`);

    expect(issues).toEqual([
      "config.yaml:4:24: input.endpoint_cache_size: differs from the top-level endpoint_cache_size (line 6); set it in one place only",
      "config.yaml:5:36: input.red_canary_authentication_token: differs from the top-level red_canary_authentication_token (line 7); set it in one place only",
    ]);
  });
});

describe("environment variables", () => {
  const TEXT = `customer_identifier: \${CUSTOMER}
input:
  stream_name: \${STREAM:-native}
  aws_access_key_id: "\${KEY_ID}"
  aws_secret_access_key: '\${SECRET}'
  aws_session_token: \${SESSION:-}
  s3_select_where: "S3Object.note = '$\${literal}' AND x = '\${Y:-a b}'"
outputs:
  - file:
      directory: /data/\${CUSTOMER}
      max_files: \${MAX_FILES}
`;

  it("substitutes set variables and defaults, keeps $${ literal, reads numbers", () => {
    const cfg = parse(TEXT, {
      CUSTOMER: "acme",
      KEY_ID: "AKIDFROMENV",
      SECRET: "secret-from-env",
      MAX_FILES: "7",
    });

    expect(cfg.customer_identifier).toBe("acme");
    expect(cfg.input.stream_name).toBe("native");
    expect(cfg.input.aws_access_key_id).toBe("AKIDFROMENV");
    expect(cfg.input.aws_secret_access_key).toBe("secret-from-env");
    expect(cfg.input.aws_session_token).toBeUndefined();
    expect(cfg.input.s3_select_where).toBe(`S3Object.note = '\${literal}' AND x = 'a b'`);
    expect(outputOf(cfg, "file").config).toMatchObject({ directory: "/data/acme", max_files: 7 });
  });

  it("names an unset variable at its place", () => {
    const issues = issuesOf(TEXT, { CUSTOMER: "acme", KEY_ID: "AKIDFROMENV", MAX_FILES: "7" });

    expect(issues).toEqual([
      `config.yaml:5:26: input.aws_secret_access_key: environment variable SECRET is not set (set it, or write \${SECRET:-default} to give a default)`,
    ]);
  });

  it("reports a non-numeric value substituted into a number field", () => {
    const issues = issuesOf(TEXT, {
      CUSTOMER: "acme",
      KEY_ID: "k",
      SECRET: "s",
      MAX_FILES: "many",
    });

    expect(issues).toEqual([
      'config.yaml:11:18: outputs[0].file.max_files: expected a positive integer, got "many"',
    ]);
  });
});

describe("our own keys", () => {
  it("take values and are checked", () => {
    const cfg = parse(`${HEADER}  queue_url: http://localhost:4566/000000000000/my-queue
  max_concurrent_files: 8
  visibility_timeout_seconds: 600
  wait_time_seconds: 0
outputs: [{file: {directory: out}}]
dead_letter: {directory: /var/dl, max_receives: 3, on_max_receives: leave_in_queue}
shutdown_grace_seconds: 0
log_level: debug
metrics: {listen: "[::1]:9464"}
`);

    expect(cfg.input).toMatchObject({
      queue_url: "http://localhost:4566/000000000000/my-queue",
      max_concurrent_files: 8,
      visibility_timeout_seconds: 600,
      wait_time_seconds: 0,
    });
    expect(cfg.dead_letter).toEqual({
      directory: "/var/dl",
      max_receives: 3,
      on_max_receives: "leave_in_queue",
    });
    expect(cfg.shutdown_grace_seconds).toBe(0);
    expect(cfg.log_level).toBe("debug");
    expect(cfg.metrics).toEqual({ listen: "[::1]:9464", host: "::1", port: 9464 });
    expect(queueTarget(cfg)).toEqual({
      kind: "url",
      queueUrl: "http://localhost:4566/000000000000/my-queue",
    });
  });
});

describe("queue name", () => {
  it("is derived from stream_name and customer_identifier", () => {
    const cfg = parse(`customer_identifier: acme-1
input: {stream_name: cf-flattened-test}
outputs: [{file: {directory: out}}]
`);

    expect(deriveQueueName(cfg)).toBe("canaryexporter-cf-flattened-test-file-added-acme-1");
    expect(queueTarget(cfg)).toEqual({
      kind: "name",
      queueName: "canaryexporter-cf-flattened-test-file-added-acme-1",
    });
  });
});

describe("redactConfig", () => {
  it("replaces every secret that is set, in a copy", () => {
    const cfg = parse(`${HEADER}  aws_access_key_id: AKIDINPUT
  aws_secret_access_key: input-secret
red_canary_authentication_token: api-token
outputs:
  - s3: {bucket_name: b, aws_access_key_id: AKIDS3, aws_secret_access_key: s3-secret}
  - azure_blob: {storage_account_name: acct, container_name: ctr, storage_access_key: azkey}
  - google_cloud_pubsub: {topic_name: t, credentials_json: '{"type": "service_account"}'}
  - kinesis: {stream_name: k}
`);

    const redacted = redactConfig(cfg);

    expect(redacted.input.aws_access_key_id).toBe("***");
    expect(redacted.input.aws_secret_access_key).toBe("***");
    expect(redacted.input).not.toHaveProperty("aws_session_token");
    expect(redacted.red_canary_authentication_token).toBe("***");
    expect(outputOf(redacted, "s3", 0).config).toMatchObject({
      aws_access_key_id: "***",
      aws_secret_access_key: "***",
    });
    expect(outputOf(redacted, "azure_blob", 1).config.storage_access_key).toBe("***");
    expect(outputOf(redacted, "google_cloud_pubsub", 2).config.credentials_json).toBe("***");
    expect(outputOf(redacted, "kinesis", 3).config).not.toHaveProperty("aws_access_key_id");
    expect(cfg.input.aws_secret_access_key).toBe("input-secret");
    expect(JSON.stringify(redacted)).not.toMatch(/secret"|azkey|api-token|AKID/);
  });
});

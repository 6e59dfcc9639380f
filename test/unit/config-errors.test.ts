import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { issuesOf } from "../helpers/config.js";

const FIXTURES = join(import.meta.dirname, "../fixtures/config");

const HEADER = `customer_identifier: demo
input:
  stream_name: native
`;
const FILE_OUTPUT = "outputs:\n  - file:\n      directory: out\n";

describe("the guide's template left unfilled", () => {
  it("names each placeholder still in it, and the commented-out outputs", async () => {
    const text = await readFile(join(FIXTURES, "seed-template.yaml"), "utf8");

    expect(issuesOf(text)).toEqual([
      `config.yaml:19:16: input.stream_name: still holds the template placeholder "<<<<< Enter one of 'native', 'standardized', or 'cf-flattened' (Linux EDR only) >>>>>"; replace it with your value`,
      'config.yaml:22:22: input.aws_access_key_id: still holds the template placeholder "<<<<< Enter the access key ID from the previous step >>>>>"; replace it with your value',
      'config.yaml:23:26: input.aws_secret_access_key: still holds the template placeholder "<<<<< Enter the access key from the previous step >>>>>"; replace it with your value',
      "config.yaml:40:1: outputs: expected a list of outputs; every output in the template is commented out: uncomment one (such as `- file:`), got an empty value",
    ]);
  });

  it("names the outputs' <<<<>>>> placeholders, and the compression_format text", () => {
    const issues = issuesOf(`${HEADER}outputs:
  - s3:
      bucket_name: <<<<>>>>
      aws_access_key_id: <<<<>>>>
      compression_format: either 'none' or 'gzip'
`);

    expect(issues).toEqual([
      'config.yaml:6:20: outputs[0].s3.bucket_name: still holds the template placeholder "<<<<>>>>"; replace it with your value',
      'config.yaml:7:26: outputs[0].s3.aws_access_key_id: still holds the template placeholder "<<<<>>>>"; replace it with your value',
      `config.yaml:8:27: outputs[0].s3.compression_format: expected "none" or "gzip", got "either 'none' or 'gzip'"`,
    ]);
  });
});

describe("unknown keys", () => {
  it("suggest the closest key, at the key's line and column", () => {
    const text = `---
customer_identifier: demo

input:
  # a comment
  aws_region: us-east-2
  aws_access_key_id: AKIAIOSFODNN7EXAMPLE
  aws_secret_access_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
  stream_nam: native
${FILE_OUTPUT}`;

    expect(issuesOf(text)).toEqual([
      'config.yaml:9:3: input.stream_nam: unknown key; did you mean "stream_name"?',
    ]);
  });

  it("suggest the output type", () => {
    const issues = issuesOf(`${HEADER}outputs:\n  - azure_blb:\n      container_name: c\n`);

    expect(issues).toEqual([
      'config.yaml:5:5: outputs[0].azure_blb: unknown output type; did you mean "azure_blob"?',
    ]);
  });

  it("list the valid keys when nothing is close, and say where a misplaced key belongs", () => {
    const issues = issuesOf(`${HEADER}aws_region: us-east-2
outputs:
  - file:
      directory: out
      compression_format: gzip
`);

    expect(issues).toEqual([
      "config.yaml:4:1: aws_region: unknown key here; it belongs under input:",
      "config.yaml:8:7: outputs[0].file.compression_format: unknown key; expected one of directory, max_size_bytes, max_files, export_only_where",
    ]);
  });
});

describe("wrong values", () => {
  it("say what was expected and what was found", () => {
    const issues = issuesOf(`customer_identifier: demo
input:
  stream_name: nativ
  wait_time_seconds: 30
outputs:
  - file:
      directory: out
      max_size_bytes: 0
      max_files: two
  - kinesis:
      stream_name: k
      max_records_to_buffer_before_sending: 501
  - file: out
  - [file]
log_level: verbose
metrics: {listen: 9464}
`);

    expect(issues).toEqual([
      'config.yaml:3:16: input.stream_name: expected "native", "standardized" or "cf-flattened", optionally with "-test" appended, got "nativ"; did you mean "native"?',
      "config.yaml:4:22: input.wait_time_seconds: expected an integer from 0 to 20, got 30",
      "config.yaml:8:23: outputs[0].file.max_size_bytes: expected a positive integer, got 0",
      'config.yaml:9:18: outputs[0].file.max_files: expected a positive integer, got "two"',
      "config.yaml:12:45: outputs[1].kinesis.max_records_to_buffer_before_sending: expected an integer from 1 to 500, got 501",
      'config.yaml:13:11: outputs[2].file: expected a map of file settings (directory, max_size_bytes, max_files, export_only_where) indented under "file:"',
      "config.yaml:14:5: outputs[3]: expected a map with one output type, such as `- file:`",
      'config.yaml:15:12: log_level: expected "debug", "info", "warn" or "error", got "verbose"',
      'config.yaml:16:19: metrics.listen: expected "host:port", such as "127.0.0.1:9464" or "0.0.0.0:9464", got "9464"',
    ]);
  });

  it("point at the map that lacks a required key", () => {
    const issues = issuesOf(`customer_identifier: demo
input:
  aws_region: us-east-2
outputs:
  - file:
  - s3:
      aws_region: us-east-1
`);

    expect(issues).toEqual([
      'config.yaml:3:3: input.stream_name: required key is missing (expected "native", "standardized" or "cf-flattened", optionally with "-test" appended)',
      "config.yaml:5:5: outputs[0].file.directory: required key is missing (expected a directory path)",
      "config.yaml:7:7: outputs[1].s3.bucket_name: required key is missing (expected a bucket name)",
    ]);
  });

  it("reject half an AWS key pair and a session token without one", () => {
    const issues = issuesOf(`${HEADER}  aws_access_key_id: AKIAIOSFODNN7EXAMPLE
  aws_session_token: token
outputs:
  - s3: {bucket_name: b, aws_secret_access_key: s}
`);

    expect(issues).toEqual([
      "config.yaml:4:3: input.aws_access_key_id: is set but aws_secret_access_key is not: set both, or neither to use the AWS SDK's default credential chain (environment, profile, IAM role)",
      "config.yaml:5:3: input.aws_session_token: is only used with aws_access_key_id and aws_secret_access_key; set them too or remove it",
      "config.yaml:7:26: outputs[0].s3.aws_secret_access_key: is set but aws_access_key_id is not: set both, or neither to use the AWS SDK's default credential chain (environment, profile, IAM role)",
    ]);
  });

  it("reject credentials_json that is not a JSON key, without quoting it", () => {
    const issues = issuesOf(`${HEADER}outputs:
  - google_cloud_storage:
      bucket_name: b
      credentials_json: |
        {"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBg"
  - google_cloud_pubsub:
      topic_name: t
      credentials_json: '{"private_key": "MIIEvQIBADANBg"}'
`);

    expect(issues).toEqual([
      "config.yaml:7:25: outputs[0].google_cloud_storage.credentials_json: expected JSON text, but it does not parse as JSON",
      'config.yaml:11:25: outputs[1].google_cloud_pubsub.credentials_json: expected a JSON object with a "type" field (such as "service_account")',
    ]);
  });

  it("reject two file outputs, or dead letters, in one directory", () => {
    const issues = issuesOf(`${HEADER}outputs:
  - file: {directory: out}
  - file: {directory: ./out/}
dead_letter: {directory: out}
`);

    expect(issues).toEqual([
      "config.yaml:6:23: outputs[1].file.directory: is also the directory of outputs[0].file; give each file output its own directory",
      "config.yaml:7:26: dead_letter.directory: is also the directory of outputs[0].file; dead letters need a directory of their own",
    ]);
  });

  it("reject a customer_identifier that would make the queue name too long", () => {
    const long = "x".repeat(50);
    const issues = issuesOf(
      `customer_identifier: ${long}\ninput: {stream_name: native}\n${FILE_OUTPUT}`,
    );

    expect(issues).toEqual([
      `config.yaml:1:22: customer_identifier: is too long: the queue name canaryexporter-native-file-added-${long} would exceed SQS's 80 characters (set input.queue_url if your queue is named otherwise)`,
    ]);
  });

  it("report outputs this build cannot run when asked to", () => {
    const issues = issuesOf(
      `${HEADER}outputs:\n  - file: {directory: out}\n  - s3: {bucket_name: b}\n`,
      {},
      new Set(["file"]),
    );

    expect(issues).toEqual([
      "config.yaml:6:5: outputs[1].s3: the s3 output is not supported yet in this version; remove it or use a file output",
    ]);
  });
});

describe("YAML problems", () => {
  it("report a duplicate key at the second occurrence", () => {
    const issues = issuesOf(`${HEADER}  stream_name: standardized\n${FILE_OUTPUT}`);

    expect(issues).toEqual(['config.yaml:4:3: duplicate key "stream_name"']);
  });

  it("report a syntax error at its position", () => {
    const issues = issuesOf(
      `${HEADER}outputs:\n  - file:\n      directory: out\n     max_files: 2\n`,
    );

    expect(issues).toEqual([
      "config.yaml:7:1: YAML syntax error: All mapping items must start at the same column",
    ]);
  });

  it("report tabs, several documents, and an empty file", () => {
    expect(issuesOf(`${HEADER}\tstream_name: native\n`)).toEqual([
      "config.yaml:4:1: YAML syntax error: tabs are not allowed in indentation; use spaces",
    ]);
    expect(issuesOf(`${HEADER}${FILE_OUTPUT}---\na: 1\n`)).toEqual([
      "config.yaml:7:1: YAML syntax error: the file holds more than one document (a second `---`); keep one",
    ]);
    expect(issuesOf("# nothing yet\n")).toEqual([
      "config.yaml:1:1: the file is empty: start from the template in the guide (customer_identifier, input, outputs)",
    ]);
  });
});

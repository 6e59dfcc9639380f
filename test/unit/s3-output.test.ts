import { NoSuchBucket, S3ServiceException } from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import { ExporterError } from "../../src/core/errors.js";
import { s3OutputSchema } from "../../src/outputs/s3/config.js";
import { createS3OutputClient, s3OutputRegion } from "../../src/outputs/s3/s3-client.js";
import { classifyS3OutputError } from "../../src/outputs/s3/s3-errors.js";

const KEY_ID = "AKIAEXAMPLEKEYID0001";
const SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

function s3Error(name: string, status: number | undefined, message = `${name} happened`) {
  return new S3ServiceException({
    name,
    $fault: status !== undefined && status >= 500 ? "server" : "client",
    $metadata: status !== undefined ? { httpStatusCode: status } : {},
    message,
  });
}

const put = { bucket: "dest", key: "t/2026/01/01/00/x.json", secrets: [KEY_ID, SECRET] };
const check = { bucket: "dest", secrets: [KEY_ID, SECRET] };

describe("classifyS3OutputError", () => {
  it.each([
    ["SlowDown", 503, "s3_throttled"],
    ["InternalError", 500, "s3_unavailable"],
    ["ServiceUnavailable", 503, "s3_throttled"],
    ["RequestTimeout", 400, "s3_unavailable"],
    ["SomethingNew", 502, "s3_unavailable"],
    ["TooManyRequests", 429, "s3_throttled"],
    ["NoSuchUpload", 404, "s3_unavailable"],
  ])("%s (HTTP %s) on upload is retryable (%s)", (name, status, code) => {
    const e = classifyS3OutputError(s3Error(name, status), put);
    expect(e).toMatchObject({ kind: "retryable", code });
    expect(e.message).toContain(`s3://dest/${put.key}`);
  });

  it("network errors and timeouts (no HTTP answer) are retryable", () => {
    const reset = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
    expect(classifyS3OutputError(reset, put)).toMatchObject({
      kind: "retryable",
      code: "s3_unreachable",
    });
    const timeout = Object.assign(new Error("Connection timed out after 10000 ms"), {
      name: "TimeoutError",
    });
    expect(classifyS3OutputError(timeout, put)).toMatchObject({ kind: "retryable" });
  });

  it.each([
    ["NoSuchBucket", 404, "bucket_missing"],
    ["AccessDenied", 403, "access_denied"],
    ["InvalidAccessKeyId", 403, "credentials_rejected"],
    ["SignatureDoesNotMatch", 403, "credentials_rejected"],
    ["EntityTooLarge", 400, "s3_rejected"],
  ])("%s (HTTP %s) on upload is permanent (%s)", (name, status, code) => {
    expect(classifyS3OutputError(s3Error(name, status), put)).toMatchObject({
      kind: "permanent",
      code,
    });
  });

  it("names a missing bucket in words a user acts on", () => {
    const e = classifyS3OutputError(
      new NoSuchBucket({ $metadata: { httpStatusCode: 404 }, message: "gone" }),
      put,
    );
    expect(e.message).toMatch(/^bucket dest does not exist: create it or fix .*bucket_name/);
  });

  it("reads HeadBucket's bodiless answers: 404 is a missing bucket, 403 a refusal", () => {
    expect(classifyS3OutputError(s3Error("NotFound", 404), check)).toMatchObject({
      kind: "permanent",
      code: "bucket_missing",
      message: expect.stringContaining("bucket dest does not exist"),
    });
    const denied = classifyS3OutputError(s3Error("Forbidden", 403), check);
    expect(denied).toMatchObject({ kind: "permanent", code: "access_denied" });
    expect(denied.message).toContain("access to bucket dest was denied (403)");
    expect(denied.message).toContain("s3:ListBucket");
    expect(denied.message).toContain("aws_access_key_id");
  });

  it("missing credentials say where credentials can come from", () => {
    const err = Object.assign(new Error("Could not load credentials from any providers"), {
      name: "CredentialsProviderError",
    });
    const e = classifyS3OutputError(err, check);
    expect(e).toMatchObject({ kind: "permanent", code: "credentials_missing" });
    expect(e.message).toContain("AWS_PROFILE");
  });

  it("never repeats the configured keys, even when S3 or the network layer quoted them", () => {
    const leaky = [
      s3Error("SlowDown", 503, `slow down for ${KEY_ID}`),
      s3Error("WeirdRejection", 400, `signature from ${SECRET} rejected`),
      s3Error("SignatureDoesNotMatch", 403, `expected ${SECRET}`),
      Object.assign(new Error(`connect failed with ${KEY_ID}:${SECRET}`), { code: "EPIPE" }),
    ];
    for (const err of leaky) {
      const { message } = classifyS3OutputError(err, put);
      expect(message).not.toContain(KEY_ID);
      expect(message).not.toContain(SECRET);
    }
  });

  it("passes our own errors through", () => {
    const own = new ExporterError("x", "permanent", "already classified");
    expect(classifyS3OutputError(own, put)).toBe(own);
  });
});

describe("the s3 output's client settings", () => {
  it("region: aws_region, else AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1", () => {
    expect(s3OutputRegion({ aws_region: "eu-west-1" }, { AWS_REGION: "us-west-2" })).toBe(
      "eu-west-1",
    );
    expect(s3OutputRegion({}, { AWS_REGION: "us-west-2", AWS_DEFAULT_REGION: "ap-south-1" })).toBe(
      "us-west-2",
    );
    expect(s3OutputRegion({}, { AWS_DEFAULT_REGION: "ap-south-1" })).toBe("ap-south-1");
    expect(s3OutputRegion({}, {})).toBe("us-east-1");
  });

  it("uses the config's key pair when both are set, path style only with an endpoint override", async () => {
    const cfg = s3OutputSchema.parse({
      bucket_name: "dest",
      aws_access_key_id: KEY_ID,
      aws_secret_access_key: SECRET,
    });
    const client = createS3OutputClient(cfg, {});
    try {
      expect(await client.config.region()).toBe("us-east-1");
      const creds = await client.config.credentials();
      expect(creds).toMatchObject({ accessKeyId: KEY_ID, secretAccessKey: SECRET });
      expect(client.config.forcePathStyle).toBeFalsy();
    } finally {
      client.destroy();
    }
    const local = createS3OutputClient(cfg, { AWS_ENDPOINT_URL_S3: "http://127.0.0.1:1" });
    try {
      expect(local.config.forcePathStyle).toBe(true);
    } finally {
      local.destroy();
    }
  });
});

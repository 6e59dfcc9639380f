import { describe, expect, it } from "vitest";
import { classifyKinesisError, isTransientEntryError } from "../../src/outputs/kinesis/errors.js";
import { partitionKeyOf, toEntry } from "../../src/outputs/kinesis/records.js";
import { resolveRegion } from "../../src/outputs/kinesis/stream.js";

const loc = { streamName: "s1", region: "us-west-2" };

function sdkError(name: string, status?: number): Error {
  return Object.assign(new Error("boom"), {
    name,
    ...(status ? { $metadata: { httpStatusCode: status } } : {}),
  });
}

describe("kinesis records", () => {
  it("keys a record by its endpoint, else at random", () => {
    expect(partitionKeyOf({ sensor_id: 529 })).toBe("529");
    expect(partitionKeyOf({ sensor_id: "abc" })).toBe("abc");
    expect(partitionKeyOf({ device_id: "dev-1" })).toBe("dev-1");
    const a = partitionKeyOf({ x: 1 });
    const b = partitionKeyOf({ x: 1 });
    expect(a).not.toBe(b);
    expect(a.length).toBeGreaterThan(0);
    // A key Kinesis would refuse (empty, over 256 characters) is not used.
    expect(partitionKeyOf({ sensor_id: "" })).not.toBe("");
    expect(partitionKeyOf({ sensor_id: "k".repeat(257) }).length).toBeLessThanOrEqual(256);
  });

  it("sends the JSON line with a newline and counts data plus key in UTF-8 bytes", () => {
    const e = toEntry({ raw: '{"sensor_id":5,"u":"é"}', value: { sensor_id: 5 } });
    expect(e.text).toBe('{"sensor_id":5,"u":"é"}\n');
    expect(e.partitionKey).toBe("5");
    expect(e.size).toBe(Buffer.byteLength(e.text) + 1);
  });

  it("resolves the region from the config, then AWS_REGION, AWS_DEFAULT_REGION, us-east-1", () => {
    const cfg = { aws_region: undefined };
    expect(resolveRegion({ ...cfg, aws_region: "eu-west-3" }, { AWS_REGION: "x" })).toBe(
      "eu-west-3",
    );
    expect(resolveRegion(cfg, { AWS_REGION: "ap-south-1", AWS_DEFAULT_REGION: "y" })).toBe(
      "ap-south-1",
    );
    expect(resolveRegion(cfg, { AWS_DEFAULT_REGION: "sa-east-1" })).toBe("sa-east-1");
    expect(resolveRegion(cfg, {})).toBe("us-east-1");
  });
});

describe("kinesis errors", () => {
  it("classifies per-entry codes", () => {
    expect(isTransientEntryError("ProvisionedThroughputExceededException")).toBe(true);
    expect(isTransientEntryError("InternalFailure")).toBe(true);
    expect(isTransientEntryError("KMSThrottlingException")).toBe(true);
    expect(isTransientEntryError("KMSAccessDeniedException")).toBe(false);
    expect(isTransientEntryError("KMSNotFoundException")).toBe(false);
  });

  it("classifies whole-call errors", () => {
    const kind = (e: unknown) => classifyKinesisError(e, loc).kind;
    expect(kind(sdkError("ProvisionedThroughputExceededException", 400))).toBe("retryable");
    expect(kind(sdkError("LimitExceededException", 400))).toBe("retryable");
    expect(kind(sdkError("ThrottlingException", 400))).toBe("retryable");
    expect(kind(sdkError("InternalFailure", 500))).toBe("retryable");
    expect(kind(sdkError("ServiceUnavailable", 503))).toBe("retryable");
    expect(kind(sdkError("Whatever", 429))).toBe("retryable");
    expect(kind(sdkError("TimeoutError"))).toBe("retryable");
    expect(kind(new Error("socket hang up"))).toBe("retryable");
    expect(kind(sdkError("ResourceNotFoundException", 400))).toBe("permanent");
    expect(kind(sdkError("AccessDeniedException", 400))).toBe("permanent");
    expect(kind(sdkError("UnrecognizedClientException", 400))).toBe("permanent");
    expect(kind(sdkError("CredentialsProviderError"))).toBe("permanent");
    expect(kind(sdkError("ValidationException", 400))).toBe("permanent");
    expect(kind(sdkError("SomethingElse", 400))).toBe("permanent");
  });

  it("names the stream and region, and says what to check", () => {
    const missing = classifyKinesisError(sdkError("ResourceNotFoundException", 400), loc);
    expect(missing.message).toMatch(/^Kinesis stream s1 in us-west-2 does not exist/);
    const denied = classifyKinesisError(sdkError("UnrecognizedClientException", 400), loc);
    expect(denied.code).toBe("access_denied");
    expect(denied.message).toContain("refused the credentials (UnrecognizedClientException)");
    expect(denied.message).not.toContain("boom");
    const none = classifyKinesisError(sdkError("CredentialsProviderError"), loc);
    expect(none).toMatchObject({ kind: "permanent", code: "no_credentials" });
  });
});

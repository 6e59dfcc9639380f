import { describe, expect, it } from "vitest";
import { ExporterError } from "../../src/core/errors.js";
import { emulatorHostProblem, parseCredentialsJson } from "../../src/outputs/gcs/gcs-client.js";
import { classifyGcsError, gcsHttpStatus } from "../../src/outputs/gcs/gcs-errors.js";

/**
 * The google_cloud_storage output's own logic, without a network: error classes, credentials
 * parsing, the emulator variable. Against the stand-in: test/integration/output-gcs.test.ts.
 */

const ctx = { bucket: "my-bucket", key: "p/2026/x.json", secrets: ["SECRET-KEY-MATERIAL"] };

/** Shapes the client throws (see gcs-errors.ts), built as plain errors. */
function apiError(code: number, message: string): Error {
  return Object.assign(new Error(message), { code, errors: [{ reason: "x", message }] });
}

describe("classifyGcsError", () => {
  it("makes a missing bucket, refused credentials and denied access permanent, saying what to fix", () => {
    const missing = classifyGcsError(apiError(404, "The specified bucket does not exist."), {
      bucket: "my-bucket",
    });
    expect(missing).toMatchObject({ kind: "permanent", code: "bucket_missing" });
    expect(missing.message).toMatch(/^bucket my-bucket does not exist .*bucket_name/);
    const refused = classifyGcsError(apiError(401, "Invalid Credentials"), ctx);
    expect(refused).toMatchObject({ kind: "permanent", code: "credentials_rejected" });
    expect(refused.message).toMatch(/credentials_json/);
    const denied = classifyGcsError(apiError(403, "caller does not have access"), ctx);
    expect(denied).toMatchObject({ kind: "permanent", code: "access_denied" });
    expect(denied.message).toMatch(/storage\.objects\.create/);
    const adc = classifyGcsError(
      new Error("Could not load the default credentials. Browse to https://cloud.google.com/..."),
      ctx,
    );
    expect(adc).toMatchObject({ kind: "permanent", code: "credentials_missing" });
    expect(adc.message).toMatch(/GOOGLE_APPLICATION_CREDENTIALS/);
    expect(classifyGcsError(apiError(400, "Invalid argument"), ctx).kind).toBe("permanent");
  });

  it("makes throttling, 5xx, timeouts, network errors and damaged uploads retryable", () => {
    for (const status of [408, 429, 500, 502, 503, 504]) {
      expect(classifyGcsError(apiError(status, "try later"), ctx).kind).toBe("retryable");
    }
    // A resumable upload once the client's retries are spent, and a gaxios error.
    const spent = new Error("Retry limit exceeded - status: 503");
    expect(gcsHttpStatus(spent)).toBe(503);
    expect(classifyGcsError(spent, ctx)).toMatchObject({
      kind: "retryable",
      code: "gcs_throttled",
    });
    const gaxios = Object.assign(new Error("Request failed"), {
      status: 502,
      code: "ERR_BAD_RESPONSE",
      response: { status: 502 },
    });
    expect(classifyGcsError(gaxios, ctx).kind).toBe("retryable");
    for (const code of ["ECONNRESET", "ECONNREFUSED", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN"]) {
      const err = Object.assign(new Error(`connect ${code}`), { code });
      expect(classifyGcsError(err, ctx)).toMatchObject({
        kind: "retryable",
        code: "gcs_unreachable",
      });
    }
    const mismatch = Object.assign(
      new Error("The uploaded data did not match the data from the server."),
      {
        code: "FILE_NO_UPLOAD",
      },
    );
    expect(classifyGcsError(mismatch, ctx)).toMatchObject({
      kind: "retryable",
      code: "gcs_checksum_mismatch",
    });
    // A 400 from GCS for a hash it computed differently: the bytes were damaged on the way.
    const badHash = apiError(400, 'Provided CRC32C "abc=" doesn\'t match calculated CRC32C.');
    expect(classifyGcsError(badHash, ctx).kind).toBe("retryable");
  });

  it("never quotes secrets or bearer tokens, and keeps messages short", () => {
    const err = apiError(
      500,
      `boom SECRET-KEY-MATERIAL Authorization: Bearer ya29.a0AfH6SMB-token ${"x".repeat(1000)}`,
    );
    const out = classifyGcsError(err, ctx);
    expect(out.message).not.toContain("SECRET-KEY-MATERIAL");
    expect(out.message).not.toContain("ya29");
    expect(out.message.length).toBeLessThan(500);
  });

  it("passes an ExporterError through", () => {
    const e = new ExporterError("gcs_timeout", "retryable", "slow");
    expect(classifyGcsError(e, ctx)).toBe(e);
  });
});

describe("parseCredentialsJson", () => {
  it("gives the client the key, its project and the values never to log", () => {
    const parsed = parseCredentialsJson(
      JSON.stringify({
        type: "service_account",
        project_id: "proj-1",
        private_key_id: "abcdef0123456789",
        private_key: "-----BEGIN PRIVATE KEY-----\nMII...\n-----END PRIVATE KEY-----\n",
        client_email: "sa@proj-1.iam.gserviceaccount.com",
      }),
    );
    expect(parsed?.projectId).toBe("proj-1");
    expect(parsed?.credentials.client_email).toBe("sa@proj-1.iam.gserviceaccount.com");
    expect(parsed?.secrets).toEqual([
      "-----BEGIN PRIVATE KEY-----\nMII...\n-----END PRIVATE KEY-----\n",
      "abcdef0123456789",
    ]);
    expect(parseCredentialsJson(undefined)).toBeUndefined();
  });

  it("never quotes the text it cannot parse", () => {
    expect(() => parseCredentialsJson('{"private_key": "SECRET')).toThrow(
      /^credentials_json of the google_cloud_storage output is not valid JSON$/,
    );
  });
});

describe("emulatorHostProblem", () => {
  it("accepts a URL and explains a host without its scheme", () => {
    expect(emulatorHostProblem({})).toBeUndefined();
    expect(emulatorHostProblem({ STORAGE_EMULATOR_HOST: "http://127.0.0.1:4443" })).toBeUndefined();
    expect(emulatorHostProblem({ STORAGE_EMULATOR_HOST: "127.0.0.1:4443" })).toMatch(
      /with its scheme, such as http:\/\/127\.0\.0\.1:4443/,
    );
  });
});

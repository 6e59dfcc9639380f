import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  crc32c,
  crc32cBase64,
  errorEnvelope,
  md5Base64,
  multipartBoundary,
  parseContentRange,
  parseGoogHash,
  parseMultipart,
  parseRange,
} from "../../src/local/gcs-standin-wire.js";

/**
 * The GCS stand-in's wire formats, without a network. The stand-in itself is tested over
 * loopback HTTP with the official client in test/integration/gcs-standin.test.ts.
 */
describe("GCS stand-in wire formats", () => {
  it("computes CRC32C (Castagnoli) as GCS reports it", () => {
    // The standard check value of CRC-32C, and RFC 3720's test vectors.
    expect(crc32c(Buffer.from("123456789"))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(32, 0))).toBe(0x8a9136aa);
    expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
    // Base64 of the big-endian 4 bytes: GCS's `crc32c` field and x-goog-hash value.
    expect(crc32cBase64(Buffer.from("123456789"))).toBe(
      Buffer.from([0xe3, 0x06, 0x92, 0x83]).toString("base64"),
    );
    expect(md5Base64(Buffer.from("abc"))).toBe(createHash("md5").update("abc").digest("base64"));
  });

  it("parses x-goog-hash", () => {
    expect(parseGoogHash("crc32c=4waSgw==,md5=kAFQmDzST7DWlj99KOF/cg==")).toEqual({
      crc32c: "4waSgw==",
      md5: "kAFQmDzST7DWlj99KOF/cg==",
    });
    expect(parseGoogHash(undefined)).toEqual({});
  });

  it("parses the Content-Range of resumable uploads", () => {
    expect(parseContentRange("bytes */*")).toEqual({ kind: "query", total: undefined });
    expect(parseContentRange("bytes */100")).toEqual({ kind: "query", total: 100 });
    expect(parseContentRange("bytes 0-*/*")).toEqual({
      kind: "data",
      first: 0,
      last: undefined,
      total: undefined,
    });
    expect(parseContentRange("bytes 0-262143/*")).toEqual({
      kind: "data",
      first: 0,
      last: 262143,
      total: undefined,
    });
    expect(parseContentRange("bytes 262144-300000/300001")).toEqual({
      kind: "data",
      first: 262144,
      last: 300000,
      total: 300001,
    });
    expect(parseContentRange("bytes 10-5/20")).toBeUndefined();
    expect(parseContentRange("items 0-1/2")).toBeUndefined();
    expect(parseContentRange(undefined)).toBeUndefined();
  });

  it("splits a multipart/related body, binary safe", () => {
    const boundary = "a1b2-c3";
    expect(multipartBoundary(`multipart/related; boundary=${boundary}`)).toBe(boundary);
    expect(multipartBoundary(`multipart/related; boundary="${boundary}"`)).toBe(boundary);
    expect(multipartBoundary("application/json")).toBeUndefined();
    const media = Buffer.from([0x1f, 0x8b, 0x0d, 0x0a, 0x2d, 0x2d, 0x00, 0xff]);
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Type: application/json\r\n\r\n{"name":"x"}\r\n`),
      Buffer.from(`--${boundary}\r\nContent-Type: application/octet-stream\r\n\r\n`),
      media,
      Buffer.from(`\r\n--${boundary}--`),
    ]);
    const parts = parseMultipart(body, boundary);
    expect(parts).toHaveLength(2);
    expect(parts[0]?.headers["content-type"]).toBe("application/json");
    expect(parts[0]?.body.toString()).toBe('{"name":"x"}');
    expect(parts[1]?.body).toEqual(media);
    const empty = Buffer.from(
      `--${boundary}\r\nContent-Type: text/plain\r\n\r\n\r\n--${boundary}--\r\n`,
    );
    expect(parseMultipart(empty, boundary)[0]?.body.length).toBe(0);
    expect(() => parseMultipart(Buffer.from("no boundary here"), boundary)).toThrow();
    expect(() =>
      parseMultipart(Buffer.from(`--${boundary}\r\nContent-Type: x\r\n\r\nunterminated`), boundary),
    ).toThrow();
  });

  it("parses Range against an object's size", () => {
    expect(parseRange("bytes=0-9", 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange("bytes=90-", 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange("bytes=-10", 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange("bytes=50-500", 100)).toEqual({ start: 50, end: 99 });
    expect(parseRange("bytes=100-", 100)).toBe("unsatisfiable");
    expect(parseRange(undefined, 100)).toBeUndefined();
  });

  it("writes GCS's JSON error envelope", () => {
    expect(JSON.parse(errorEnvelope(404, "notFound", "gone"))).toEqual({
      error: {
        code: 404,
        message: "gone",
        errors: [{ message: "gone", domain: "global", reason: "notFound" }],
      },
    });
  });
});

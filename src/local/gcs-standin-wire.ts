/**
 * The wire formats of the GCS JSON API that the stand-in (gcs-standin.ts) speaks: CRC32C and
 * MD5 as GCS reports them, the `Content-Range` header of resumable uploads, `multipart/related`
 * bodies, `Range`, the JSON error envelope, and the few HTTP helpers the stand-in's routes share.
 * The parsers are pure functions, tested without a network (test/unit/gcs-standin.test.ts).
 */
import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC32C (Castagnoli) of `data`, as an unsigned 32-bit number. */
export function crc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = (CRC32C_TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** GCS's `crc32c` field and `x-goog-hash` value: base64 of the big-endian 4 bytes. */
export function crc32cBase64(data: Uint8Array): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32c(data));
  return out.toString("base64");
}

/** GCS's `md5Hash` field: base64 of the 16-byte digest. */
export function md5Base64(data: Uint8Array): string {
  return createHash("md5").update(data).digest("base64");
}

/** `x-goog-hash: crc32c=...,md5=...` as a map. */
export function parseGoogHash(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const pair of header.split(",")) {
    const i = pair.indexOf("=");
    if (i > 0) out[pair.slice(0, i).trim().toLowerCase()] = pair.slice(i + 1).trim();
  }
  return out;
}

/**
 * A resumable upload request's `Content-Range`:
 * - a status query (no data): `*` as the range, then `/*` or `/TOTAL`;
 * - `bytes FIRST-LAST/TOTAL`, with `*` for an unknown LAST (the request carries everything from
 *   FIRST to the end of the object) or an unknown TOTAL (more requests follow).
 */
export type ContentRange =
  | { readonly kind: "query"; readonly total: number | undefined }
  | {
      readonly kind: "data";
      readonly first: number;
      readonly last: number | undefined;
      readonly total: number | undefined;
    };

export function parseContentRange(header: string | undefined): ContentRange | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes\s+(?:(\*)|(\d+)-(\d+|\*))\/(\d+|\*)$/.exec(header.trim());
  if (!m) return undefined;
  const total = m[4] === "*" ? undefined : Number(m[4]);
  if (m[1] === "*") return { kind: "query", total };
  const first = Number(m[2]);
  const last = m[3] === "*" ? undefined : Number(m[3]);
  if (last !== undefined && last < first) return undefined;
  return { kind: "data", first, last, total };
}

export interface MultipartPart {
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

/** `boundary` of a `multipart/related; boundary=...` content type. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (!contentType || !/^multipart\/related\b/i.test(contentType)) return undefined;
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return m?.[1] ?? m?.[2];
}

/**
 * The parts of a `multipart/related` body (RFC 2046): each part's headers (lower-case names)
 * and its bytes, exactly as sent (binary safe). Throws on a malformed body.
 */
export function parseMultipart(body: Buffer, boundary: string): MultipartPart[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: MultipartPart[] = [];
  let at = body.indexOf(delimiter);
  if (at < 0) throw new Error("no multipart boundary in the body");
  for (;;) {
    at += delimiter.length;
    if (body.subarray(at, at + 2).toString() === "--") return parts;
    const lineEnd = body.indexOf("\r\n", at);
    if (lineEnd < 0) throw new Error("multipart body ends inside a delimiter line");
    const headerEnd = body.indexOf("\r\n\r\n", lineEnd);
    if (headerEnd < 0) throw new Error("multipart part without a blank line after its headers");
    // A part without headers starts right after its delimiter line's CRLF.
    const headerText =
      headerEnd === lineEnd ? "" : body.subarray(lineEnd + 2, headerEnd).toString("latin1");
    const contentStart = headerEnd + 4;
    const next = body.indexOf(Buffer.concat([Buffer.from("\r\n"), delimiter]), contentStart - 2);
    if (next < 0) throw new Error("multipart body without its closing boundary");
    const headers: Record<string, string> = {};
    for (const line of headerText.split("\r\n")) {
      const i = line.indexOf(":");
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    parts.push({ headers, body: body.subarray(contentStart, Math.max(contentStart, next)) });
    at = next + 2;
  }
}

/** GCS's JSON error envelope, which the client turns into an ApiError with `code`. */
export function errorEnvelope(code: number, reason: string, message: string): string {
  return JSON.stringify({
    error: { code, message, errors: [{ message, domain: "global", reason }] },
  });
}

/** A single-range `Range: bytes=...` header against an object of `size` bytes. */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | "unsatisfiable" | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  if (m[1] === "") {
    const n = Number(m[2]);
    if (n === 0) return "unsatisfiable";
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return "unsatisfiable";
  return { start, end };
}

/** An error the stand-in answers with GCS's envelope. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** 400 when `data` does not match a CRC32C or MD5 the client sent (as GCS refuses it). */
export function checkHashes(data: Buffer, crc: string | undefined, md5: string | undefined): void {
  if (crc !== undefined && crc !== crc32cBase64(data)) {
    throw new HttpError(
      400,
      "invalid",
      `Provided CRC32C "${crc}" doesn't match calculated CRC32C.`,
    );
  }
  if (md5 !== undefined && md5 !== md5Base64(data)) {
    throw new HttpError(
      400,
      "invalid",
      `Provided MD5 hash "${md5}" doesn't match calculated MD5 hash.`,
    );
  }
}

/** Object metadata sent as JSON (an empty body is no metadata). */
export function parseMetadata(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  try {
    const parsed: unknown = JSON.parse(body.toString("utf8"));
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) {
      return parsed as Record<string, unknown>;
    }
  } catch {
    // answered below
  }
  throw new HttpError(400, "parseError", "Parse Error: the object metadata is not a JSON object.");
}

export function stringField(meta: Record<string, unknown>, key: string): string | undefined {
  const v = meta[key];
  return typeof v === "string" ? v : undefined;
}

export function requiredName(name: string | undefined): string {
  if (!name) throw new HttpError(400, "required", "Required: the object name.");
  return name;
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function notImplemented(method: string, url: URL): HttpError {
  return new HttpError(
    501,
    "notImplemented",
    `The GCS stand-in does not implement ${method} ${url.pathname}.`,
  );
}

/** The whole request body, refusing more than `max` bytes with 413. */
export async function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new HttpError(413, "uploadTooLarge", "Request body too large.");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res
    .writeHead(status, {
      "content-type": "application/json; charset=utf-8",
      "content-length": Buffer.byteLength(text),
    })
    .end(text);
}

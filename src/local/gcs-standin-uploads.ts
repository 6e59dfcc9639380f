/**
 * The GCS stand-in's upload endpoint (see gcs-standin.ts): `/upload/storage/v1/b/{bucket}/o`
 * with `uploadType=media`, `multipart` (JSON metadata part + media part) or `resumable` (a
 * session URI in `Location`, then PUTs with `Content-Range`: `308 Resume Incomplete` with `Range`
 * until the last byte, `200` with the object resource at the end; status queries; DELETE cancels).
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { type GcsModel, objectResource, type StandInObject } from "./gcs-standin-model.js";
import {
  checkHashes,
  HttpError,
  header,
  multipartBoundary,
  notImplemented,
  parseContentRange,
  parseGoogHash,
  parseMetadata,
  parseMultipart,
  readBody,
  requiredName,
  sendJson,
  stringField,
} from "./gcs-standin-wire.js";

interface UploadSession {
  readonly bucket: string;
  readonly name: string;
  readonly contentType: string;
  readonly meta: Record<string, unknown>;
  readonly ifGenerationMatch: string | undefined;
  chunks: Buffer[];
  received: number;
  done: StandInObject | undefined;
}

export class UploadEndpoint {
  private readonly sessions = new Map<string, UploadSession>();

  constructor(
    private readonly model: GcsModel,
    private readonly maxBody: number,
  ) {}

  /** `path` is what follows `/upload/storage/v1`. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL, path: string): Promise<void> {
    const seg = path.split("/").slice(1);
    const method = req.method ?? "GET";
    if (seg[0] !== "b" || seg[2] !== "o" || seg.length !== 3) throw notImplemented(method, url);
    const bucket = decodeURIComponent(seg[1] ?? "");
    const uploadId = url.searchParams.get("upload_id");
    if (uploadId !== null) {
      // The session URI is the credential: no Authorization header needed, as on GCS.
      const session = this.sessions.get(uploadId);
      if (!session || session.bucket !== bucket) {
        throw new HttpError(404, "notFound", "No such upload session.");
      }
      if (method === "PUT" || method === "POST") return this.resume(req, res, session);
      if (method === "DELETE") {
        this.sessions.delete(uploadId);
        req.resume();
        res.writeHead(499).end();
        return;
      }
      throw notImplemented(method, url);
    }
    if (method !== "POST") throw notImplemented(method, url);
    this.model.authorize(req.headers.authorization);
    this.model.permit("storage.objects.create", bucket);
    this.model.bucket(bucket);
    const uploadType = url.searchParams.get("uploadType") ?? "media";
    const ifGenerationMatch = url.searchParams.get("ifGenerationMatch") ?? undefined;
    const name = url.searchParams.get("name") ?? undefined;
    const body = await readBody(req, this.maxBody);
    if (uploadType === "media") {
      const meta = { contentType: header(req, "content-type") ?? "application/octet-stream" };
      const obj = this.model.store(
        bucket,
        requiredName(name),
        body,
        meta,
        ifGenerationMatch,
        "media",
      );
      return sendJson(res, 200, objectResource(obj));
    }
    if (uploadType === "multipart") {
      const { meta, media } = multipartUpload(header(req, "content-type"), body);
      const objectName = requiredName(name ?? stringField(meta, "name"));
      const obj = this.model.store(bucket, objectName, media, meta, ifGenerationMatch, "multipart");
      return sendJson(res, 200, objectResource(obj));
    }
    if (uploadType === "resumable") {
      const meta = parseMetadata(body);
      const id = randomBytes(16).toString("hex");
      const objectName = requiredName(name ?? stringField(meta, "name"));
      this.sessions.set(id, {
        bucket,
        name: objectName,
        contentType:
          header(req, "x-upload-content-type") ??
          stringField(meta, "contentType") ??
          "application/octet-stream",
        meta,
        ifGenerationMatch,
        chunks: [],
        received: 0,
        done: undefined,
      });
      const q = new URLSearchParams({ uploadType: "resumable", name: objectName, upload_id: id });
      // The Host the client used, so a session started through a proxy continues through it.
      const host = req.headers.host ?? "127.0.0.1";
      const location = `http://${host}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?${q}`;
      res.writeHead(200, { location, "x-guploader-uploadid": id, "content-length": "0" }).end();
      return;
    }
    throw new HttpError(400, "invalid", `Unknown uploadType ${JSON.stringify(uploadType)}.`);
  }

  /**
   * One request of a resumable upload. Data are kept as they arrive, so a request cut short
   * leaves its bytes in the session; a status query then reports them with `Range`.
   */
  private async resume(req: IncomingMessage, res: ServerResponse, s: UploadSession) {
    const raw = header(req, "content-range");
    const range = raw === undefined ? undefined : parseContentRange(raw);
    if (raw !== undefined && !range) {
      throw new HttpError(400, "invalid", `Malformed Content-Range ${JSON.stringify(raw)}.`);
    }
    if (s.done) {
      req.resume();
      return sendJson(res, 200, objectResource(s.done));
    }
    if (range?.kind === "query") {
      req.resume();
      if (range.total !== undefined && range.total === s.received) return this.finish(req, res, s);
      return incomplete(res, s.received);
    }
    const first = range?.first ?? 0;
    if (first > s.received) {
      throw new HttpError(
        400,
        "invalid",
        `Upload offset ${first} is past the ${s.received} bytes received.`,
      );
    }
    let skip = s.received - first; // bytes the client sends again
    for await (const chunk of req as AsyncIterable<Buffer>) {
      const part = skip > 0 ? chunk.subarray(Math.min(skip, chunk.length)) : chunk;
      skip = Math.max(0, skip - chunk.length);
      if (part.length === 0) continue;
      if (s.received + part.length > this.maxBody) {
        throw new HttpError(413, "uploadTooLarge", "Upload larger than the stand-in keeps.");
      }
      s.chunks.push(part);
      s.received += part.length;
    }
    const total = range?.total;
    // No Content-Range, an open end (`FIRST-*`) or a known total: this request ends the object.
    const lastRequest = range === undefined || range.last === undefined || total !== undefined;
    if (total !== undefined && s.received > total) {
      throw new HttpError(
        400,
        "invalid",
        `Received ${s.received} bytes of a ${total}-byte upload.`,
      );
    }
    if (!lastRequest || (total !== undefined && s.received < total)) {
      return incomplete(res, s.received);
    }
    return this.finish(req, res, s);
  }

  private finish(req: IncomingMessage, res: ServerResponse, s: UploadSession): void {
    const data = Buffer.concat(s.chunks);
    const hashes = parseGoogHash(header(req, "x-goog-hash"));
    checkHashes(data, hashes.crc32c, hashes.md5);
    const meta = { ...s.meta, contentType: s.contentType };
    s.done = this.model.store(s.bucket, s.name, data, meta, s.ifGenerationMatch, "resumable");
    s.chunks = [];
    sendJson(res, 200, objectResource(s.done));
  }
}

/** A multipart upload's metadata (JSON) and media parts. */
function multipartUpload(
  contentType: string | undefined,
  body: Buffer,
): { meta: Record<string, unknown>; media: Buffer } {
  const boundary = multipartBoundary(contentType);
  if (!boundary) throw new HttpError(400, "invalid", "Expected multipart/related content.");
  let parts: ReturnType<typeof parseMultipart>;
  try {
    parts = parseMultipart(body, boundary);
  } catch (err) {
    throw new HttpError(400, "invalid", `Malformed multipart body: ${String(err)}`);
  }
  const [metaPart, mediaPart] = parts;
  if (parts.length !== 2 || !metaPart || !mediaPart) {
    throw new HttpError(400, "invalid", "A multipart upload has exactly two parts.");
  }
  const meta = parseMetadata(metaPart.body);
  meta.contentType ??= mediaPart.headers["content-type"] ?? "application/octet-stream";
  return { meta, media: mediaPart.body };
}

/** `308 Resume Incomplete`, with `Range` once some bytes are in. */
function incomplete(res: ServerResponse, received: number): void {
  const headers: Record<string, string> = { "content-length": "0" };
  if (received > 0) headers.range = `bytes=0-${received - 1}`;
  res.writeHead(308, headers).end();
}

/**
 * A protocol-level STAND-IN of the Google Cloud Storage JSON API, owned by this project, for
 * tests and the demo. It is NOT an emulator and NOT Google's: no GCS server can be installed on
 * the machines this project is built on (fake-gcs-server is Go, the Firebase emulator downloads a
 * JAR at start), so this small in-memory HTTP server on 127.0.0.1 answers the requests the
 * official `@google-cloud/storage` client sends for what the `google_cloud_storage` output and
 * its tests do, in the JSON API's own formats:
 *
 * - `GET /storage/v1/b/{bucket}` (bucket metadata), `POST /storage/v1/b` (create),
 *   `DELETE /storage/v1/b/{bucket}`, `GET /storage/v1/b/{bucket}/iam/testPermissions`;
 * - uploads `POST /upload/storage/v1/b/{bucket}/o?uploadType=multipart|media|resumable`; a
 *   resumable upload answers with a session URI (`Location`), takes `PUT`s with `Content-Range`
 *   (`308 Resume Incomplete` with `Range` until the last byte, then `200` with the object)
 *   and status queries (a `Content-Range` whose range is `*`), and keeps the bytes of a
 *   request cut short;
 * - `GET /storage/v1/b/{bucket}/o` (list: prefix, delimiter, maxResults, pageToken),
 *   `GET /storage/v1/b/{bucket}/o/{object}` (metadata; `?alt=media` downloads, with `Range`,
 *   `x-goog-hash` and gzip served as stored when the client accepts gzip), `DELETE`.
 *
 * Every JSON API path is also served without `/storage/v1`: with `STORAGE_EMULATOR_HOST` set,
 * the client sends `http://HOST/b/...` (its base URL is the variable's value as given).
 * Object names travel URL-encoded in paths. Errors use GCS's envelope
 * `{"error":{"code":404,"message":"...","errors":[{"reason":"notFound",...}]}}`, which the client
 * turns into an ApiError with `code`. Uploads are checked against `x-goog-hash` and the metadata's
 * `crc32c`/`md5Hash`, and objects carry both hashes, as the client verifies them.
 *
 * Layout: this file (server, JSON API routes, downloads), gcs-standin-uploads.ts (the upload
 * endpoint), gcs-standin-model.ts (buckets and objects in memory), gcs-standin-wire.ts (formats).
 *
 * Not modelled: versioning, ACLs and IAM policies (only an optional fixed set of granted
 * permissions), object holds, rewrite/compose/copy, XML API, signed URLs, quotas, 256 KiB chunk
 * granularity. With `requireAuth`, requests without `Authorization: Bearer <anything>` get 401
 * (session URIs authenticate themselves, as on GCS); no token is ever verified.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";
import {
  bucketResource,
  GcsModel,
  objectResource,
  type StandInObject,
  type StandInUpload,
} from "./gcs-standin-model.js";
import { UploadEndpoint } from "./gcs-standin-uploads.js";
import {
  errorEnvelope,
  HttpError,
  header,
  notImplemented,
  parseMetadata,
  parseRange,
  readBody,
  sendJson,
  stringField,
} from "./gcs-standin-wire.js";

export type { StandInObject, StandInUpload } from "./gcs-standin-model.js";

export interface GcsStandInOptions {
  /** 0 (the default) picks a free port. Always 127.0.0.1. */
  readonly port?: number;
  /** Answer 401 to requests without `Authorization: Bearer ...`. Default false. */
  readonly requireAuth?: boolean;
  /**
   * The IAM permissions the caller holds on every bucket (such as `["storage.objects.create"]`
   * for a service account with roles/storage.objectCreator only). Default: all of them.
   */
  readonly grantedPermissions?: readonly string[];
  /** Largest request body kept, in bytes (413 beyond). Default 256 MiB. */
  readonly maxBodyBytes?: number;
}

export interface GcsStandIn {
  /** `http://127.0.0.1:PORT`: the value for STORAGE_EMULATOR_HOST or the client's apiEndpoint. */
  readonly endpoint: string;
  /** Creates an empty bucket (idempotent). Throws on a name GCS would refuse. */
  createBucket(name: string): void;
  /** The object as stored, or undefined. Tests should prefer reading through the client. */
  object(bucket: string, name: string): StandInObject | undefined;
  /** Completed uploads, in order. */
  readonly uploads: readonly StandInUpload[];
  /** Stops the server, dropping open connections. Idempotent. */
  close(): Promise<void>;
}

export async function startGcsStandIn(options: GcsStandInOptions = {}): Promise<GcsStandIn> {
  const model = new GcsModel(options.requireAuth ?? false, options.grantedPermissions);
  const uploads = new UploadEndpoint(model, options.maxBodyBytes ?? 256 * 1024 * 1024);
  const server = createServer((req, res) => {
    route(model, uploads, req, res).catch((err: unknown) => {
      const e =
        err instanceof HttpError
          ? err
          : new HttpError(500, "backendError", `stand-in failure: ${String(err)}`);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      req.resume();
      sendJson(res, e.status, errorEnvelope(e.status, e.reason, e.message));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    createBucket: (name) => {
      model.createBucket(name);
    },
    object: (bucket, name) => model.buckets.get(bucket)?.objects.get(name),
    uploads: model.uploads,
    close() {
      closed ??= closeServer(server);
      return closed;
    },
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

/** Every request: the upload endpoint, or a JSON API path with or without `/storage/v1`. */
async function route(
  model: GcsModel,
  uploads: UploadEndpoint,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? "/", "http://stand-in");
  const method = req.method ?? "GET";
  let path = url.pathname;
  if (path.startsWith("/upload/storage/v1/")) {
    return uploads.handle(req, res, url, path.slice("/upload/storage/v1".length));
  }
  let forceMedia = false;
  if (path.startsWith("/download/storage/v1/")) {
    path = path.slice("/download/storage/v1".length);
    forceMedia = true;
  } else if (path.startsWith("/storage/v1/")) {
    path = path.slice("/storage/v1".length);
  }
  const seg = path.split("/").slice(1);
  if (seg[0] !== "b") throw notImplemented(method, url);
  model.authorize(req.headers.authorization);
  if (seg.length === 1 && method === "POST") return insertBucket(model, req, res);
  const bucket = decodeURIComponent(seg[1] ?? "");
  if (seg.length === 2 && method === "GET") {
    model.permit("storage.buckets.get", bucket);
    return sendJson(res, 200, bucketResource(model.bucket(bucket)));
  }
  if (seg.length === 2 && method === "DELETE") {
    model.permit("storage.buckets.delete", bucket);
    if (model.bucket(bucket).objects.size > 0) {
      throw new HttpError(409, "conflict", "The bucket you tried to delete is not empty.");
    }
    model.buckets.delete(bucket);
    res.writeHead(204).end();
    return;
  }
  if (seg[2] === "iam" && seg[3] === "testPermissions" && seg.length === 4 && method === "GET") {
    model.bucket(bucket);
    const permissions = model.heldPermissions(url.searchParams.getAll("permissions"));
    return sendJson(res, 200, { kind: "storage#testIamPermissionsResponse", permissions });
  }
  if (seg[2] !== "o") throw notImplemented(method, url);
  if (seg.length === 3 && method === "GET") {
    model.permit("storage.objects.list", bucket);
    return sendJson(res, 200, model.list(bucket, url.searchParams));
  }
  const name = decodeURIComponent(seg.slice(3).join("/"));
  if (name === "") throw notImplemented(method, url);
  const generation = url.searchParams.get("generation");
  if (method === "GET") {
    model.permit("storage.objects.get", bucket);
    const obj = model.object(bucket, name, generation);
    if (forceMedia || url.searchParams.get("alt") === "media") return download(req, res, obj);
    return sendJson(res, 200, objectResource(obj));
  }
  if (method === "DELETE") {
    model.permit("storage.objects.delete", bucket);
    model.object(bucket, name, generation);
    model.bucket(bucket).objects.delete(name);
    res.writeHead(204).end();
    return;
  }
  throw notImplemented(method, url);
}

async function insertBucket(model: GcsModel, req: IncomingMessage, res: ServerResponse) {
  model.permit("storage.buckets.create", undefined);
  const name = stringField(parseMetadata(await readBody(req, 1024 * 1024)), "name");
  if (!name || !GcsModel.validBucketName(name)) {
    throw new HttpError(400, "invalid", "Invalid bucket name.");
  }
  if (model.buckets.has(name)) {
    throw new HttpError(
      409,
      "conflict",
      "Your previous request to create the named bucket succeeded and you already own it.",
    );
  }
  sendJson(res, 200, bucketResource(model.createBucket(name)));
}

/**
 * `?alt=media`. A gzip-encoded object goes out as stored when the client accepts gzip (the
 * official client does, and gunzips itself); otherwise GCS's decompressive transcoding.
 */
function download(req: IncomingMessage, res: ServerResponse, o: StandInObject): void {
  req.resume();
  const storedGzip = o.contentEncoding === "gzip";
  const acceptsGzip = /\bgzip\b/i.test(header(req, "accept-encoding") ?? "");
  const headers: Record<string, string> = {
    "content-type": o.contentType,
    "x-goog-generation": o.generation,
    "x-goog-metageneration": "1",
    "x-goog-stored-content-encoding": o.contentEncoding ?? "identity",
    "x-goog-stored-content-length": String(o.data.length),
    "last-modified": o.created.toUTCString(),
    etag: `"${o.md5Hash}"`,
  };
  if (storedGzip && !acceptsGzip) {
    const plain = gunzipSync(o.data);
    res.writeHead(200, { ...headers, "content-length": String(plain.length) }).end(plain);
    return;
  }
  headers["x-goog-hash"] = `crc32c=${o.crc32c},md5=${o.md5Hash}`;
  if (storedGzip) headers["content-encoding"] = "gzip";
  const range = parseRange(header(req, "range"), o.data.length);
  if (range === "unsatisfiable") {
    res.writeHead(416, { "content-range": `bytes */${o.data.length}` }).end();
    return;
  }
  if (range) {
    const part = o.data.subarray(range.start, range.end + 1);
    res
      .writeHead(206, {
        ...headers,
        "content-range": `bytes ${range.start}-${range.end}/${o.data.length}`,
        "content-length": String(part.length),
      })
      .end(part);
    return;
  }
  res.writeHead(200, { ...headers, "content-length": String(o.data.length) }).end(o.data);
}

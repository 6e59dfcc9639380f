/**
 * A protocol-level STAND-IN for S3 Select (`SelectObjectContent`), owned by this project, for
 * tests and the demo. No local S3 server speaks S3 Select (fauxqs answers it as if it were a
 * DeleteObjects call, and AWS closed S3 Select to new accounts in July 2024), so this small HTTP
 * server on 127.0.0.1 sits in front of an upstream S3 (fauxqs) and:
 *
 * - passes every request through unchanged, except
 * - `POST /<bucket>/<key>?select&select-type=2` (path-style, as the SDK sends it with
 *   `forcePathStyle`), which it answers itself: it parses the XML request (Expression,
 *   ExpressionType SQL, InputSerialization CompressionType NONE|GZIP with JSON Type LINES,
 *   OutputSerialization JSON RecordDelimiter), reads the object from the upstream with a plain
 *   unsigned GET (fauxqs accepts any or no credentials), decompresses it, evaluates the statement
 *   with `compileSelectStatement`, and streams the selected records, each as compact JSON plus the
 *   record delimiter, as AWS event-stream messages: `Records` events, one `Stats` event, `End`.
 *
 * Errors as S3 gives them: a statement that does not parse is a 400 `ParseUnexpectedToken`; an
 * object that is not what CompressionType says is a 400 before the stream starts (`TruncatedInput`
 * for GZIP on plain bytes, `JSONParsingError` for NONE on gzip bytes); a failure once records are
 * flowing (corrupt gzip, a line that is not JSON) is an error event. Upstream errors (NoSuchKey,
 * NoSuchBucket) are passed on as the upstream sent them.
 *
 * Faults for tests: `failAfterRecords` sends an `InternalError` error event after that many
 * selected records; `unsupported` answers as AWS answers an account created after S3 Select was
 * closed to new customers: `405 MethodNotAllowed` (what the AWS SDK for JavaScript's own e2e test
 * got, aws/aws-sdk-js-v3#7288). Both can be changed while the server runs.
 *
 * Not modelled: CSV and Parquet, BZIP2, JSON DOCUMENT, ScanRange, RequestProgress/Progress and
 * Cont events, SSE-C, signature checks.
 */
import { once } from "node:events";
import {
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { pipeline, Readable } from "node:stream";
import { crc32, createGunzip } from "node:zlib";
import { SelectSyntaxError } from "../select/types.js";
import { compileSelectStatement } from "../select/where.js";
import { forward } from "./http-forward.js";

export interface S3SelectStandInOptions {
  /** The S3 server requests go through to, e.g. fauxqs's `http://127.0.0.1:PORT`. */
  readonly upstream: string;
  /** 0 (the default) picks a free port. Always 127.0.0.1. */
  readonly port?: number;
  /** After this many selected records, an `InternalError` error event ends the stream. */
  readonly failAfterRecords?: number;
  /** Answer every Select with `405 MethodNotAllowed`, as AWS does for accounts without it. */
  readonly unsupported?: boolean;
  /** Records payload bytes gathered before a `Records` event is sent. Default 64 KiB. */
  readonly recordsEventBytes?: number;
}

export interface S3SelectStandIn {
  /** `http://127.0.0.1:PORT`: the S3 endpoint to give the SDK (with `forcePathStyle`). */
  readonly endpoint: string;
  failAfterRecords: number | undefined;
  unsupported: boolean;
  /** Select requests received (answered or refused). */
  readonly selectRequests: number;
  /** Other requests passed through to the upstream. */
  readonly passthroughRequests: number;
  close(): Promise<void>;
}

/** A header value of event-stream type 7 (string). */
type EventHeaders = Record<string, string>;

/**
 * One AWS event-stream message: total length and headers length (uint32 BE), the prelude's
 * CRC32, headers (name length byte, name, type 7, uint16 value length, value), the payload, and
 * the CRC32 of everything before it.
 */
export function encodeEventMessage(headers: EventHeaders, payload: Uint8Array = new Uint8Array()) {
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(headers)) {
    const n = Buffer.from(name, "utf8");
    const v = Buffer.from(value, "utf8");
    const head = Buffer.alloc(1 + n.length + 3);
    head.writeUInt8(n.length, 0);
    n.copy(head, 1);
    head.writeUInt8(7, 1 + n.length);
    head.writeUInt16BE(v.length, 2 + n.length);
    parts.push(head, v);
  }
  const headerBytes = Buffer.concat(parts);
  const total = 12 + headerBytes.length + payload.length + 4;
  const message = Buffer.alloc(total);
  message.writeUInt32BE(total, 0);
  message.writeUInt32BE(headerBytes.length, 4);
  message.writeUInt32BE(crc32(message.subarray(0, 8)), 8);
  headerBytes.copy(message, 12);
  message.set(payload, 12 + headerBytes.length);
  message.writeUInt32BE(crc32(message.subarray(0, total - 4)), total - 4);
  return message;
}

const recordsEvent = (payload: Uint8Array) =>
  encodeEventMessage(
    {
      ":message-type": "event",
      ":event-type": "Records",
      ":content-type": "application/octet-stream",
    },
    payload,
  );

const statsEvent = (scanned: number, processed: number, returned: number) =>
  encodeEventMessage(
    { ":message-type": "event", ":event-type": "Stats", ":content-type": "text/xml" },
    Buffer.from(
      `<?xml version="1.0" encoding="UTF-8"?><Stats xmlns=""><BytesScanned>${scanned}</BytesScanned><BytesProcessed>${processed}</BytesProcessed><BytesReturned>${returned}</BytesReturned></Stats>`,
      "utf8",
    ),
  );

const endEvent = () => encodeEventMessage({ ":message-type": "event", ":event-type": "End" });

const errorEvent = (code: string, message: string) =>
  encodeEventMessage({
    ":message-type": "error",
    ":error-code": code,
    ":error-message": message,
  });

export async function startS3SelectStandIn(opts: S3SelectStandInOptions): Promise<S3SelectStandIn> {
  const upstream = new URL(opts.upstream);
  const state = {
    failAfterRecords: opts.failAfterRecords,
    unsupported: opts.unsupported ?? false,
    selectRequests: 0,
    passthroughRequests: 0,
  };
  const eventBytes = opts.recordsEventBytes ?? 64 * 1024;
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://stand-in");
    if (req.method === "POST" && url.searchParams.has("select")) {
      state.selectRequests++;
      serveSelect(req, res, url, upstream, state, eventBytes).catch((err: unknown) => {
        if (!res.headersSent) {
          sendError(res, 500, "InternalError", err instanceof Error ? err.message : String(err));
        } else res.destroy();
      });
      return;
    }
    state.passthroughRequests++;
    forward(req, res, upstream);
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get failAfterRecords() {
      return state.failAfterRecords;
    },
    set failAfterRecords(n: number | undefined) {
      state.failAfterRecords = n;
    },
    get unsupported() {
      return state.unsupported;
    },
    set unsupported(v: boolean) {
      state.unsupported = v;
    },
    get selectRequests() {
      return state.selectRequests;
    },
    get passthroughRequests() {
      return state.passthroughRequests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface SelectRequest {
  readonly expression: string;
  readonly compression: "NONE" | "GZIP";
  readonly delimiter: string;
}

interface StandInState {
  failAfterRecords: number | undefined;
  unsupported: boolean;
}

async function serveSelect(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  upstream: URL,
  state: StandInState,
  eventBytes: number,
): Promise<void> {
  const body = await readBody(req, 1024 * 1024);
  if (state.unsupported) {
    res.setHeader("allow", "GET, PUT, HEAD, DELETE");
    sendError(
      res,
      405,
      "MethodNotAllowed",
      "The specified method is not allowed against this resource.",
      "<Method>POST</Method><ResourceType>OBJECT</ResourceType>",
    );
    return;
  }
  const parsed = parseSelectRequest(body);
  if ("error" in parsed) {
    sendError(res, parsed.status, parsed.error, parsed.message);
    return;
  }
  let predicate: (record: unknown) => boolean;
  try {
    predicate = compileSelectStatement(parsed.expression);
  } catch (err) {
    const message =
      err instanceof SelectSyntaxError
        ? `${err.message} (at character ${err.offset + 1})`
        : String(err);
    sendError(res, 400, "ParseUnexpectedToken", message);
    return;
  }
  const object = await upstreamGet(upstream, url.pathname);
  if (object.statusCode !== 200) {
    res.writeHead(object.statusCode ?? 502, {
      "content-type": object.headers["content-type"] ?? "application/xml",
      "x-amz-request-id": "s3-select-standin",
    });
    object.pipe(res);
    return;
  }
  let scanned = 0;
  let processed = 0;
  let returned = 0;
  let sentRecords = 0;
  const first = await firstChunk(object);
  const isGzip = first.length >= 2 && first[0] === 0x1f && first[1] === 0x8b;
  if (first.length > 0 && isGzip !== (parsed.compression === "GZIP")) {
    object.destroy();
    if (isGzip)
      sendError(
        res,
        400,
        "JSONParsingError",
        "Error parsing JSON file. Please check the file and try again.",
      );
    else
      sendError(
        res,
        400,
        "TruncatedInput",
        "Object decompression failed. Check that the object is properly compressed using the format specified in the request.",
      );
    return;
  }
  res.writeHead(200, {
    "content-type": "application/octet-stream",
    "x-amz-request-id": "s3-select-standin",
  });
  // The client went away (or the answer ended): stop reading the upstream.
  let gone = false;
  const goneEvent = new Promise<void>((resolve) =>
    res.once("close", () => {
      gone = true;
      resolve();
    }),
  );
  const write = async (frame: Buffer): Promise<boolean> => {
    if (gone) return false;
    if (res.write(frame)) return true;
    await Promise.race([once(res, "drain"), goneEvent]);
    return !gone;
  };

  async function* raw(): AsyncGenerator<Buffer> {
    scanned += first.length;
    if (first.length > 0) yield first;
    for await (const chunk of object as AsyncIterable<Buffer>) {
      scanned += chunk.length;
      yield chunk;
    }
  }
  const raws = Readable.from(raw());
  // pipeline destroys every stage on an error, so a corrupt gzip surfaces in the loop below.
  const source: Readable =
    parsed.compression === "GZIP" ? pipeline(raws, createGunzip(), () => {}) : raws;

  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async () => {
    if (pendingBytes === 0) return true;
    const payload = Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    returned += payload.length;
    return write(recordsEvent(payload));
  };
  const fail = async (code: string, message: string) => {
    await flush();
    source.destroy();
    object.destroy();
    if (!gone) res.end(errorEvent(code, message));
  };

  let carry: Buffer = Buffer.alloc(0);
  let line = 0;
  const handleLine = (bytes: Buffer): string | undefined => {
    line++;
    processed += bytes.length + 1;
    const text = bytes.toString("utf8").replace(/\r$/, "");
    if (text.trim() === "") return undefined;
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch {
      return `Error parsing JSON file (line ${line}). Please check the file and try again.`;
    }
    if (!predicate(record)) return undefined;
    const out = Buffer.from(JSON.stringify(record) + parsed.delimiter, "utf8");
    pending.push(out);
    pendingBytes += out.length;
    sentRecords++;
    return undefined;
  };
  try {
    for await (const chunk of source) {
      let data = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      let nl = data.indexOf(0x0a);
      while (nl !== -1) {
        const bad = handleLine(data.subarray(0, nl));
        if (bad !== undefined) return await fail("JSONParsingError", bad);
        if (state.failAfterRecords !== undefined && sentRecords >= state.failAfterRecords) {
          return await fail("InternalError", "We encountered an internal error. Please try again.");
        }
        data = data.subarray(nl + 1);
        nl = data.indexOf(0x0a);
      }
      carry = Buffer.from(data);
      if (pendingBytes >= eventBytes && !(await flush())) return;
    }
  } catch {
    return await fail(
      "TruncatedInput",
      "Object decompression failed. Check that the object is properly compressed using the format specified in the request.",
    );
  }
  if (carry.length > 0) {
    const bad = handleLine(carry);
    if (bad !== undefined) return await fail("JSONParsingError", bad);
    processed--;
  }
  if (state.failAfterRecords !== undefined && sentRecords >= state.failAfterRecords) {
    return await fail("InternalError", "We encountered an internal error. Please try again.");
  }
  if (!(await flush())) return;
  if (!(await write(statsEvent(scanned, processed, returned)))) return;
  res.end(endEvent());
}

/** The request's fields, or the S3 error it deserves. */
function parseSelectRequest(
  xml: string,
): SelectRequest | { status: number; error: string; message: string } {
  const expression = xmlText(xml, "Expression");
  if (expression === undefined || expression.trim() === "") {
    return { status: 400, error: "MissingRequiredParameter", message: "Expression is missing" };
  }
  const type = xmlText(xml, "ExpressionType");
  if (type !== "SQL") {
    return {
      status: 400,
      error: "InvalidExpressionType",
      message: "The ExpressionType is invalid. Only SQL expressions are supported.",
    };
  }
  const input = xmlText(xml, "InputSerialization") ?? "";
  const compression = xmlText(input, "CompressionType") ?? "NONE";
  if (compression !== "NONE" && compression !== "GZIP") {
    return {
      status: 501,
      error: "NotImplemented",
      message: `the S3 Select stand-in does not model CompressionType ${compression}`,
    };
  }
  const json = xmlText(input, "JSON");
  if (json === undefined || (xmlText(json, "Type") ?? "DOCUMENT") !== "LINES") {
    return {
      status: 501,
      error: "NotImplemented",
      message: "the S3 Select stand-in models JSON LINES input only",
    };
  }
  const output = xmlText(xml, "OutputSerialization") ?? "";
  const outJson = xmlText(output, "JSON");
  if (outJson === undefined) {
    return {
      status: 501,
      error: "NotImplemented",
      message: "the S3 Select stand-in models JSON output only",
    };
  }
  return { expression, compression, delimiter: xmlText(outJson, "RecordDelimiter") ?? "\n" };
}

/** The decoded text of the first `<tag>` element (nested markup left as is), or undefined. */
function xmlText(xml: string, tag: string): string | undefined {
  const match = new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}>`).exec(xml);
  if (match?.[1] === undefined) {
    return new RegExp(`<${tag}(?:\\s[^>]*)?/>`).test(xml) ? "" : undefined;
  }
  return match[1].replace(/&(#x[0-9a-fA-F]+|#[0-9]+|lt|gt|amp|quot|apos);/g, (_, e: string) => {
    if (e.startsWith("#x")) return String.fromCodePoint(Number.parseInt(e.slice(2), 16));
    if (e.startsWith("#")) return String.fromCodePoint(Number.parseInt(e.slice(1), 10));
    return { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" }[e] ?? "";
  });
}

const xmlEscape = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function sendError(res: ServerResponse, status: number, code: string, message: string, extra = "") {
  res.writeHead(status, {
    "content-type": "application/xml",
    "x-amz-request-id": "s3-select-standin",
  });
  res.end(
    `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message>${extra}<RequestId>s3-select-standin</RequestId></Error>`,
  );
}

async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new Error(`Select request body over ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** A plain GET of `path` (`/bucket/key`, still URL-encoded) from the upstream, unsigned. */
function upstreamGet(upstream: URL, path: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const up = request(
      { host: upstream.hostname, port: upstream.port, method: "GET", path },
      resolve,
    );
    up.on("error", reject);
    up.end();
  });
}

/** The first chunk of a body (empty when the body is empty); the rest stays unread. */
async function firstChunk(body: IncomingMessage): Promise<Buffer> {
  for (;;) {
    const chunk = body.read() as Buffer | null;
    if (chunk !== null) return chunk;
    if (body.readableEnded) return Buffer.alloc(0);
    const [event] = (await Promise.race([
      once(body, "readable").then(() => ["readable"]),
      once(body, "end").then(() => ["end"]),
    ])) as string[];
    if (event === "end") return Buffer.alloc(0);
  }
}

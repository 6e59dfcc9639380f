import {
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { forward as forwardUnchanged } from "../../src/local/http-forward.js";

/**
 * A small fault-injecting HTTP proxy, owned by the project, for tests against real local
 * servers: requests go through to `upstream` unless a rule matches, in which case the rule's
 * fault is served instead (an error status with an AWS-style XML or JSON body, a response cut
 * after some bytes, a delay, or a rewrite of the request and response bodies on their way
 * through). Rules fire `times` times (default: forever). It speaks plain HTTP on 127.0.0.1 only.
 */
export interface FaultRule {
  readonly method?: string;
  /** Tested against the request path and query. */
  readonly path?: RegExp;
  /** Tested against the request headers (e.g. `x-amz-target` for JSON protocols). */
  readonly header?: { name: string; value: RegExp };
  times?: number;
  readonly fault:
    | { kind: "status"; status: number; body?: string; contentType?: string }
    /** Cut the response after `afterBytes` body bytes; with `holdMs`, hold them that long first. */
    | { kind: "cut"; afterBytes: number; holdMs?: number }
    | { kind: "delay"; ms: number }
    | { kind: "rewrite"; rewrite: (requestBody: string) => Rewrite };
}

/**
 * What a `rewrite` rule does with one request: forwards `request` instead of the body it got
 * (unchanged when absent), then answers with `response(upstreamBody)` instead of the upstream's
 * body (unchanged when absent), status and other headers as the upstream sent them. It lets a
 * test make a service answer partly (Kinesis PutRecords with some entries failed) while the
 * entries reported as stored really are stored upstream.
 */
export interface Rewrite {
  readonly request?: string;
  readonly response?: (upstreamBody: string) => string;
}

export interface FaultProxy {
  readonly endpoint: string;
  readonly rules: FaultRule[];
  /** How many requests each rule answered, by index in `rules`. */
  readonly hits: number[];
  close(): Promise<void>;
}

/** The XML error body S3 sends, so the SDK raises the named error. */
export function s3ErrorXml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault-proxy</RequestId></Error>`;
}

export async function startFaultProxy(
  upstream: string,
  rules: FaultRule[] = [],
): Promise<FaultProxy> {
  const target = new URL(upstream);
  const hits: number[] = [];
  const server: Server = createServer((req, res) => {
    const index = rules.findIndex((r) => matches(r, req));
    const rule = rules[index];
    if (rule && (rule.fault.kind === "status" || rule.fault.kind === "cut")) {
      hits[index] = (hits[index] ?? 0) + 1;
      if (rule.times !== undefined) rule.times--;
      if (rule.fault.kind === "status") {
        req.resume();
        res.writeHead(rule.fault.status, {
          "content-type": rule.fault.contentType ?? "application/xml",
          "x-amz-request-id": "fault-proxy",
        });
        res.end(rule.fault.body ?? "");
        return;
      }
      forward(req, res, target, rule.fault.afterBytes, rule.fault.holdMs);
      return;
    }
    if (rule && rule.fault.kind === "rewrite") {
      hits[index] = (hits[index] ?? 0) + 1;
      if (rule.times !== undefined) rule.times--;
      const { rewrite } = rule.fault;
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const got = Buffer.concat(chunks).toString("utf8");
        const rw = rewrite(got);
        forwardRewritten(req, res, target, rw.request ?? got, rw.response);
      });
      return;
    }
    if (rule && rule.fault.kind === "delay") {
      hits[index] = (hits[index] ?? 0) + 1;
      if (rule.times !== undefined) rule.times--;
      setTimeout(() => forward(req, res, target), rule.fault.ms);
      return;
    }
    forward(req, res, target);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    rules,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function matches(rule: FaultRule, req: IncomingMessage): boolean {
  if (rule.times !== undefined && rule.times <= 0) return false;
  if (rule.method && rule.method !== req.method) return false;
  if (rule.path && !rule.path.test(req.url ?? "")) return false;
  if (rule.header) {
    const v = req.headers[rule.header.name.toLowerCase()];
    if (typeof v !== "string" || !rule.header.value.test(v)) return false;
  }
  return true;
}

/**
 * Pipes the request upstream; with `cutAfter`, the response body is cut after that many bytes,
 * `holdMs` after they were sent (a server dropping a connection that went quiet).
 */
function forward(
  req: IncomingMessage,
  res: ServerResponse,
  target: URL,
  cutAfter?: number,
  holdMs = 0,
): void {
  if (cutAfter === undefined) {
    forwardUnchanged(req, res, target);
    return;
  }
  forwardUnchanged(req, res, target, (upRes) => {
    let sent = 0;
    const drop = () => {
      // The promised Content-Length is never reached: the client sees a dropped connection.
      res.flushHeaders();
      res.socket?.destroy();
      upRes.destroy();
    };
    const cut = () => {
      if (holdMs > 0) setTimeout(drop, holdMs);
      else drop();
    };
    if (cutAfter <= 0) {
      cut();
      return;
    }
    upRes.on("data", (chunk: Buffer) => {
      if (sent >= cutAfter) return;
      const part = chunk.subarray(0, cutAfter - sent);
      sent += part.length;
      res.write(part);
      if (sent >= cutAfter) cut();
    });
    upRes.on("end", () => {
      if (sent < cutAfter) res.end();
    });
  });
}

/** Sends `text` upstream as the request's body; the answer's body goes through `response`. */
function forwardRewritten(
  req: IncomingMessage,
  res: ServerResponse,
  target: URL,
  text: string,
  response: Rewrite["response"],
): void {
  const body = Buffer.from(text, "utf8");
  const headers = { ...req.headers, "content-length": String(body.length) };
  delete headers["transfer-encoding"];
  const up = request(
    { host: target.hostname, port: target.port, method: req.method, path: req.url, headers },
    (upRes) => {
      const chunks: Buffer[] = [];
      upRes.on("data", (c: Buffer) => chunks.push(c));
      upRes.on("end", () => {
        const upstream = Buffer.concat(chunks).toString("utf8");
        const out = Buffer.from(response ? response(upstream) : upstream, "utf8");
        const resHeaders: Record<string, string | string[] | undefined> = {
          ...upRes.headers,
          "content-length": String(out.length),
        };
        delete resHeaders["transfer-encoding"];
        // Checksums of the upstream body (DynamoDB-style) no longer hold.
        delete resHeaders["x-amz-crc32"];
        res.writeHead(upRes.statusCode ?? 502, resHeaders);
        res.end(out);
      });
    },
  );
  up.on("error", () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  up.end(body);
}

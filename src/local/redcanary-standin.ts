/**
 * A local STAND-IN of the Red Canary REST API (SPEC.md section 4), owned by this project, for
 * tests and the demo: no public test server exists. A node:http server on 127.0.0.1 serving the
 * simulated fleet (fleet.ts) under `/openapi/v3/`:
 *
 * - `GET endpoints?page=&per_page=`: the fleet in order, in the envelope
 *   `{"meta":{"api_version":"v3","total_items":N},"data":[{"type":"Endpoint","id","attributes"}]}`.
 *   `page` is 1-based (default 1), `per_page` defaults to 25 and is clamped to `maxPerPage`, as
 *   paging APIs do; a page past the end has empty `data`.
 * - `GET endpoints/{id}`: one endpoint, `data` being the object itself.
 *
 * ASSUMPTION: the endpoint `id` is the EDR sensor id (`sensor_id` of the telemetry) as a string.
 * How a telemetry record names its Red Canary endpoint is not public, so the exporter makes the
 * join key and lookup configurable; this stand-in just picks the simplest join.
 *
 * Attributes: `hostname`, `platform`, `operating_system` from the sensor; `is_isolated` false,
 * `is_decommissioned` false, `monitoring_status` "online", `endpoint_status` "active",
 * `last_checkin_time` (ISO 8601, up to an hour before the server started, fixed per sensor) and
 * `endpoint_network_addresses`, one per sensor, in the nested shape public Red Canary clients read
 * (the Cortex XSOAR integration's tests):
 * `{"attributes":{"ip_address":{"type":"primitives.IpAddress","attributes":{"ip_address":"10.1.2.3",...}},
 *   "mac_address":{"type":"primitives.MacAddress","attributes":{"address":"02:..."}}}}`
 * (`mac_address` may be null on the real API).
 *
 * Behaviour, in this order: an outage set with `setDown` (503, or the socket destroyed; neither
 * counts toward the rate limit); the rate limit (429 with a JSON body and no Retry-After); the
 * key in `X-Api-Key` (403 when missing or wrong); routing (404 for unknown ids or paths, 405
 * for other methods, 400 for a bad page). The rate limit counts every arrival over sliding windows,
 * INCLUDING those answered 429 or 403, as real APIs usually do: a client that keeps sending while
 * limited stays limited. All callers share one budget (they are all on 127.0.0.1: one IP).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { buildFleet, type Sensor } from "./fleet.js";

export interface StandInRateLimit {
  readonly count: number;
  readonly windowMs: number;
}

export interface RedCanaryStandInOptions {
  /** The one valid API key. Default "local-red-canary-key". */
  readonly token?: string;
  /** Default buildFleet(). */
  readonly fleet?: readonly Sensor[];
  /** Requests per 1 s window. Default 10. Ignored when `limits` is given. */
  readonly perSecond?: number;
  /** Requests per 60 s window. Default 20. Ignored when `limits` is given. */
  readonly perMinute?: number;
  /** Any set of sliding windows, for fast tests. Default from perSecond and perMinute. */
  readonly limits?: readonly StandInRateLimit[];
  /** Largest `per_page` honoured. Default 100. */
  readonly maxPerPage?: number;
  /** 0 (the default) picks a free port. Always 127.0.0.1. */
  readonly port?: number;
}

export interface StandInRequest {
  /** Arrival, epoch milliseconds with sub-millisecond precision (monotonic clock). */
  readonly at: number;
  /** Path and query as received. */
  readonly path: string;
  /** Status answered; 0 when the socket was destroyed (`setDown("reset")`). */
  readonly status: number;
}

export type StandInDownMode = false | "503" | "reset";

export interface RedCanaryStandIn {
  /** Base URL ending in `/openapi/v3/`. */
  readonly url: string;
  readonly token: string;
  /** Every request received. */
  readonly requests: number;
  /** Answered 2xx. */
  readonly served: number;
  /** Answered 429. */
  readonly rateLimited: number;
  /** Answered 403. */
  readonly forbidden: number;
  readonly requestLog: readonly StandInRequest[];
  /** The most requests not answered 429 whose arrivals lie within any window of `ms`. */
  maxInWindow(ms: number): number;
  /** Simulates an outage until set back to false. */
  setDown(mode: StandInDownMode): void;
  /** Stops the server, dropping open connections. Idempotent. */
  close(): Promise<void>;
}

export const DEFAULT_STANDIN_TOKEN = "local-red-canary-key";
const BASE_PATH = "/openapi/v3/";
const DEFAULT_PER_PAGE = 25;

const clockMs = () => performance.timeOrigin + performance.now();

class StandIn implements RedCanaryStandIn {
  url = "";
  requests = 0;
  served = 0;
  rateLimited = 0;
  forbidden = 0;
  readonly requestLog: StandInRequest[] = [];
  private down: StandInDownMode = false;
  private readonly arrivals: number[] = [];
  private readonly longestWindow: number;
  private readonly byId: Map<string, Sensor>;
  private readonly startedAt = Date.now();
  private closed: Promise<void> | undefined;
  server: Server | undefined;

  constructor(
    readonly token: string,
    private readonly fleet: readonly Sensor[],
    private readonly limits: readonly StandInRateLimit[],
    private readonly maxPerPage: number,
  ) {
    this.longestWindow = Math.max(0, ...limits.map((l) => l.windowMs));
    this.byId = new Map(fleet.map((s) => [String(s.sensor_id), s]));
  }

  maxInWindow(ms: number): number {
    const times = this.requestLog.filter((r) => r.status !== 429).map((r) => r.at);
    let best = 0;
    for (let first = 0, last = 0; last < times.length; last++) {
      while ((times[last] as number) - (times[first] as number) >= ms) first++;
      best = Math.max(best, last - first + 1);
    }
    return best;
  }

  setDown(mode: StandInDownMode): void {
    this.down = mode;
  }

  close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return Promise.resolve();
    this.closed ??= new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
    return this.closed;
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const at = clockMs();
    const path = req.url ?? "/";
    this.requests++;
    req.resume();
    if (this.down === "reset") {
      this.requestLog.push({ at, path, status: 0 });
      req.socket.destroy();
      return;
    }
    const [status, body] = this.answer(req, at, path);
    this.requestLog.push({ at, path, status });
    if (status >= 200 && status < 300) this.served++;
    if (status === 429) this.rateLimited++;
    if (status === 403) this.forbidden++;
    const text = JSON.stringify(body);
    res.writeHead(status, {
      "Content-Type": "application/json; charset=utf-8",
      "Content-Length": Buffer.byteLength(text),
    });
    res.end(text);
  }

  private answer(req: IncomingMessage, at: number, path: string): [number, unknown] {
    const fail = (status: number, message: string): [number, unknown] => [
      status,
      { errors: [message] },
    ];
    if (this.down === "503") return fail(503, "Service Unavailable");
    if (this.overLimit(at)) return fail(429, "Rate limit exceeded");
    if (req.headers["x-api-key"] !== this.token) return fail(403, "Forbidden: invalid API key");
    const url = new URL(path, "http://stand-in");
    if (!url.pathname.startsWith(BASE_PATH)) return fail(404, "Not Found");
    const route = url.pathname.slice(BASE_PATH.length).split("/");
    if (route[0] !== "endpoints" || route.length > 2) return fail(404, "Not Found");
    if (req.method !== "GET") return fail(405, "Method Not Allowed");
    if (route.length === 2) {
      const sensor = this.byId.get(safeDecode(route[1] ?? ""));
      if (sensor === undefined) return fail(404, "Endpoint not found");
      return [200, { meta: { api_version: "v3", total_items: 1 }, data: this.resource(sensor) }];
    }
    const page = intParam(url, "page", 1);
    const perPage = intParam(url, "per_page", DEFAULT_PER_PAGE);
    if (page === undefined || perPage === undefined) {
      return fail(400, "page and per_page must be integers >= 1");
    }
    const size = Math.min(perPage, this.maxPerPage);
    const slice = this.fleet.slice((page - 1) * size, page * size);
    const meta = { api_version: "v3", total_items: this.fleet.length };
    return [200, { meta, data: slice.map((s) => this.resource(s)) }];
  }

  /** Counts this arrival, then tells whether any window now holds more than its count. */
  private overLimit(at: number): boolean {
    const horizon = at - this.longestWindow;
    let stale = 0;
    while (stale < this.arrivals.length && (this.arrivals[stale] as number) <= horizon) stale++;
    if (stale > 0) this.arrivals.splice(0, stale);
    this.arrivals.push(at);
    return this.limits.some((l) => {
      let inWindow = 0;
      for (let i = this.arrivals.length - 1; i >= 0; i--) {
        if (at - (this.arrivals[i] as number) >= l.windowMs) break;
        inWindow++;
      }
      return inWindow > l.count;
    });
  }

  private resource(s: Sensor) {
    const lastCheckin = new Date(this.startedAt - (s.sensor_id % 3600) * 1000);
    const octets = s.ip_address.split(".");
    return {
      type: "Endpoint",
      id: String(s.sensor_id),
      attributes: {
        hostname: s.hostname,
        platform: s.platform,
        operating_system: s.operating_system,
        is_isolated: false,
        is_decommissioned: false,
        monitoring_status: "online",
        endpoint_status: "active",
        last_checkin_time: lastCheckin.toISOString(),
        endpoint_network_addresses: [
          {
            attributes: {
              ip_address: {
                type: "primitives.IpAddress",
                attributes: {
                  ip_address: s.ip_address,
                  ip_address_defanged: `${octets.slice(0, -1).join(".")}[.]${octets.at(-1)}`,
                  "ip_address_matches_rfc_1918?": true,
                  "ip_address_matches_rfc_4193?": false,
                  "ip_address_is_link_local?": false,
                  ip_address_reverse_dns: null,
                },
              },
              mac_address: {
                type: "primitives.MacAddress",
                attributes: { address: s.mac_address },
              },
            },
          },
        ],
      },
    };
  }
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function intParam(url: URL, name: string, fallback: number): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null) return fallback;
  if (!/^\d+$/.test(raw)) return undefined;
  const n = Number(raw);
  return n >= 1 && Number.isSafeInteger(n) ? n : undefined;
}

export async function startRedCanaryStandIn(
  opts: RedCanaryStandInOptions = {},
): Promise<RedCanaryStandIn> {
  const limits = opts.limits ?? [
    { count: opts.perSecond ?? 10, windowMs: 1000 },
    { count: opts.perMinute ?? 20, windowMs: 60_000 },
  ];
  const standIn = new StandIn(
    opts.token ?? DEFAULT_STANDIN_TOKEN,
    opts.fleet ?? buildFleet(),
    limits,
    opts.maxPerPage ?? 100,
  );
  const server = createServer((req, res) => standIn.handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", () => resolve());
  });
  standIn.server = server;
  standIn.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${BASE_PATH}`;
  return standIn;
}

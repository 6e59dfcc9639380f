import { createServer, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { inspect } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ExporterError } from "../../src/core/errors.js";
import {
  type ApiRequestOutcome,
  RedCanaryApiClient,
  type RedCanaryApiClientOptions,
  redCanaryApiUrl,
} from "../../src/enrich/api-client.js";
import { type RateLimit, RateLimiter } from "../../src/enrich/rate-limiter.js";
import type { EndpointResource } from "../../src/enrich/types.js";
import { buildFleet, EXAMPLE_SENSOR_ID } from "../../src/local/fleet.js";
import { type RedCanaryStandIn, startRedCanaryStandIn } from "../../src/local/redcanary-standin.js";

/**
 * The API client against the project's Red Canary stand-in (src/local/redcanary-standin.ts)
 * over loopback HTTP, with windows shortened so that rate limiting shows in seconds.
 */

const TOKEN = "s3cr3t-key-4b1d9e";
const fleet = buildFleet();
const started: RedCanaryStandIn[] = [];
const servers: Server[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.close()));
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise<void>((resolve) => {
          s.closeAllConnections();
          s.close(() => resolve());
        }),
    ),
  );
});

async function standIn(limits: RateLimit[] = [{ count: 50, windowMs: 1000 }], maxPerPage = 100) {
  const s = await startRedCanaryStandIn({ token: TOKEN, limits, maxPerPage });
  started.push(s);
  return s;
}

function client(
  baseUrl: string,
  over: Partial<RedCanaryApiClientOptions> & { limits?: RateLimit[] } = {},
) {
  const outcomes: ApiRequestOutcome[] = [];
  const limiter = new RateLimiter({
    limits: over.limits ?? [{ count: 50, windowMs: 1000 }],
    marginMs: 50,
  });
  const api = new RedCanaryApiClient({
    baseUrl,
    token: TOKEN,
    limiter,
    retryBackoff: { baseMs: 20, maxMs: 100 },
    rateLimitBackoff: { baseMs: 400, maxMs: 1600 },
    onRequest: (o) => outcomes.push(o),
    ...over,
  });
  return { api, outcomes, limiter };
}

/** A raw server for answers the stand-in never gives. */
async function rawServer(handler: RequestListener): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/openapi/v3`;
}

async function caught(p: Promise<unknown>): Promise<ExporterError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ExporterError);
  const text = `${inspect(err, { depth: 10 })} ${JSON.stringify(err)} ${String((err as Error).cause)}`;
  expect(text).not.toContain(TOKEN);
  return err as ExporterError;
}

function ipOf(resource: EndpointResource): unknown {
  const [address] = resource.attributes.endpoint_network_addresses as {
    attributes: { ip_address: { attributes: { ip_address: string } } };
  }[];
  return address?.attributes.ip_address.attributes.ip_address;
}

describe("Red Canary API client against the stand-in", () => {
  it("builds the API URL from the customer identifier", () => {
    expect(redCanaryApiUrl(" Acme-Corp ")).toBe("https://acme-corp.my.redcanary.co/openapi/v3/");
    expect(() => redCanaryApiUrl("acme.evil.example/")).toThrow(/not a host name label/);
  });

  it("pages through the whole fleet, with per_page clamped to the server's maximum", async () => {
    const s = await standIn();
    const { api } = client(s.url);

    const seen: EndpointResource[] = [];
    for (let page = 1; ; page++) {
      const result = await api.listEndpoints(page, 150);
      expect(result.totalItems).toBe(200);
      if (result.endpoints.length === 0) break;
      expect(result.endpoints.length).toBeLessThanOrEqual(100);
      seen.push(...result.endpoints);
    }

    expect(seen.map((e) => e.id)).toEqual(fleet.map((f) => String(f.sensor_id)));
    expect(s.requestLog.map((r) => r.path)).toContain("/openapi/v3/endpoints?page=1&per_page=150");
    expect(s.served).toBe(3);
  });

  it("looks up one endpoint, and answers null for an unknown one", async () => {
    const s = await standIn();
    const { api, outcomes } = client(s.url);
    const sensor = fleet[0];

    const found = await api.getEndpoint(String(EXAMPLE_SENSOR_ID));
    const missing = await api.getEndpoint("999999999");
    const odd = await api.getEndpoint("no/such id");

    expect(found?.id).toBe(String(EXAMPLE_SENSOR_ID));
    expect(found?.attributes).toMatchObject({
      hostname: sensor?.hostname,
      platform: sensor?.platform,
      operating_system: sensor?.operating_system,
      is_isolated: false,
      is_decommissioned: false,
      monitoring_status: "online",
      endpoint_status: "active",
    });
    expect(ipOf(found as EndpointResource)).toBe(sensor?.ip_address);
    expect(missing).toBeNull();
    expect(odd).toBeNull();
    expect(outcomes).toEqual(["ok", "not_found", "not_found"]);
  });

  it("a wrong key is api_unauthorized, permanent, without the key in anything thrown", async () => {
    const s = await startRedCanaryStandIn({ token: "the-right-key" });
    started.push(s);
    const { api } = client(s.url);

    const err = await caught(api.getEndpoint(String(EXAMPLE_SENSOR_ID)));

    expect(err.code).toBe("api_unauthorized");
    expect(err.kind).toBe("permanent");
    expect(err.message).toContain("red_canary_authentication_token");
    expect(err.message).toContain("/openapi/v3/endpoints/529");
    expect(err.message).toContain("403");
    expect(s.forbidden).toBe(1);
  });

  it("a burst of 60 lookups stays within the server's limits and is never answered 429", async () => {
    const limits = [
      { count: 5, windowMs: 500 },
      { count: 10, windowMs: 1500 },
    ];
    const s = await standIn(limits);
    const { api, outcomes } = client(s.url, { limits });
    const ids = Array.from({ length: 60 }, (_, i) => String(fleet[i]?.sensor_id));

    const results = await Promise.all(ids.map((id) => api.getEndpoint(id)));

    expect(results.map((r) => r?.id)).toEqual(ids);
    expect(s.rateLimited).toBe(0);
    expect(s.served).toBe(60);
    expect(s.maxInWindow(500)).toBeLessThanOrEqual(5);
    expect(s.maxInWindow(1500)).toBeLessThanOrEqual(10);
    expect(outcomes.every((o) => o === "ok")).toBe(true);
  });

  it("backs off after 429s when its own limiter is looser than the server, then succeeds", async () => {
    const s = await standIn([{ count: 3, windowMs: 300 }]);
    const { api, outcomes } = client(s.url, { maxAttempts: 6 });
    const ids = fleet.slice(0, 8).map((f) => String(f.sensor_id));

    const results = await Promise.all(ids.map((id) => api.getEndpoint(id)));

    expect(results.map((r) => r?.id)).toEqual(ids);
    expect(s.rateLimited).toBeGreaterThan(0);
    expect(outcomes.filter((o) => o === "rate_limited")).toHaveLength(s.rateLimited);
    expect(outcomes.filter((o) => o === "ok")).toHaveLength(8);
  });

  it("gives up with api_rate_limited when 429s outlast its attempts", async () => {
    const s = await standIn([{ count: 1, windowMs: 10_000 }]);
    const { api } = client(s.url, { maxAttempts: 2, rateLimitBackoff: { baseMs: 20, maxMs: 40 } });
    await api.getEndpoint(String(EXAMPLE_SENSOR_ID));

    const err = await caught(api.getEndpoint(String(EXAMPLE_SENSOR_ID)));

    expect(err.code).toBe("api_rate_limited");
    expect(err.kind).toBe("retryable");
    expect(s.rateLimited).toBe(2);
  });

  it.each(["503", "reset"] as const)(
    "an outage (%s) is api_unavailable after its attempts, and the next call works again",
    async (mode) => {
      const s = await standIn();
      const { api, outcomes } = client(s.url);

      s.setDown(mode);
      const err = await caught(api.getEndpoint(String(EXAMPLE_SENSOR_ID)));
      expect(err.code).toBe("api_unavailable");
      expect(err.kind).toBe("retryable");
      expect(err.message).toContain("/openapi/v3/endpoints/529");
      expect(err.message).toContain("4 attempts");
      expect(s.requests).toBe(4);
      expect(outcomes).toEqual(["error", "error", "error", "error"]);

      s.setDown(false);
      expect((await api.getEndpoint(String(EXAMPLE_SENSOR_ID)))?.id).toBe("529");
    },
  );
});

describe("Red Canary API client against odd answers", () => {
  let hangingUrl: string;

  beforeAll(async () => {
    // Accepts the request and never answers.
    const server = createServer(() => {});
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    hangingUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/openapi/v3/`;
    afterAll(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    );
  });

  it("a server that never answers times out into api_unavailable", async () => {
    const { api } = client(hangingUrl, { timeoutMs: 150, maxAttempts: 2 });
    const err = await caught(api.listEndpoints(1, 10));
    expect(err.code).toBe("api_unavailable");
    expect(err.message).toContain("timed out after 150 ms");
  });

  it("the caller's abort rejects promptly with its reason", async () => {
    const { api } = client(hangingUrl, { timeoutMs: 10_000 });
    const controller = new AbortController();
    const reason = new Error("shutdown");
    const call = api.getEndpoint("1", controller.signal);
    setTimeout(() => controller.abort(reason), 50);
    const startedAt = Date.now();
    await expect(call).rejects.toBe(reason);
    expect(Date.now() - startedAt).toBeLessThan(1000);
  });

  it("accepts a one-element data array, and retries a body that is not the envelope", async () => {
    let calls = 0;
    const url = await rawServer((req, res) => {
      calls++;
      res.setHeader("Content-Type", "application/json");
      if (req.url?.endsWith("/endpoints/7")) {
        res.end(
          JSON.stringify({
            meta: {},
            data: [{ type: "Endpoint", id: 7, attributes: { hostname: "h" } }],
          }),
        );
      } else if (req.url?.endsWith("/endpoints/8")) {
        res.end("<html>maintenance</html>");
      } else {
        res.end(JSON.stringify({ data: [] }));
      }
    });
    const { api } = client(url);

    expect(await api.getEndpoint("7")).toEqual({ id: "7", attributes: { hostname: "h" } });
    expect(await api.getEndpoint("9")).toBeNull();
    const err = await caught(api.getEndpoint("8"));
    expect(err.code).toBe("api_unavailable");
    expect(err.message).toContain("not JSON");
    expect(calls).toBe(2 + 4);
  });

  it("does not follow a redirect, so the key never leaves for another host", async () => {
    let leaked = 0;
    const elsewhere = await rawServer((req, res) => {
      if (req.headers["x-api-key"] !== undefined) leaked++;
      res.end("{}");
    });
    const url = await rawServer((_req, res) => {
      res.writeHead(302, { Location: `${elsewhere}/endpoints/1` }).end();
    });
    const { api } = client(url);

    const err = await caught(api.getEndpoint("1"));
    expect(err.message).toContain("HTTP 302");
    expect(leaked).toBe(0);
  });
});

import { afterEach, describe, expect, it } from "vitest";
import { RedCanaryApiClient } from "../../src/enrich/api-client.js";
import { EndpointDirectory } from "../../src/enrich/endpoint-directory.js";
import { RateLimiter, RED_CANARY_RATE_LIMITS } from "../../src/enrich/rate-limiter.js";
import { buildFleet, EXAMPLE_SENSOR_ID } from "../../src/local/fleet.js";
import { type RedCanaryStandIn, startRedCanaryStandIn } from "../../src/local/redcanary-standin.js";
import { silentLogger } from "../../src/telemetry/logger.js";

/**
 * The endpoint directory with the real client against the Red Canary stand-in over loopback
 * HTTP, at the stand-in's default (real) limits of 10 requests/s and 20/min and its default
 * page clamp: the whole 200-endpoint fleet must cost a couple of requests, not one per endpoint.
 */

const TOKEN = "integration-key-7f3a";
const fleet = buildFleet();
const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(match: string) {
  const standIn: RedCanaryStandIn = await startRedCanaryStandIn({ token: TOKEN, fleet });
  cleanups.push(() => standIn.close());
  const api = new RedCanaryApiClient({
    baseUrl: standIn.url,
    token: TOKEN,
    limiter: new RateLimiter({ limits: RED_CANARY_RATE_LIMITS }),
  });
  const dir = new EndpointDirectory({
    api,
    maxEntries: 1000,
    ttlMs: 3_600_000,
    negativeTtlMs: 300_000,
    match,
    prefetch: true,
    perPage: 1000,
    logger: silentLogger(),
  });
  cleanups.push(() => dir.close());
  return { standIn, dir };
}

describe("EndpointDirectory against the Red Canary stand-in", () => {
  it("prefetch + resolve of the whole fleet by id costs at most 3 requests", async () => {
    const { standIn, dir } = await setup("id");
    await dir.start();
    const ids = fleet.map((s) => String(s.sensor_id));
    await dir.resolve([...ids, "999999999"]);

    expect(dir.size).toBe(fleet.length + 1);
    expect(dir.peek(String(EXAMPLE_SENSOR_ID))).toMatchObject({
      status: "found",
      endpoint: { id: String(EXAMPLE_SENSOR_ID) },
    });
    expect(dir.peek("999999999")).toEqual({ status: "not_found" });
    expect(standIn.requests).toBeLessThanOrEqual(3);
    expect(standIn.rateLimited).toBe(0);
  });

  it("prefetch + resolve by hostname costs at most 3 requests", async () => {
    const { standIn, dir } = await setup("hostname");
    await dir.start();
    await dir.resolve([...fleet.map((s) => s.hostname.toUpperCase()), "no-such-host"]);

    const first = fleet[0];
    expect(first && dir.peek(first.hostname)).toMatchObject({
      status: "found",
      endpoint: { id: String(first?.sensor_id) },
    });
    expect(dir.peek("no-such-host")).toEqual({ status: "not_found" });
    expect(standIn.requests).toBeLessThanOrEqual(3);
    expect(standIn.rateLimited).toBe(0);
  });
});

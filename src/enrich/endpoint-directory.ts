import { setMaxListeners } from "node:events";
import { LRUCache } from "lru-cache";
import type { Logger } from "pino";
import { abortable } from "../core/abortable.js";
import { backoffDelay } from "../core/backoff.js";
import { ExporterError } from "../core/errors.js";
import type { EndpointResource, RedCanaryApi } from "./types.js";

/**
 * The endpoint metadata cache in front of the Red Canary API (SPEC.md section 4). The API
 * allows 10 requests/s and 20/min, so the pipeline never asks it per record: it `peek`s per
 * distinct key per batch (synchronous), and only keys with no cached answer go to `resolve`,
 * which coalesces them into one request per key or one inventory load for all.
 *
 * Matching:
 * - `match: "id"`: the key is the endpoint id (`GET endpoints/{id}`, 404 = not found).
 * - any other `match` is a top-level attribute name (e.g. "hostname"): only the inventory
 *   (`GET endpoints` by pages) can answer. Values are compared as strings, case-insensitively
 *   (host names differ in case between the EDR and the API); numbers and booleans are
 *   stringified, other values (null, objects, arrays) never match. Two endpoints with the same
 *   value: the first in inventory order wins.
 *
 * Inventory: a complete load keeps a small index (key -> endpoint id, two strings per endpoint)
 * besides the LRU. For `negativeTtlMs` after a complete load, a key missing from the index is
 * answered not_found without a request, in both modes. Trade-off: an endpoint enrolled after the
 * load is unknown for at most `negativeTtlMs` (what a cached 404 costs anyway), in exchange for
 * no request per unknown id. A key in the index but evicted from the LRU costs one
 * `getEndpoint` (never a new inventory load).
 *
 * With `match: "id"` a load stops after `maxEntries` endpoints (more could not be cached);
 * by attribute it pages to the end, since nothing else can answer. The LRU holds found and
 * not-found answers, at most `maxEntries`. Stale answers are served while one background
 * refresh runs (prefetch: one inventory load for all stale keys; otherwise per key, at most
 * MAX_BACKGROUND_REFRESHES at once); after a failed refresh, refreshes pause with backoff.
 */

export type EndpointLookup =
  | { readonly status: "found"; readonly endpoint: EndpointResource }
  | { readonly status: "not_found" };

export interface EndpointDirectoryEvents {
  hit?(n: number): void;
  miss?(n: number): void;
  entries?(n: number): void;
}

export interface EndpointDirectoryOptions {
  api: RedCanaryApi;
  /** Config `endpoint_cache_size` (default 1000). */
  maxEntries: number;
  /** How long a found endpoint is fresh (default 1 h). */
  ttlMs: number;
  /** How long a not-found answer is fresh (default 5 min). */
  negativeTtlMs: number;
  /** "id", or the name of the endpoint attribute that equals the join value. */
  match: string;
  /** Load the inventory by pages at start and when entries go stale. */
  prefetch: boolean;
  /** Page size asked for (default 1000; the server may clamp it). */
  perPage: number;
  logger: Logger;
  events?: EndpointDirectoryEvents;
  now?: () => number;
}

interface Entry {
  readonly lookup: EndpointLookup;
  readonly storedAt: number;
  readonly freshUntil: number;
}

const NOT_FOUND: EndpointLookup = { status: "not_found" };
const MAX_BACKGROUND_REFRESHES = 4;
const REFRESH_PAUSE = { baseMs: 1_000, maxMs: 60_000 };
const REFRESH_LOG_INTERVAL_MS = 60_000;
const noop = () => {};
const BREAKER_OPEN_MS = 2_000;

function closedError(): ExporterError {
  return new ExporterError("endpoint_directory_closed", "permanent", "endpoint directory closed");
}

export class EndpointDirectory {
  private readonly opts: EndpointDirectoryOptions;
  private readonly now: () => number;
  private readonly byId: boolean;
  private readonly cache: LRUCache<string, Entry>;
  private readonly lifetime = new AbortController();
  private readonly keyFlights = new Map<string, Promise<void>>();
  /** Keys a request is waiting for: an inventory load caches them even when the LRU is full. */
  private readonly wanted = new Set<string>();
  private inventoryFlight: Promise<void> | undefined;
  /** Index of the last complete inventory load and when it completed. */
  private index: Map<string, string> | undefined;
  private indexCompletedAt = Number.NEGATIVE_INFINITY;
  private lastLoadStartedAt = Number.NEGATIVE_INFINITY;
  private backgroundRefreshes = 0;
  private refreshFailures = 0;
  private refreshPausedUntil = Number.NEGATIVE_INFINITY;
  private lastRefreshLogAt = Number.NEGATIVE_INFINITY;
  private suppressedRefreshLogs = 0;
  private warnedSmallCache = false;
  private closed = false;
  /**
   * The breaker: a retryable API failure aborts every request waiting or running (they would
   * meet the same outage, each costing requests of a budget of 20 a minute) and makes new ones
   * fail at once for BREAKER_OPEN_MS. The caller's own retry (enrich/enricher.ts) then probes.
   */
  private breaker = new AbortController();
  private breakerOpenUntil = Number.NEGATIVE_INFINITY;
  private breakerError: unknown;

  constructor(opts: EndpointDirectoryOptions) {
    if (!(opts.maxEntries >= 1)) throw new RangeError("maxEntries must be at least 1");
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.byId = opts.match === "id";
    this.cache = new LRUCache<string, Entry>({ max: opts.maxEntries });
    // Every lookup in flight listens to these (one per endpoint, hundreds on a cold start).
    setMaxListeners(0, this.lifetime.signal, this.breaker.signal);
  }

  get size(): number {
    return this.cache.size;
  }

  peek(key: string): EndpointLookup | undefined {
    const k = this.normalize(key);
    const entry = this.cache.get(k);
    if (!entry) {
      this.opts.events?.miss?.(1);
      return undefined;
    }
    this.opts.events?.hit?.(1);
    if (entry.freshUntil <= this.now()) this.scheduleRefresh(k, entry);
    return entry.lookup;
  }

  async resolve(keys: Iterable<string>, signal?: AbortSignal): Promise<void> {
    if (this.closed) throw closedError();
    signal?.throwIfAborted();
    const waits: Promise<void>[] = [];
    const seen = new Set<string>();
    for (const key of keys) {
      const k = this.normalize(key);
      if (seen.has(k)) continue;
      seen.add(k);
      const entry = this.cache.peek(k);
      if (entry) {
        if (entry.freshUntil <= this.now()) this.scheduleRefresh(k, entry);
      } else {
        waits.push(this.flight(k));
      }
    }
    if (waits.length === 0) return;
    const results = await abortable(Promise.allSettled(waits), signal);
    const errors = results.flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
    if (errors.length === 0) return;
    throw errors.find((e) => e instanceof ExporterError && e.kind === "permanent") ?? errors[0];
  }

  async start(signal?: AbortSignal): Promise<void> {
    if (!this.opts.prefetch) return;
    if (this.closed) throw closedError();
    await abortable(this.loadInventory(), signal);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.lifetime.abort(closedError());
  }

  private normalize(key: string): string {
    return this.byId ? key : key.toLowerCase();
  }

  /** The key an endpoint answers to, or undefined when its attribute cannot match. */
  private keyOf(endpoint: EndpointResource): string | undefined {
    if (this.byId) return endpoint.id;
    const v = endpoint.attributes[this.opts.match];
    if (typeof v === "string") return v.toLowerCase();
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    return undefined;
  }

  private store(key: string, lookup: EndpointLookup): void {
    const now = this.now();
    const ttl = lookup.status === "found" ? this.opts.ttlMs : this.opts.negativeTtlMs;
    this.cache.set(key, { lookup, storedAt: now, freshUntil: now + ttl });
    this.opts.events?.entries?.(this.cache.size);
  }

  private inventoryAnswers(): boolean {
    return this.index !== undefined && this.now() - this.indexCompletedAt < this.opts.negativeTtlMs;
  }

  /** One fetch per key at a time; close() rejects it. */
  private flight(key: string): Promise<void> {
    let p = this.keyFlights.get(key);
    if (!p) {
      this.wanted.add(key);
      p = abortable(this.fetchKey(key), this.lifetime.signal).finally(() => {
        this.keyFlights.delete(key);
        this.wanted.delete(key);
      });
      p.catch(noop);
      this.keyFlights.set(key, p);
    }
    return p;
  }

  /** An API call behind the breaker (see `breaker`). */
  private async guarded<T>(call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.now() < this.breakerOpenUntil) throw this.breakerError;
    const breaker = this.breaker;
    try {
      return await call(AbortSignal.any([this.lifetime.signal, breaker.signal]));
    } catch (err) {
      if (breaker.signal.aborted && !this.lifetime.signal.aborted) throw breaker.signal.reason;
      if (err instanceof ExporterError && err.kind === "retryable" && !this.closed) {
        this.breakerError = err;
        this.breakerOpenUntil = this.now() + BREAKER_OPEN_MS;
        this.breaker = new AbortController();
        setMaxListeners(0, this.breaker.signal);
        breaker.abort(err);
      }
      throw err;
    }
  }

  private async fetchKey(key: string): Promise<void> {
    if (this.byId && this.opts.prefetch && this.lastLoadStartedAt === Number.NEGATIVE_INFINITY) {
      // No inventory yet (the start-up load failed or is still running): one load answers
      // every key for a few requests, where lookups one by one would cost one each.
      await this.loadInventory();
    }
    if (this.byId) {
      // A running load (start, or a refresh) may bring this key: wait rather than spend a request.
      if (this.inventoryFlight !== undefined) await this.inventoryFlight.catch(noop);
    } else if (!this.inventoryAnswers()) {
      await this.loadInventory();
    }
    if (this.closed) throw closedError();
    const entry = this.cache.peek(key);
    if (entry && entry.freshUntil > this.now()) return;
    let id: string | undefined = key;
    if (this.inventoryAnswers() || !this.byId) id = this.index?.get(key);
    if (id === undefined) {
      this.store(key, NOT_FOUND);
      return;
    }
    const endpoint = await this.guarded((signal) => this.opts.api.getEndpoint(id, signal));
    if (this.closed) throw closedError();
    // By attribute the endpoint may have been renamed since the inventory load.
    const matches = endpoint !== null && (this.byId || this.keyOf(endpoint) === key);
    this.store(key, matches ? { status: "found", endpoint } : NOT_FOUND);
  }

  /** One inventory load at a time; everyone asking meanwhile shares it. */
  private loadInventory(): Promise<void> {
    if (!this.inventoryFlight) {
      const p = abortable(this.runInventoryLoad(), this.lifetime.signal).finally(() => {
        this.inventoryFlight = undefined;
      });
      p.catch(noop);
      this.inventoryFlight = p;
    }
    return this.inventoryFlight;
  }

  private async runInventoryLoad(): Promise<void> {
    const { api, perPage, maxEntries } = this.opts;
    const startedAt = this.now();
    const index = new Map<string, string>();
    let seen = 0;
    let total: number | undefined;
    let pageSize = 0;
    let complete = false;
    for (let page = 1; ; page++) {
      const res = await this.guarded((signal) => api.listEndpoints(page, perPage, signal));
      if (this.closed) throw closedError();
      total = res.totalItems ?? total;
      if (page === 1) pageSize = res.endpoints.length;
      for (const endpoint of res.endpoints) this.absorb(endpoint, index);
      seen += res.endpoints.length;
      const n = res.endpoints.length;
      // The server may clamp per_page: without total_items, a page shorter than the first ends it.
      if (n === 0 || (total !== undefined ? seen >= total : page > 1 && n < pageSize)) {
        complete = true;
        break;
      }
      if (this.byId && seen >= maxEntries) break;
    }
    this.lastLoadStartedAt = startedAt;
    const inventory = total ?? (complete ? seen : undefined);
    if (!this.warnedSmallCache && (inventory ?? seen) > maxEntries) {
      this.warnedSmallCache = true;
      this.opts.logger.warn(
        { endpoint_cache_size: maxEntries, total_items: inventory ?? `more than ${maxEntries}` },
        `endpoint_cache_size (${maxEntries}) is smaller than the endpoint inventory` +
          ` (${inventory ?? `more than ${maxEntries}`} endpoints): endpoints beyond it are looked` +
          " up one by one and cost API requests (the API allows 20 per minute); raise" +
          " endpoint_cache_size (top level or under input:) to at least the inventory size",
      );
    }
    if (!complete) return;
    // Cached keys the complete inventory no longer has are not found now.
    const gone = [...this.cache.entries()].filter(
      ([k, e]) => e.storedAt <= startedAt && !index.has(k),
    );
    for (const [k] of gone) this.store(k, NOT_FOUND);
    this.index = index;
    this.indexCompletedAt = this.now();
  }

  private absorb(endpoint: EndpointResource, index: Map<string, string>): void {
    const key = this.keyOf(endpoint);
    if (key === undefined || index.has(key)) return;
    index.set(key, endpoint.id);
    // Refresh what is cached or wanted; add the rest only while there is room (never evict).
    if (this.cache.has(key) || this.wanted.has(key) || this.cache.size < this.opts.maxEntries) {
      this.store(key, { status: "found", endpoint });
    }
  }

  private scheduleRefresh(key: string, entry: Entry): void {
    if (this.closed || this.now() < this.refreshPausedUntil) return;
    // In prefetch mode one load refreshes every stale entry, unless the last load started after
    // this entry was stored and still left it stale (a key beyond a capped load): then per key.
    if (this.opts.prefetch && this.lastLoadStartedAt <= entry.storedAt) {
      if (!this.inventoryFlight) this.background(this.loadInventory());
      return;
    }
    if (this.keyFlights.has(key) || this.backgroundRefreshes >= MAX_BACKGROUND_REFRESHES) return;
    this.backgroundRefreshes++;
    this.background(
      this.flight(key).finally(() => {
        this.backgroundRefreshes--;
      }),
    );
  }

  /** Background work: failures pause refreshes and are logged at most once a minute. */
  private background(p: Promise<void>): void {
    p.then(
      () => {
        this.refreshFailures = 0;
      },
      (err: unknown) => {
        if (this.closed) return;
        this.refreshFailures++;
        const now = this.now();
        this.refreshPausedUntil = now + backoffDelay(this.refreshFailures, REFRESH_PAUSE);
        if (now - this.lastRefreshLogAt < REFRESH_LOG_INTERVAL_MS) {
          this.suppressedRefreshLogs++;
          return;
        }
        this.opts.logger.warn(
          {
            err: err instanceof Error ? err.message : String(err),
            code: err instanceof ExporterError ? err.code : undefined,
            suppressed: this.suppressedRefreshLogs,
          },
          "endpoint metadata refresh failed; serving the cached answers until a refresh succeeds",
        );
        this.lastRefreshLogAt = now;
        this.suppressedRefreshLogs = 0;
      },
    );
  }
}

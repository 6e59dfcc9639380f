import { type BackoffOptions, backoffDelay, sleep } from "../core/backoff.js";
import { ExporterError } from "../core/errors.js";
import type { RateLimiter } from "./rate-limiter.js";
import type { EndpointPage, EndpointResource, RedCanaryApi } from "./types.js";

/**
 * The Red Canary REST API (SPEC.md section 4) over global fetch. Every HTTP request, retries
 * included, takes a limiter slot first and releases it once answered or failed (see
 * RateLimiter.acquireSlot). Per request:
 *
 * - 2xx with the JSON envelope: the data. `data` of a single endpoint may be an object or a
 *   one-element array (an empty array counts as not found);
 * - 404 on `endpoints/{id}`: null;
 * - 401/403: `api_unauthorized` (permanent), no retry;
 * - 429: the limiter is paused for a jittered, growing delay and the request retried, up to
 *   `maxAttempts`, then `api_rate_limited` (retryable);
 * - 5xx, 408, connection errors, timeouts, a body that is not the envelope: retried after a
 *   jittered, growing delay, then `api_unavailable` (retryable);
 * - any other status (3xx: redirects are not followed, since the key would travel with them to
 *   wherever they point; 400; 404 on a list): `api_unavailable` at once, as the same request
 *   would get the same answer.
 *
 * The caller's abort rejects with the signal's reason, at once. The key is sent only in the
 * `X-Api-Key` header; messages name the method, path and status, and the `cause` of a thrown
 * error is a redacted copy of the underlying error, never the original object.
 */

export type ApiRequestOutcome = "ok" | "not_found" | "rate_limited" | "error";

export interface RedCanaryApiClientOptions {
  /** The API base ending in `/openapi/v3/` (see redCanaryApiUrl); a missing final `/` is added. */
  readonly baseUrl: string;
  /** The API key (`red_canary_authentication_token`). */
  readonly token: string;
  readonly limiter: RateLimiter;
  /** Per HTTP request, headers and body. Default 10 s. */
  readonly timeoutMs?: number;
  /** HTTP requests per call, first one included. Default 4. */
  readonly maxAttempts?: number;
  /** Called once per HTTP request sent, with how it ended (not for requests the caller aborted). */
  readonly onRequest?: (outcome: ApiRequestOutcome) => void;
  readonly userAgent?: string;
  /** Delay before retrying a failed request. Default 500 ms doubling to 10 s. */
  readonly retryBackoff?: BackoffOptions;
  /** Pause of the limiter after a 429. Default 1 s doubling to 60 s (the longest API window). */
  readonly rateLimitBackoff?: BackoffOptions;
  /** Jitter source, for tests. */
  readonly random?: () => number;
}

/** `https://<customer_identifier>.my.redcanary.co/openapi/v3/` */
export function redCanaryApiUrl(customerIdentifier: string): string {
  const id = customerIdentifier.trim().toLowerCase();
  if (!/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(id)) {
    throw new ExporterError(
      "api_config_invalid",
      "permanent",
      `Red Canary customer identifier ${JSON.stringify(customerIdentifier)} is not a host name label (letters, digits and inner hyphens)`,
    );
  }
  return `https://${id}.my.redcanary.co/openapi/v3/`;
}

type Attempt<T> =
  | { readonly kind: "ok"; readonly value: T }
  | { readonly kind: "not_found" }
  | { readonly kind: "rate_limited" | "unavailable"; readonly error: ExporterError };

type Parse<T> = (body: unknown) => T | undefined;

export class RedCanaryApiClient implements RedCanaryApi {
  private readonly baseUrl: URL;
  private readonly token: string;
  private readonly limiter: RateLimiter;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly onRequest: (outcome: ApiRequestOutcome) => void;
  private readonly userAgent: string;
  private readonly retryBackoff: BackoffOptions;
  private readonly rateLimitBackoff: BackoffOptions;
  private readonly random: () => number;

  constructor(opts: RedCanaryApiClientOptions) {
    this.baseUrl = new URL(opts.baseUrl.endsWith("/") ? opts.baseUrl : `${opts.baseUrl}/`);
    // Checked here so that fetch never builds an error message that quotes the key.
    if (opts.token === "" || !/^[\x21-\x7e]+$/.test(opts.token)) {
      throw new ExporterError(
        "api_unauthorized",
        "permanent",
        "red_canary_authentication_token is empty or contains characters an HTTP header cannot carry (spaces, line breaks, non-ASCII)",
      );
    }
    this.token = opts.token;
    this.limiter = opts.limiter;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.maxAttempts = Math.max(1, opts.maxAttempts ?? 4);
    this.onRequest = opts.onRequest ?? (() => {});
    this.userAgent = opts.userAgent ?? "canary-exporter";
    this.retryBackoff = opts.retryBackoff ?? { baseMs: 500, maxMs: 10_000 };
    this.rateLimitBackoff = opts.rateLimitBackoff ?? { baseMs: 1000, maxMs: 60_000 };
    this.random = opts.random ?? Math.random;
  }

  async getEndpoint(id: string, signal?: AbortSignal): Promise<EndpointResource | null> {
    const found = await this.call(`endpoints/${encodeURIComponent(id)}`, true, signal, (body) => {
      const data = envelopeData(body);
      if (Array.isArray(data)) {
        if (data.length === 0) return null;
        return data.length === 1 ? toResource(data[0]) : undefined;
      }
      return toResource(data);
    });
    return found ?? null;
  }

  async listEndpoints(page: number, perPage: number, signal?: AbortSignal): Promise<EndpointPage> {
    if (!Number.isInteger(page) || page < 1 || !Number.isInteger(perPage) || perPage < 1) {
      throw new RangeError(`page and per_page must be integers >= 1, got ${page} and ${perPage}`);
    }
    const result = await this.call(
      `endpoints?page=${page}&per_page=${perPage}`,
      false,
      signal,
      (body) => {
        const data = envelopeData(body);
        const items = Array.isArray(data) ? data : [data];
        const endpoints: EndpointResource[] = [];
        for (const item of items) {
          const resource = toResource(item);
          if (resource === undefined) return undefined;
          endpoints.push(resource);
        }
        const total = (body as { meta?: { total_items?: unknown } }).meta?.total_items;
        return typeof total === "number" && Number.isInteger(total) && total >= 0
          ? { endpoints, totalItems: total }
          : { endpoints };
      },
    );
    return result ?? { endpoints: [] };
  }

  /** One API call: attempts with a limiter slot each, until an answer, an error or the budget. */
  private async call<T>(
    path: string,
    notFoundIsAnswer: boolean,
    signal: AbortSignal | undefined,
    parse: Parse<T>,
  ): Promise<T | null> {
    const url = new URL(path, this.baseUrl);
    const where = `GET ${url.pathname}${url.search}`;
    for (let attempt = 1; ; attempt++) {
      const release = await this.limiter.acquireSlot(signal);
      let result: Attempt<T>;
      try {
        result = await this.attempt(url, where, notFoundIsAnswer, signal, parse);
      } finally {
        release();
      }
      if (result.kind === "ok") return result.value;
      if (result.kind === "not_found") return null;
      if (attempt >= this.maxAttempts) {
        throw new ExporterError(
          result.error.code,
          result.error.kind,
          `${result.error.message} (gave up after ${attempt} attempt${attempt === 1 ? "" : "s"})`,
          { cause: result.error.cause },
        );
      }
      if (result.kind === "rate_limited") {
        this.limiter.pause(this.delay(attempt - 1, this.rateLimitBackoff));
      } else {
        await sleep(this.delay(attempt - 1, this.retryBackoff), signal);
      }
    }
  }

  private async attempt<T>(
    url: URL,
    where: string,
    notFoundIsAnswer: boolean,
    signal: AbortSignal | undefined,
    parse: Parse<T>,
  ): Promise<Attempt<T>> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const failed = (err: unknown, what: string): Attempt<T> => {
      if (signal?.aborted) throw signal.reason;
      this.onRequest("error");
      const message = timeout.aborted ? `timed out after ${this.timeoutMs} ms` : what;
      return {
        kind: "unavailable",
        error: this.error("api_unavailable", `${where} ${message}`, err),
      };
    };
    let res: Response;
    try {
      res = await fetch(url, {
        headers: {
          "X-Api-Key": this.token,
          Accept: "application/json",
          "User-Agent": this.userAgent,
        },
        redirect: "manual",
        signal: combined,
      });
    } catch (err) {
      return failed(err, "failed to connect");
    }
    const status = res.status;
    if (status >= 200 && status < 300) {
      let body: unknown;
      try {
        body = await res.json();
      } catch (err) {
        return failed(err, `answered HTTP ${status} with a body that is not JSON`);
      }
      const value = parse(body);
      if (value === undefined) {
        return failed(
          undefined,
          `answered HTTP ${status} with a body that is not the API envelope`,
        );
      }
      this.onRequest(value === null ? "not_found" : "ok");
      return value === null ? { kind: "not_found" } : { kind: "ok", value };
    }
    try {
      await res.body?.cancel();
    } catch {
      // The connection is dropped either way; the status is what counts.
    }
    if (signal?.aborted) throw signal.reason;
    if (status === 429) {
      this.onRequest("rate_limited");
      const message = `${where} answered HTTP 429: the Red Canary API rate limit was exceeded`;
      return { kind: "rate_limited", error: this.error("api_rate_limited", message) };
    }
    if (status === 404 && notFoundIsAnswer) {
      this.onRequest("not_found");
      return { kind: "not_found" };
    }
    this.onRequest("error");
    if (status === 401 || status === 403) {
      throw new ExporterError(
        "api_unauthorized",
        "permanent",
        `Red Canary API refused the API key: ${where} answered HTTP ${status}; check red_canary_authentication_token`,
      );
    }
    const error = this.error("api_unavailable", `${where} answered HTTP ${status}`);
    if (status >= 500 || status === 408) return { kind: "unavailable", error };
    throw error;
  }

  private error(code: string, message: string, cause?: unknown): ExporterError {
    const full = `Red Canary API: ${this.redact(message)}`;
    if (cause === undefined) return new ExporterError(code, "retryable", full);
    return new ExporterError(code, "retryable", full, { cause: this.redactedCopy(cause) });
  }

  /** Equal jitter: half the growing ceiling, plus up to the other half at random. */
  private delay(retry: number, opts: BackoffOptions): number {
    const ceiling = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.min(retry, 30));
    const half = { baseMs: opts.baseMs / 2, maxMs: opts.maxMs / 2 };
    return Math.floor(ceiling / 2) + backoffDelay(retry, half, this.random);
  }

  private redact(text: string): string {
    return text.split(this.token).join("***");
  }

  /** A plain Error with the messages (and codes) of the cause chain, with the key masked. */
  private redactedCopy(err: unknown): Error {
    const parts: string[] = [];
    let current: unknown = err;
    for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
      if (!(current instanceof Error)) {
        parts.push(String(current));
        break;
      }
      const code = (current as { code?: unknown }).code;
      parts.push(typeof code === "string" ? `${current.message} (${code})` : current.message);
      current = current.cause;
    }
    const copy = new Error(this.redact(parts.join(": ")));
    copy.name = err instanceof Error ? err.name : "Error";
    return copy;
  }
}

/** The envelope's `data`, or undefined when the body is not an envelope. */
function envelopeData(body: unknown): unknown {
  if (typeof body !== "object" || body === null || !("data" in body)) return undefined;
  return body.data;
}

function toResource(item: unknown): EndpointResource | undefined {
  if (typeof item !== "object" || item === null) return undefined;
  const { id, attributes } = item as { id?: unknown; attributes?: unknown };
  if (typeof id !== "string" && typeof id !== "number") return undefined;
  if (typeof attributes !== "object" || attributes === null || Array.isArray(attributes)) {
    return undefined;
  }
  return { id: String(id), attributes: attributes as Record<string, unknown> };
}

import type { Logger } from "pino";
import { backoffDelay, sleep } from "../core/backoff.js";
import { describeError, ExporterError } from "../core/errors.js";
import type { TelemetryRecord } from "../core/types.js";
import type { Metrics } from "../telemetry/metrics.js";
import { compilePath, type Reader } from "../transforms/filter.js";
import type { EndpointLookup } from "./endpoint-directory.js";

export type { EndpointLookup };

/**
 * The pipeline stage that merges endpoint metadata into records (SPEC.md section 4).
 *
 * Every record gets one key (`merge_key`, default `endpoint_metadata`) holding an object whose
 * `enrichment_status` says what happened:
 * - `found`: the endpoint's `id` and its API attributes, unchanged (`hostname`, `platform`,
 *   `operating_system`, `endpoint_network_addresses`, ...);
 * - `not_found`: the API does not know the endpoint (404, or absent from the inventory);
 * - `no_join_value`: the record has no usable join field (missing, null, an object);
 * - `unavailable`: only with `on_api_failure: export_unenriched`, the API could not answer.
 * A record that already has a field of that name is never overwritten: it is exported as it
 * came, counted as `merge_key_taken`, and a warning says to pick another merge_key.
 *
 * With `on_api_failure: wait` (the default) no record leaves this stage without an answer from
 * the API: `enrich` waits and retries, the reading of the file pauses, and its SQS message stays
 * in flight (its visibility is extended) until the API answers or the exporter shuts down, after
 * which the message is released and retried. So outputs that filter on endpoint fields never
 * see a half-enriched record.
 */

/** What the stage needs of the endpoint cache (enrich/endpoint-directory.ts). */
export interface EndpointResolver {
  /** A cached answer, fresh or stale; undefined when none. */
  peek(key: string): EndpointLookup | undefined;
  /** Caches every key, or rejects with the API's error. */
  resolve(keys: Iterable<string>, signal?: AbortSignal): Promise<void>;
}

export interface EnricherOptions {
  readonly resolver: EndpointResolver;
  /** Dotted path of the record field that names the endpoint. */
  readonly joinField: string;
  readonly mergeKey: string;
  readonly onApiFailure: "wait" | "export_unenriched";
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Waits between retries while the API fails (full jitter). */
  readonly retry?: { baseMs: number; maxMs: number };
  /** How often the "still waiting" warning may repeat. */
  readonly warnEveryMs?: number;
}

type Status = "found" | "not_found" | "no_join_value" | "unavailable" | "merge_key_taken";

/** Records out of the stage, and how many UTF-8 bytes merging added to their lines in all. */
export interface EnrichedBatch {
  readonly records: TelemetryRecord[];
  readonly addedBytes: number;
}

/** The merged value and its JSON text, computed once per endpoint answer. */
interface Merge {
  readonly status: Status;
  readonly value: Readonly<Record<string, unknown>>;
  readonly json: string;
}

/** What `apply` appends for a merge: its text and UTF-8 length, once per merge. */
interface Suffix {
  readonly text: string;
  readonly bytes: number;
}

function mergeOf(status: Status, extra: Record<string, unknown> = {}): Merge {
  const value = { enrichment_status: status, ...extra };
  return { status, value, json: JSON.stringify(value) };
}

const NO_JOIN_VALUE = mergeOf("no_join_value");
const UNAVAILABLE = mergeOf("unavailable");
const NOT_FOUND = mergeOf("not_found");

/** The join value as a cache key: strings as they are, finite numbers in their shortest form. */
export function joinKey(value: unknown): string | undefined {
  if (typeof value === "string") return value === "" ? undefined : value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return undefined;
}

export class Enricher {
  private readonly read: Reader;
  private readonly merges = new WeakMap<EndpointLookup, Merge>();
  private readonly suffixes = new WeakMap<Merge, Suffix>();
  /** Batches waiting on the API right now (the gauge). */
  private waiting = 0;
  private outageStart = 0;
  private lastWarn = 0;
  private warnedTaken = false;

  constructor(private readonly opts: EnricherOptions) {
    this.read = compilePath(opts.joinField);
  }

  /**
   * The records with metadata merged, in order, and the bytes that added (so the pipeline does
   * not measure every line again). Resolves once every record has its answer; rejects only with
   * the signal's reason (wait mode) when shutdown interrupts the wait.
   */
  async enrich(records: readonly TelemetryRecord[], signal: AbortSignal): Promise<EnrichedBatch> {
    const { resolver, metrics } = this.opts;
    const keys: (string | undefined)[] = new Array(records.length);
    const answers = new Map<string, EndpointLookup | undefined>();
    const missing = new Set<string>();
    for (let i = 0; i < records.length; i++) {
      const key = joinKey(this.read((records[i] as TelemetryRecord).value));
      keys[i] = key;
      if (key === undefined || answers.has(key)) continue;
      const lookup = resolver.peek(key);
      answers.set(key, lookup);
      if (lookup === undefined) missing.add(key);
    }
    const hits = answers.size - missing.size;
    if (hits > 0) metrics.endpointCacheHits.inc(hits);
    if (missing.size > 0) {
      metrics.endpointCacheMisses.inc(missing.size);
      await this.resolveMissing(missing, answers, signal);
    }
    const out: TelemetryRecord[] = new Array(records.length);
    let addedBytes = 0;
    const counts: Record<Status, number> = {
      found: 0,
      not_found: 0,
      no_join_value: 0,
      unavailable: 0,
      merge_key_taken: 0,
    };
    for (let i = 0; i < records.length; i++) {
      const record = records[i] as TelemetryRecord;
      if (Object.hasOwn(record.value, this.opts.mergeKey)) {
        // Never overwrite the record's own data: it goes out as it came, and the user is told.
        counts.merge_key_taken++;
        out[i] = record;
        continue;
      }
      const key = keys[i];
      const lookup = key === undefined ? undefined : answers.get(key);
      const merge =
        key === undefined ? NO_JOIN_VALUE : lookup ? this.mergeFor(lookup) : UNAVAILABLE;
      counts[merge.status]++;
      const merged = this.apply(record, merge);
      out[i] = merged.record;
      addedBytes += merged.addedBytes;
    }
    if (counts.merge_key_taken > 0 && !this.warnedTaken) {
      this.warnedTaken = true;
      this.opts.logger.warn(
        { merge_key: this.opts.mergeKey },
        `records already have a field named ${this.opts.mergeKey}: they are exported unchanged, without endpoint metadata; set endpoint_enrichment.merge_key to a name your records do not use`,
      );
    }
    for (const status of Object.keys(counts) as Status[]) {
      if (counts[status] > 0) metrics.enrichedRecords.inc({ status }, counts[status]);
    }
    return { records: out, addedBytes };
  }

  /**
   * Fills `answers` for `missing`. In wait mode it returns only when every key has an answer
   * (or throws the signal's reason); with export_unenriched, the first API failure leaves the
   * unanswered keys undefined.
   */
  private async resolveMissing(
    missing: Set<string>,
    answers: Map<string, EndpointLookup | undefined>,
    signal: AbortSignal,
  ): Promise<void> {
    const retry = this.opts.retry ?? { baseMs: 1000, maxMs: 30_000 };
    let waiting = false;
    try {
      for (let attempt = 0; missing.size > 0; attempt++) {
        let failure: unknown;
        try {
          await this.opts.resolver.resolve(missing, signal);
        } catch (err) {
          if (signal.aborted) throw signal.reason;
          failure = err;
        }
        // Read the answers at once: a batch with more endpoints than the cache holds could see
        // early answers evicted by later ones; those are simply asked again.
        for (const key of [...missing]) {
          const lookup = this.opts.resolver.peek(key);
          if (lookup === undefined) continue;
          answers.set(key, lookup);
          missing.delete(key);
        }
        if (missing.size === 0) break;
        const code =
          failure instanceof ExporterError ? failure.code : failure ? "api_failed" : "evicted";
        if (failure !== undefined) {
          this.opts.metrics.errors.inc({ error_type: code, stage: "enriching" });
          if (this.opts.onApiFailure === "export_unenriched") {
            this.warn(
              `endpoint metadata for ${missing.size} endpoints is unavailable (${describeError(failure)}); exporting their records with ${this.opts.mergeKey}.enrichment_status "unavailable" (on_api_failure: export_unenriched)`,
              code,
            );
            return;
          }
          if (!waiting) {
            waiting = true;
            this.startWaiting();
          }
        }
        const delay =
          failure === undefined ? 0 : Math.max(retry.baseMs / 2, backoffDelay(attempt, retry));
        if (failure !== undefined) {
          this.warn(
            `waiting for the Red Canary API (${describeError(failure)}): records of ${missing.size} endpoints are held, their SQS messages stay in flight and nothing is exported half-enriched; next try in ${Math.ceil(delay / 1000)} s`,
            code,
          );
        }
        if (delay > 0) await sleep(delay, signal);
      }
    } finally {
      if (waiting) this.stopWaiting();
    }
  }

  private startWaiting(): void {
    if (this.waiting++ === 0) this.outageStart = Date.now();
    this.opts.metrics.enrichmentWaiting.set(this.waiting);
  }

  private stopWaiting(): void {
    this.waiting--;
    this.opts.metrics.enrichmentWaiting.set(this.waiting);
    if (this.waiting === 0) {
      this.opts.logger.info(
        { waited_seconds: Math.round((Date.now() - this.outageStart) / 1000) },
        "no record waits for the Red Canary API any more",
      );
      this.lastWarn = 0;
    }
  }

  private warn(message: string, code: string): void {
    const now = Date.now();
    if (now - this.lastWarn < (this.opts.warnEveryMs ?? 30_000)) return;
    this.lastWarn = now;
    this.opts.logger.warn({ error_type: code, stage: "enriching" }, message);
  }

  private mergeFor(lookup: EndpointLookup): Merge {
    let merge = this.merges.get(lookup);
    if (merge === undefined) {
      merge =
        lookup.status === "found"
          ? mergeOf("found", { id: lookup.endpoint.id, ...lookup.endpoint.attributes })
          : NOT_FOUND;
      this.merges.set(lookup, merge);
    }
    return merge;
  }

  /**
   * The record with the merge key added (it has no such key), and how many UTF-8 bytes longer
   * its line became. The JSON text is spliced (the record's own text, then the key) instead of
   * re-serialised: cheaper, and the record's fields keep their exact spelling.
   */
  private apply(
    record: TelemetryRecord,
    merge: Merge,
  ): { record: TelemetryRecord; addedBytes: number } {
    const value = { ...record.value, [this.opts.mergeKey]: merge.value };
    const raw = record.raw;
    let end = raw.length - 1;
    while (end > 0 && raw.charCodeAt(end) <= 0x20) end--;
    const body = raw.slice(0, end);
    const suffix = this.suffixOf(merge);
    // What is cut off (the closing brace and blanks after it) is ASCII: one byte a character.
    const cut = raw.length - end;
    if (/^\s*\{\s*$/.test(body)) {
      // An empty object: no comma before the key.
      return {
        record: { raw: `${body}${suffix.text.slice(1)}`, value },
        addedBytes: suffix.bytes - 1 - cut,
      };
    }
    return { record: { raw: `${body}${suffix.text}`, value }, addedBytes: suffix.bytes - cut };
  }

  private suffixOf(merge: Merge): Suffix {
    let suffix = this.suffixes.get(merge);
    if (suffix === undefined) {
      const text = `,${JSON.stringify(this.opts.mergeKey)}:${merge.json}}`;
      suffix = { text, bytes: Buffer.byteLength(text) };
      this.suffixes.set(merge, suffix);
    }
    return suffix;
  }
}

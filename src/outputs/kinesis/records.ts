import { randomUUID } from "node:crypto";
import type { TelemetryRecord } from "../../core/types.js";

/**
 * Kinesis Data Streams' PutRecords limits (per the API reference): 500 entries per request,
 * 1 MiB per entry (data plus partition key), 5 MiB per request (data plus partition keys),
 * partition keys of 1 to 256 Unicode characters.
 */
export const KINESIS_LIMITS = {
  recordsPerRequest: 500,
  bytesPerRecord: 1024 * 1024,
  bytesPerRequest: 5 * 1024 * 1024,
  partitionKeyChars: 256,
} as const;

/** Fields naming the endpoint a record comes from, in order of preference. */
export const KEY_FIELDS = ["sensor_id", "device_id"] as const;

/**
 * The partition key decides the shard. We use the record's endpoint (`sensor_id`, which all
 * three Red Canary formats carry at the top level; `device_id` as a fallback): Kinesis hashes
 * the key with MD5, so a fleet of endpoints spreads evenly over the shards, and one endpoint's
 * events stay together on one shard (what stateful consumers want, such as process trees per
 * host), usually in file order. A record without such a field gets a random key (even spread).
 * The price: one very chatty endpoint is bound to one shard's 1 MB/s, 1,000 records/s; when it
 * exceeds that, the throttled entries are retried with backoff, not lost.
 */
export function partitionKeyOf(value: Readonly<Record<string, unknown>>): string {
  for (const field of KEY_FIELDS) {
    const v = value[field];
    if (typeof v === "number" && Number.isFinite(v)) return String(v);
    if (typeof v === "string" && v.length > 0 && v.length <= KINESIS_LIMITS.partitionKeyChars) {
      return v;
    }
  }
  return randomUUID();
}

/** One record as Kinesis will take it; its data is encoded only when its request is built. */
export interface KinesisEntry {
  /** The JSON line followed by "\n" (see `recordData`). */
  readonly text: string;
  readonly partitionKey: string;
  /** UTF-8 bytes of data plus partition key: what Kinesis counts against its limits. */
  readonly size: number;
}

/**
 * A record's data is its JSON text plus a newline: consumers that concatenate records (Firehose
 * to S3, `aws kinesis get-records` piped to a file) then get valid JSON lines, and line-wise
 * consumers just trim it.
 */
export function toEntry(record: TelemetryRecord): KinesisEntry {
  const text = `${record.raw}\n`;
  const partitionKey = partitionKeyOf(record.value);
  return {
    text,
    partitionKey,
    size: Buffer.byteLength(text, "utf8") + Buffer.byteLength(partitionKey, "utf8"),
  };
}

export function fitsOneRecord(entry: KinesisEntry): boolean {
  return entry.size <= KINESIS_LIMITS.bytesPerRecord;
}

/**
 * One Pub/Sub message per record: the data is the record's JSON text exactly as read (no
 * newline), gzip-compressed with `compression_format: gzip`; attributes describe it so that
 * subscribers can filter (`attributes.event_type = "process_start"`) without opening the data.
 */
import { promisify } from "node:util";
import { gzip, gzipSync, type ZlibOptions } from "node:zlib";
import type { SourceRef, TelemetryRecord } from "../../core/types.js";

const gzipAsync = promisify(gzip);

/**
 * Records up to this size are compressed on the main thread: for a typical 1 KB record, a trip
 * through libuv's thread pool costs several times the compression itself (measured against the
 * emulator on 2 busy cores: about 630 messages/s through the pool, 3,400 to 4,600 this way).
 * Larger records go to the pool so the event loop stays free.
 */
const SYNC_GZIP_MAX_BYTES = 64 * 1024;
/** A smaller hash table than zlib's default: faster to set up per message, same ratio on records. */
const GZIP_OPTIONS: ZlibOptions = { memLevel: 4 };

/** Attribute names, documented for users: keep them stable. */
export const ATTRIBUTES = {
  /** Always `application/json`: the data is one JSON object. */
  contentType: "content-type",
  /** `gzip` when the data is gzip-compressed; absent otherwise. */
  contentEncoding: "content-encoding",
  /** The record's `event_type_cd` (standardized, cf-flattened) or `type` (native). */
  eventType: "event_type",
  /** The record's `sensor_id`, as text. */
  sensorId: "sensor_id",
  /** The key of the S3 object the record was read from. */
  sourceKey: "source_key",
} as const;

/** Pub/Sub's limit on an attribute value; longer values are left out, never cut. */
export const MAX_ATTRIBUTE_VALUE_BYTES = 1024;

/**
 * The largest message we publish, counted as Google's client counts it (data plus attribute
 * names and values): the client's own batch limit (9 MiB), which keeps one message alone in a
 * request well under Pub/Sub's 10 MB per request. A larger record goes to the dead letter.
 */
export const MAX_MESSAGE_BYTES = 9 * 1024 * 1024;

export interface OutgoingMessage {
  readonly data: Buffer;
  readonly attributes: Readonly<Record<string, string>>;
}

/** The size Pub/Sub's client and quotas count for a message. */
export function messageSize(message: OutgoingMessage): number {
  let size = message.data.length;
  for (const [key, value] of Object.entries(message.attributes)) {
    size += Buffer.byteLength(key) + Buffer.byteLength(value);
  }
  return size;
}

/** A string or finite number as attribute text; undefined when absent, empty or too long. */
function attributeValue(value: unknown): string | undefined {
  let text: string;
  if (typeof value === "string") text = value;
  else if (typeof value === "number" && Number.isFinite(value)) text = String(value);
  else return undefined;
  if (text === "" || Buffer.byteLength(text) > MAX_ATTRIBUTE_VALUE_BYTES) return undefined;
  return text;
}

/** The fields of a record `recordAttributes` reads (see Output.recordFields). */
export const ATTRIBUTE_FIELDS = ["event_type_cd", "type", "sensor_id"] as const;

export function recordAttributes(
  record: TelemetryRecord,
  source: SourceRef,
  gzipped: boolean,
): Record<string, string> {
  const attributes: Record<string, string> = { [ATTRIBUTES.contentType]: "application/json" };
  if (gzipped) attributes[ATTRIBUTES.contentEncoding] = "gzip";
  const eventType = attributeValue(record.value.event_type_cd) ?? attributeValue(record.value.type);
  if (eventType !== undefined) attributes[ATTRIBUTES.eventType] = eventType;
  const sensorId = attributeValue(record.value.sensor_id);
  if (sensorId !== undefined) attributes[ATTRIBUTES.sensorId] = sensorId;
  const key = attributeValue(source.key);
  if (key !== undefined) attributes[ATTRIBUTES.sourceKey] = key;
  return attributes;
}

/** Builds the messages of `records`, in order. */
export async function encodeRecords(
  records: readonly TelemetryRecord[],
  source: SourceRef,
  compression: "none" | "gzip",
): Promise<OutgoingMessage[]> {
  const gzipped = compression === "gzip";
  return Promise.all(
    records.map(async (record) => {
      const text = Buffer.from(record.raw);
      return {
        data: !gzipped
          ? text
          : text.length <= SYNC_GZIP_MAX_BYTES
            ? gzipSync(text, GZIP_OPTIONS)
            : await gzipAsync(text, GZIP_OPTIONS),
        attributes: recordAttributes(record, source, gzipped),
      };
    }),
  );
}

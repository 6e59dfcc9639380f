import { ExporterError } from "../core/errors.js";

/**
 * Turns an SQS message body into the S3 objects it names (SPEC.md section 2).
 *
 * Accepted bodies:
 * - an SNS envelope (`Type: "Notification"`) whose `Message` is the S3 event as a JSON string
 *   (an already-parsed object is tolerated);
 * - the S3 event itself (SNS raw message delivery, or S3 -> SQS directly);
 * - the S3 test event (`"Event": "s3:TestEvent"`), bare or in an envelope.
 *
 * Every other body throws an ExporterError of kind `permanent` (repeating the parse cannot help):
 * code `bad_notification`, or `unsupported_event_version` / `bad_object_key` for those cases.
 * Messages say what was wrong and where, and never quote the whole body.
 */

export interface NotifiedObject {
  readonly bucket: string;
  /** URL-decoded: the key to pass to GetObject. */
  readonly key: string;
  /** Bytes, as S3 reported at notification time. */
  readonly size?: number;
  readonly eventName: string;
  readonly eventTime?: string;
}

export interface IgnoredRecord {
  readonly eventName: string;
  readonly reason: string;
}

export type ParsedNotification =
  | {
      readonly kind: "objects";
      /** Work to do, in record order. Empty when every record was ignored (still a valid message). */
      readonly objects: NotifiedObject[];
      readonly ignored: IgnoredRecord[];
      readonly envelope: "sns" | "raw";
      readonly snsMessageId?: string;
    }
  | { readonly kind: "test_event"; readonly envelope: "sns" | "raw"; readonly bucket?: string };

/** Longest parser message we quote: V8 messages may echo a slice of the input. */
const MAX_REASON_CHARS = 200;

type JsonObject = Record<string, unknown>;

export function parseNotification(body: string): ParsedNotification {
  const outer = parseJson(body, "SQS message body");
  if (!isObject(outer)) {
    throw bad(`SQS message body is JSON but not an object (${describe(outer)})`);
  }
  if (!isSnsEnvelope(outer)) return parseS3Event(outer, "raw", "SQS message body");

  if (outer.Type !== "Notification") {
    throw bad(
      `SNS envelope has Type ${quote(outer.Type)}, expected "Notification" (subscription messages are not work)`,
    );
  }
  const message = outer.Message;
  let inner: unknown;
  if (typeof message === "string") {
    inner = parseJson(message, 'SNS envelope field "Message"');
  } else if (message === undefined) {
    throw bad('SNS envelope has no "Message" field');
  } else {
    inner = message;
  }
  if (!isObject(inner)) {
    throw bad(`SNS envelope field "Message" is not a JSON object (${describe(inner)})`);
  }
  const parsed = parseS3Event(inner, "sns", 'SNS envelope field "Message"');
  if (parsed.kind === "objects" && typeof outer.MessageId === "string") {
    return { ...parsed, snsMessageId: outer.MessageId };
  }
  return parsed;
}

/**
 * An SNS envelope is recognised by `Type` together with `Message` or `TopicArn`, so an S3 event
 * that happened to carry a `Type` field would still be read as an event.
 */
function isSnsEnvelope(o: JsonObject): boolean {
  return "Type" in o && ("Message" in o || "TopicArn" in o);
}

function parseS3Event(
  event: JsonObject,
  envelope: "sns" | "raw",
  where: string,
): ParsedNotification {
  if (event.Event === "s3:TestEvent") {
    return typeof event.Bucket === "string"
      ? { kind: "test_event", envelope, bucket: event.Bucket }
      : { kind: "test_event", envelope };
  }
  const records = event.Records;
  if (!Array.isArray(records)) {
    throw bad(`${where} is neither an S3 event (no "Records" array) nor an S3 test event`);
  }
  const objects: NotifiedObject[] = [];
  const ignored: IgnoredRecord[] = [];
  for (let i = 0; i < records.length; i++) {
    const at = `${where} Records[${i}]`;
    const record: unknown = records[i];
    if (!isObject(record)) throw bad(`${at} is not an object (${describe(record)})`);
    checkEventVersion(record.eventVersion, at);

    const eventName = record.eventName;
    if (typeof eventName !== "string") throw bad(`${at} has no string "eventName"`);
    const source = record.eventSource;
    if (source !== undefined && source !== "aws:s3") {
      ignored.push({ eventName, reason: `eventSource ${quote(source)} is not aws:s3` });
      continue;
    }
    if (!eventName.startsWith("ObjectCreated:")) {
      ignored.push({ eventName, reason: "not an ObjectCreated event" });
      continue;
    }
    objects.push(readObject(record, eventName, at));
  }
  return { kind: "objects", objects, ignored, envelope };
}

/** Missing eventVersion is accepted (hand-made events omit it); a present one must be major 2. */
function checkEventVersion(version: unknown, at: string): void {
  if (version === undefined) return;
  const text = typeof version === "number" ? String(version) : version;
  if (typeof text === "string") {
    const dot = text.indexOf(".");
    if ((dot === -1 ? text : text.slice(0, dot)) === "2") return;
  }
  throw new ExporterError(
    "unsupported_event_version",
    "permanent",
    `${at}.eventVersion ${quote(version)} is not supported (expected major version 2, such as "2.1")`,
  );
}

function readObject(record: JsonObject, eventName: string, at: string): NotifiedObject {
  const s3 = isObject(record.s3) ? record.s3 : undefined;
  const bucketObj = s3 && isObject(s3.bucket) ? s3.bucket : undefined;
  const objectObj = s3 && isObject(s3.object) ? s3.object : undefined;
  const bucket = bucketObj?.name;
  const rawKey = objectObj?.key;
  if (typeof bucket !== "string" || bucket === "") {
    throw bad(`${at} (${eventName}) has no s3.bucket.name`);
  }
  if (typeof rawKey !== "string" || rawKey === "") {
    throw bad(`${at} (${eventName}) has no s3.object.key`);
  }
  let key: string;
  try {
    key = decodeURIComponent(rawKey.replace(/\+/g, " "));
  } catch {
    throw new ExporterError(
      "bad_object_key",
      "permanent",
      `${at}.s3.object.key ${JSON.stringify(rawKey)} is not valid URL encoding (malformed %-sequence)`,
    );
  }
  const size = objectObj?.size;
  const eventTime = record.eventTime;
  return {
    bucket,
    key,
    eventName,
    ...(typeof size === "number" && Number.isFinite(size) && size >= 0 ? { size } : {}),
    ...(typeof eventTime === "string" ? { eventTime } : {}),
  };
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw bad(`${where} is not JSON: ${clip(reason)}`, err);
  }
}

function bad(message: string, cause?: unknown): ExporterError {
  return new ExporterError(
    "bad_notification",
    "permanent",
    message,
    cause === undefined ? undefined : { cause },
  );
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

/** A short, JSON-quoted rendering of a field value for error messages. */
function quote(v: unknown): string {
  const text = typeof v === "string" || typeof v === "number" ? JSON.stringify(v) : describe(v);
  return clip(text ?? describe(v));
}

function clip(text: string): string {
  return text.length <= MAX_REASON_CHARS ? text : `${text.slice(0, MAX_REASON_CHARS)}…`;
}

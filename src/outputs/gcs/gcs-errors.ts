import { ExporterError } from "../../core/errors.js";

/**
 * Turns what `@google-cloud/storage` throws while the output checks its bucket or uploads an
 * object into an ExporterError: `permanent` when repeating gives the same answer and someone must
 * act (missing bucket, refused or missing credentials, no permission, a request GCS refuses),
 * `retryable` otherwise (429, 408, 5xx, a checksum that did not match, timeouts, network errors).
 *
 * The client throws several shapes: an ApiError from the JSON API (`code` = HTTP status,
 * `errors[].reason`), an Error "Upload failed" with a numeric `code` from a resumable upload, a
 * GaxiosError (`status`, string `code`), an Error "Retry limit exceeded - status: 503 ..." once the
 * client's own retries are spent, or a plain network error (`ECONNRESET`, `ENOTFOUND`). Messages
 * are our own words plus what GCS said, cut short; the request (with its bearer token) is never
 * quoted, and `secrets` (parts of credentials_json) are cut out of anything quoted, as a second
 * line of defence.
 */

export interface GcsErrorContext {
  readonly bucket: string;
  /** The object being uploaded; absent for the bucket check. */
  readonly key?: string;
  /** Values that must never appear in a message (the key's private_key, private_key_id, ...). */
  readonly secrets?: readonly string[];
}

const CREDENTIALS_FIX =
  "check the google_cloud_storage output's credentials_json (a service-account key of the bucket's project), or, when it is left out, the application default credentials the exporter runs with (GOOGLE_APPLICATION_CREDENTIALS, or the attached service account on Google Cloud)";

/** Network-level codes: no HTTP answer, another attempt may work. */
const NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "ESOCKETTIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ERR_STREAM_PREMATURE_CLOSE",
  "UND_ERR_SOCKET",
]);

interface ClientErrorShape {
  code?: unknown;
  status?: unknown;
  message?: unknown;
  type?: unknown;
  response?: { status?: unknown; statusCode?: unknown };
  errors?: Array<{ reason?: unknown; message?: unknown }>;
}

function shape(err: unknown): ClientErrorShape {
  return typeof err === "object" && err !== null ? (err as ClientErrorShape) : {};
}

/** The HTTP status behind a client error, wherever that shape keeps it. */
export function gcsHttpStatus(err: unknown): number | undefined {
  const e = shape(err);
  for (const v of [e.code, e.status, e.response?.status, e.response?.statusCode]) {
    if (typeof v === "number" && v >= 100 && v < 600) return v;
  }
  const m = /\bstatus: (\d{3})\b/.exec(typeof e.message === "string" ? e.message : "");
  return m ? Number(m[1]) : undefined;
}

function scrub(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join("***");
  // Bearer tokens never belong in a log line, whoever put them in a message.
  out = out.replace(/Bearer\s+[\w.~+/-]+=*/gi, "Bearer ***");
  return out.length > 300 ? `${out.slice(0, 300)}...` : out;
}

export function classifyGcsError(err: unknown, ctx: GcsErrorContext): ExporterError {
  if (err instanceof ExporterError) return err;
  const e = shape(err);
  const status = gcsHttpStatus(err);
  const code = typeof e.code === "string" ? e.code : undefined;
  const raw = typeof e.message === "string" ? e.message : String(err);
  const said = scrub(raw.replace(/\s+/g, " ").trim(), ctx.secrets);
  const where = ctx.key ? `gs://${ctx.bucket}/${ctx.key}` : `bucket gs://${ctx.bucket}`;
  const permanent = (c: string, message: string) =>
    new ExporterError(c, "permanent", message, { cause: err });
  const retryable = (c: string, message: string) =>
    new ExporterError(c, "retryable", message, { cause: err });

  if (/Could not load the default credentials/i.test(raw)) {
    return permanent(
      "credentials_missing",
      `no Google credentials found for ${where}: set the google_cloud_storage output's credentials_json, or give the exporter application default credentials (GOOGLE_APPLICATION_CREDENTIALS pointing at a key file, or an attached service account on Google Cloud)`,
    );
  }
  if (status === 404) {
    return permanent(
      "bucket_missing",
      `bucket ${ctx.bucket} does not exist (GCS answered 404 for ${where}): create it or fix the google_cloud_storage output's bucket_name`,
    );
  }
  if (status === 401) {
    return permanent(
      "credentials_rejected",
      `GCS refused the credentials used for ${where} (HTTP 401: ${said}): ${CREDENTIALS_FIX}`,
    );
  }
  if (status === 403) {
    return permanent(
      "access_denied",
      `access to ${where} was denied (HTTP 403: ${said}): ${CREDENTIALS_FIX}, and that its principal may create objects in the bucket (storage.objects.create, e.g. roles/storage.objectCreator)`,
    );
  }
  // The data changed on the way (the client compares its CRC32C/MD5 with GCS's): send it again.
  const mismatch =
    code === "FILE_NO_UPLOAD" ||
    code === "FILE_NO_UPLOAD_DELETE" ||
    /did not match|doesn't match|checksum|CRC32C|MD5/i.test(raw);
  if (mismatch) {
    return retryable("gcs_checksum_mismatch", `the upload to ${where} arrived damaged: ${said}`);
  }
  if (status !== undefined && (status === 408 || status === 429 || status >= 500)) {
    return retryable(
      status === 429 || status === 503 ? "gcs_throttled" : "gcs_unavailable",
      `GCS answered HTTP ${status} for ${where}: ${said}`,
    );
  }
  if (status !== undefined && status >= 400) {
    return permanent(
      "gcs_rejected",
      `GCS rejected the request for ${where} (HTTP ${status}): ${said}`,
    );
  }
  if (code === undefined || NETWORK_CODES.has(code)) {
    // No HTTP answer at all: connection refused or reset, DNS, socket timeouts, cut streams.
    return retryable(
      "gcs_unreachable",
      `cannot reach GCS for ${where}: ${code ? `${code}: ` : ""}${said}`,
    );
  }
  return retryable("gcs_error", `the request to GCS for ${where} failed (${code}): ${said}`);
}

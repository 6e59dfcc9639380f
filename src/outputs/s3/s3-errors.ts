import { ExporterError } from "../../core/errors.js";

/**
 * Turns what the S3 client throws while the output checks its bucket or uploads an object into
 * an ExporterError: `permanent` when repeating gives the same answer and someone must act
 * (missing bucket, refused credentials, no permission), `retryable` otherwise (5xx, throttling,
 * timeouts, network errors). Messages are our own words plus S3's error code: they never quote
 * the request, its signature or the keys; `secrets` (the configured key pair) are cut out of
 * anything S3 or the network layer said, as a second line of defence.
 */

export interface S3ErrorContext {
  readonly bucket: string;
  /** The object being uploaded; absent for the bucket check. */
  readonly key?: string;
  /** Values that must never appear in a message (the configured access key id and secret). */
  readonly secrets?: readonly string[];
}

/** Codes S3 answers with that more attempts can cure (the SDK already retried each a few times). */
const RETRYABLE_CODES = new Set([
  "SlowDown",
  "ServiceUnavailable",
  "InternalError",
  "RequestTimeout",
  "RequestTimeTooSkewed",
  "Throttling",
  "ThrottlingException",
  "TooManyRequestsException",
  "RequestThrottled",
  "OperationAborted",
  "ExpiredToken",
  "TokenRefreshRequired",
  "TimeoutError",
  "RequestTimeoutException",
  "AbortError",
  // A multipart upload that vanished or a body damaged on the way: a fresh upload works.
  "NoSuchUpload",
  "IncompleteBody",
  "BadDigest",
  "InvalidDigest",
  "XAmzContentSHA256Mismatch",
]);

const CREDENTIALS_FIX =
  "check the s3 output's aws_access_key_id and aws_secret_access_key, or, when they are left out, the credentials of the environment, profile or IAM role the exporter runs with";

interface SdkErrorShape {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

function shape(err: unknown): SdkErrorShape {
  return typeof err === "object" && err !== null ? (err as SdkErrorShape) : {};
}

function scrub(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join("***");
  return out;
}

export function classifyS3OutputError(err: unknown, ctx: S3ErrorContext): ExporterError {
  if (err instanceof ExporterError) return err;
  const e = shape(err);
  const code = e.Code ?? e.name ?? e.code ?? "Error";
  const status = e.$metadata?.httpStatusCode;
  const where = ctx.key ? `s3://${ctx.bucket}/${ctx.key}` : `bucket ${ctx.bucket}`;
  const said = scrub(err instanceof Error ? err.message : String(err), ctx.secrets);
  const permanent = (c: string, message: string) =>
    new ExporterError(c, "permanent", message, { cause: err });
  const retryable = (c: string, message: string) =>
    new ExporterError(c, "retryable", message, { cause: err });

  // HeadBucket answers carry no body, so the SDK names them after the status ("NotFound").
  if (code === "NoSuchBucket" || (status === 404 && !ctx.key) || code === "NotFound") {
    return permanent(
      "bucket_missing",
      `bucket ${ctx.bucket} does not exist: create it or fix the s3 output's bucket_name (and aws_region when it lives elsewhere)`,
    );
  }
  if (code === "InvalidAccessKeyId") {
    return permanent(
      "credentials_rejected",
      `S3 does not know the access key id used for ${where} (InvalidAccessKeyId): ${CREDENTIALS_FIX}`,
    );
  }
  if (code === "SignatureDoesNotMatch") {
    return permanent(
      "credentials_rejected",
      `S3 refused the secret access key used for ${where} (SignatureDoesNotMatch): ${CREDENTIALS_FIX}`,
    );
  }
  if (code === "CredentialsProviderError") {
    return permanent(
      "credentials_missing",
      `no AWS credentials found for ${where}: set the s3 output's aws_access_key_id and aws_secret_access_key, or give the exporter credentials through the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), a profile (AWS_PROFILE) or an IAM role`,
    );
  }
  if (
    code === "AccessDenied" ||
    code === "AllAccessDisabled" ||
    code === "Forbidden" ||
    status === 403
  ) {
    const needs = ctx.key
      ? "s3:PutObject (and s3:AbortMultipartUpload) on the bucket's objects"
      : "s3:ListBucket on the bucket (the start-up check is a HeadBucket) and s3:PutObject on its objects";
    return permanent(
      "access_denied",
      `access to ${where} was denied (${code === "Forbidden" ? "403" : code}): ${CREDENTIALS_FIX}, and that they allow ${needs}; a KMS-encrypted bucket also needs kms:GenerateDataKey and kms:Decrypt on its key`,
    );
  }
  if (RETRYABLE_CODES.has(code) || (status !== undefined && (status >= 500 || status === 429))) {
    return retryable(
      code === "SlowDown" || status === 429 || status === 503 ? "s3_throttled" : "s3_unavailable",
      `S3 answered ${code}${status ? ` (HTTP ${status})` : ""} for ${where}: ${said}`,
    );
  }
  if (status !== undefined && status >= 400) {
    return permanent(
      "s3_rejected",
      `S3 rejected the request for ${where}: ${code} (HTTP ${status}): ${said}`,
    );
  }
  // No HTTP answer at all: connection refused or reset, DNS, socket timeouts.
  return retryable("s3_unreachable", `cannot reach S3 for ${where}: ${code}: ${said}`);
}

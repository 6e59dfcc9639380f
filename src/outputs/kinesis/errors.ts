import { ExporterError } from "../../core/errors.js";

/** Error names that mean the credentials are refused or unusable. */
const CREDENTIALS = new Set([
  "AccessDeniedException",
  "UnrecognizedClientException",
  "InvalidClientTokenId",
  "InvalidSignatureException",
  "IncompleteSignature",
  "MissingAuthenticationToken",
  "MissingAuthenticationTokenException",
  "SignatureDoesNotMatch",
  "ExpiredTokenException",
  "CredentialsProviderError",
]);

/**
 * Error names for which repeating the same call gives the same answer until an operator acts:
 * a missing stream, refused or unusable credentials, a KMS key that cannot be used, a request
 * the service rejects as invalid.
 */
const PERMANENT = new Set([
  ...CREDENTIALS,
  "ResourceNotFoundException",
  "ValidationException",
  "InvalidArgumentException",
  "KMSAccessDeniedException",
  "KMSDisabledException",
  "KMSInvalidStateException",
  "KMSNotFoundException",
  "KMSOptInRequired",
]);

/** Per-entry error codes of a PutRecords response that a later attempt may get past. */
export function isTransientEntryError(code: string): boolean {
  return !PERMANENT.has(code);
}

/** Where the output writes, for messages: "stream X in us-east-1". Never holds a secret. */
export interface StreamLocation {
  readonly streamName: string;
  readonly region: string;
}

export function describeLocation(loc: StreamLocation): string {
  return `Kinesis stream ${loc.streamName} in ${loc.region}`;
}

/**
 * Turns an SDK (or network) error into an ExporterError. Throttling, 5xx, timeouts and network
 * errors are retryable; the names above and any other 4xx are permanent. Messages name the
 * stream and region, never the credentials.
 */
export function classifyKinesisError(err: unknown, loc: StreamLocation): ExporterError {
  if (err instanceof ExporterError) return err;
  const e = err as
    | { name?: string; message?: string; $metadata?: { httpStatusCode?: number } }
    | undefined;
  const name = e?.name ?? "Error";
  const status = e?.$metadata?.httpStatusCode;
  const detail = `${name}: ${e?.message ?? String(err)}`;
  const where = describeLocation(loc);
  if (name === "ResourceNotFoundException") {
    return new ExporterError(
      "stream_missing",
      "permanent",
      `${where} does not exist (${detail}); create it, or check stream_name, aws_region and the account of the credentials`,
      { cause: err },
    );
  }
  if (name === "CredentialsProviderError") {
    return new ExporterError(
      "no_credentials",
      "permanent",
      `no AWS credentials for ${where}: set aws_access_key_id and aws_secret_access_key in the output, or give the exporter credentials the AWS way (environment, profile, role)`,
      { cause: err },
    );
  }
  if (CREDENTIALS.has(name) || status === 403) {
    // Only the error's name: some of these messages quote the signed request, key id included.
    return new ExporterError(
      "access_denied",
      "permanent",
      `${where} refused the credentials (${name}); check aws_access_key_id/aws_secret_access_key or the role, and that it may call kinesis:PutRecords and kinesis:DescribeStreamSummary`,
      { cause: err },
    );
  }
  if (PERMANENT.has(name) || (clientError(status) && !throttling(name))) {
    return new ExporterError("kinesis_rejected", "permanent", `${where}: ${detail}`, {
      cause: err,
    });
  }
  return new ExporterError("kinesis_unavailable", "retryable", `${where}: ${detail}`, {
    cause: err,
  });
}

/** A 4xx other than 408 (timeout) and 429 (too many requests). */
function clientError(status: number | undefined): boolean {
  return status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
}

function throttling(name: string): boolean {
  return (
    name === "ProvisionedThroughputExceededException" ||
    name === "LimitExceededException" ||
    name === "KMSThrottlingException" ||
    name === "ThrottlingException" ||
    name === "ResourceInUseException" ||
    name === "RequestTimeout" ||
    name === "RequestTimeoutException" ||
    name === "TooManyRequestsException"
  );
}

import { ExporterError } from "../../core/errors.js";
import type { AzureCredentialSource } from "./credentials.js";

/** What an error is about, for a message the operator can act on. */
export interface AzureErrorContext {
  readonly account: string;
  readonly container: string;
  readonly endpoint: string;
  readonly source: AzureCredentialSource;
}

interface RestErrorLike {
  readonly name?: string;
  readonly message?: string;
  readonly statusCode?: number;
  readonly code?: string;
}

/**
 * Turns an error of the Azure SDK (a RestError with `statusCode` and the service's error code,
 * an AbortError, a network error, or an @azure/identity error) into an ExporterError whose kind
 * says whether another attempt can help:
 * - permanent: 404 ContainerNotFound, 401/403 (key, SAS or role), other 4xx that a retry repeats;
 * - retryable: 408, 409, 429, 5xx (503 ServerBusy), timeouts, connection errors, token errors
 *   at run time (the token endpoint may be down for a moment).
 * The message is the service's message plus what to check; it never holds a secret (the SDK's
 * own error objects, which carry the request URL with any SAS token, are not kept as cause).
 */
export function classifyAzureError(
  err: unknown,
  ctx: AzureErrorContext,
  opts: { readonly atStartup?: boolean } = {},
): ExporterError {
  if (err instanceof ExporterError) return err;
  const e = (typeof err === "object" && err !== null ? err : {}) as RestErrorLike;
  const status = typeof e.statusCode === "number" ? e.statusCode : undefined;
  const code = typeof e.code === "string" ? e.code : undefined;
  const detail = scrub(firstLine(e.message ?? String(err)));
  const where = `container "${ctx.container}" of storage account "${ctx.account}"`;

  if (status === 404 && code === "ContainerNotFound") {
    return new ExporterError(
      "container_not_found",
      "permanent",
      `${where} does not exist (${ctx.endpoint}): create it or fix container_name`,
    );
  }
  if (status === 401 || status === 403) {
    return new ExporterError(
      "access_denied",
      "permanent",
      `access to ${where} denied (${status} ${code ?? "Forbidden"}: ${detail}): ${credentialHint(ctx.source, code)}`,
    );
  }
  if (isIdentityError(e)) {
    const message = `no Azure credentials for ${where} (${e.name}: ${detail}): set storage_access_key, AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_KEY, or give the exporter an Azure identity (managed identity, workload identity, az login)`;
    return new ExporterError(
      "credentials_unavailable",
      opts.atStartup ? "permanent" : "retryable",
      message,
    );
  }
  if (status !== undefined) {
    const retryable = status === 408 || status === 409 || status === 429 || status >= 500;
    return new ExporterError(
      retryable ? "azure_unavailable" : "azure_rejected",
      retryable ? "retryable" : "permanent",
      `Azure Blob Storage answered ${status}${code ? ` ${code}` : ""} for ${where}: ${detail}`,
    );
  }
  // No HTTP answer: connection refused or reset, DNS, TLS, a timeout.
  const hint =
    code === "ENOTFOUND"
      ? ": check storage_account_name (and AZURE_STORAGE_BLOB_ENDPOINT when set) and DNS"
      : "";
  return new ExporterError(
    "azure_unreachable",
    "retryable",
    `cannot reach ${ctx.endpoint} (${code ?? e.name ?? "error"}: ${detail})${hint}`,
  );
}

function credentialHint(source: AzureCredentialSource, code: string | undefined): string {
  switch (source) {
    case "storage_access_key":
      return "check storage_access_key (the account's access key, as shown under Access keys in the Azure portal)";
    case "AZURE_STORAGE_KEY":
      return "check the AZURE_STORAGE_KEY environment variable (the account's access key), or set storage_access_key";
    case "AZURE_STORAGE_CONNECTION_STRING":
      return "check AZURE_STORAGE_CONNECTION_STRING: its key, or its SAS token's expiry and permissions (read, create, write)";
    case "DefaultAzureCredential":
      return code === "AuthorizationPermissionMismatch" || code === "AuthorizationFailure"
        ? "give the exporter's Azure identity the Storage Blob Data Contributor role on the container"
        : "check the exporter's Azure identity (managed identity, workload identity, az login) and its Storage Blob Data Contributor role";
  }
}

function isIdentityError(e: RestErrorLike): boolean {
  return (
    e.name === "CredentialUnavailableError" ||
    e.name === "AuthenticationError" ||
    e.name === "AggregateAuthenticationError" ||
    e.name === "AuthenticationRequiredError"
  );
}

function firstLine(message: string): string {
  const line = message.split("\n")[0] ?? "";
  return line.length > 300 ? `${line.slice(0, 300)}...` : line;
}

/** Belt and braces: a SAS signature or key-like query value never reaches a message. */
function scrub(text: string): string {
  return text.replace(/([?&](?:sig|se|sv|sp|st|skoid|sktid)=)[^&\s]*/gi, "$1***");
}

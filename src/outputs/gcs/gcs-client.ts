import { IdempotencyStrategy, Storage, type StorageOptions } from "@google-cloud/storage";
import type { GcsOutputConfig } from "./config.js";

/**
 * The output's `@google-cloud/storage` client.
 *
 * Credentials: `credentials_json` (the text of a key file: service account, or any type the
 * Google auth library reads, such as external_account for workload identity federation) is
 * parsed here and handed to the client as `credentials`, with the key's `project_id`. Left out,
 * the client uses Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS, gcloud's
 * application-default login, or the attached service account through the metadata server.
 *
 * Endpoint: the client's own STORAGE_EMULATOR_HOST (a URL with its scheme, such as
 * `http://127.0.0.1:4443`) points it at an emulator or the project's stand-in. With it set the
 * client sends no credentials at all (it never asks Google for a token), so a key is not needed
 * and not checked there.
 *
 * Retries: the shared engine retries each object (5 attempts with backoff) and the pipeline
 * retries after that, so the client's own retries are bounded (2 more attempts, short delays);
 * uploads count as idempotent (RetryAlways): every object has a unique name and the same bytes
 * on every attempt, so sending one twice cannot change anything.
 */

export const CLIENT_RETRY_OPTIONS = {
  autoRetry: true,
  maxRetries: 2,
  retryDelayMultiplier: 2,
  maxRetryDelay: 8,
  totalTimeout: 120,
  idempotencyStrategy: IdempotencyStrategy.RetryAlways,
} as const;

/** JSON API calls (bucket check, multipart uploads) give up after this long without an answer. */
export const REQUEST_TIMEOUT_MS = 120_000;

export interface GcsCredentials {
  readonly credentials: Record<string, unknown>;
  readonly projectId: string | undefined;
  /** Values from the key that must never reach a log line. */
  readonly secrets: readonly string[];
}

const SECRET_FIELDS = ["private_key", "private_key_id", "client_secret", "refresh_token"];

/** `credentials_json` parsed (the config schema already checked it is a JSON object). */
export function parseCredentialsJson(json: string | undefined): GcsCredentials | undefined {
  if (json === undefined || json.trim() === "") return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    // Never quote the text: it is a private key.
    throw new Error("credentials_json of the google_cloud_storage output is not valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error("credentials_json of the google_cloud_storage output is not a JSON object");
  }
  const credentials = parsed as Record<string, unknown>;
  const secrets = SECRET_FIELDS.map((f) => credentials[f]).filter(
    (v): v is string => typeof v === "string" && v.length >= 8,
  );
  const projectId =
    typeof credentials.project_id === "string" && credentials.project_id !== ""
      ? credentials.project_id
      : typeof credentials.quota_project_id === "string"
        ? credentials.quota_project_id
        : undefined;
  return { credentials, projectId, secrets };
}

/**
 * Why STORAGE_EMULATOR_HOST cannot work, or undefined. The client uses the variable's value as
 * the base URL of every JSON API call as given, so `127.0.0.1:4443` without `http://` breaks.
 */
export function emulatorHostProblem(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const host = env.STORAGE_EMULATOR_HOST;
  if (host === undefined || /^https?:\/\/[^/]/i.test(host)) return undefined;
  return `STORAGE_EMULATOR_HOST is ${JSON.stringify(host)}: give the emulator's URL with its scheme, such as http://127.0.0.1:4443`;
}

export function createGcsClient(cfg: Pick<GcsOutputConfig, "credentials_json">): {
  storage: Storage;
  secrets: readonly string[];
} {
  const creds = parseCredentialsJson(cfg.credentials_json);
  const options: StorageOptions = {
    retryOptions: { ...CLIENT_RETRY_OPTIONS },
    timeout: REQUEST_TIMEOUT_MS,
    ...(creds ? { credentials: creds.credentials } : {}),
    ...(creds?.projectId ? { projectId: creds.projectId } : {}),
  };
  return { storage: new Storage(options), secrets: creds?.secrets ?? [] };
}

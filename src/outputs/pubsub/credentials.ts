/**
 * `credentials_json`: a Google credentials file's text (usually a service-account key). It is
 * handed to the client as an object and never logged; errors about it never quote it.
 */
import { ExporterError } from "../../core/errors.js";

export interface GoogleCredentials {
  /** The parsed JSON as the client's `credentials` option takes it (any `type` Google supports). */
  readonly credentials: Record<string, unknown>;
  /** The key's `project_id`, when it has one: the project of a topic id. */
  readonly projectId: string | undefined;
}

export function parseCredentialsJson(text: string): GoogleCredentials {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Never the parser's message: it quotes the text around the fault.
    throw new ExporterError(
      "invalid_credentials",
      "permanent",
      "credentials_json does not parse as JSON",
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ExporterError(
      "invalid_credentials",
      "permanent",
      "credentials_json is not a JSON object",
    );
  }
  const credentials = parsed as Record<string, unknown>;
  const projectId = credentials.project_id;
  return {
    credentials,
    projectId: typeof projectId === "string" && projectId !== "" ? projectId : undefined,
  };
}

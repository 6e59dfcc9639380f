/**
 * The config keys whose values are secrets, wherever they occur (input, top level, outputs).
 * Error messages never print their values (config/issues.ts), `redactConfig` replaces them, and
 * telemetry/logger.ts redacts the same names as a second line of defence.
 */
export const SECRET_KEYS: ReadonlySet<string> = new Set([
  "aws_access_key_id",
  "aws_secret_access_key",
  "aws_session_token",
  "red_canary_authentication_token",
  "storage_access_key",
  "credentials_json",
]);

/** True when the last named segment of a config path is a secret key. */
export function isSecretPath(path: readonly PropertyKey[]): boolean {
  for (let i = path.length - 1; i >= 0; i--) {
    const segment = path[i];
    if (typeof segment === "string") return SECRET_KEYS.has(segment);
  }
  return false;
}

/** A copy of a config that is safe to print or log: every secret that is set reads `***`. */
import { SECRET_KEYS } from "./secrets.js";
import type { ExporterConfig } from "./types.js";

export const REDACTED = "***";

function redactValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactValue);
  if (typeof value !== "object" || value === null) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    copy[key] =
      SECRET_KEYS.has(key) && inner !== undefined && inner !== null ? REDACTED : redactValue(inner);
  }
  return copy;
}

/** Deep copy; the argument is not modified. Works on any part of a config too. */
export function redactConfig<T = ExporterConfig>(cfg: T): T {
  return redactValue(cfg) as T;
}

/**
 * The effective config written back as a config file: the guide's key order, every default
 * spelled out. `validate` prints it (redacted) so a user sees what will run; unredacted, it
 * parses back to the same ExporterConfig.
 */
import { stringify } from "yaml";
import { OUTPUT_SCHEMAS } from "./outputs.js";
import { redactConfig } from "./redact.js";
import { endpointEnrichmentSchema, inputSchema } from "./schema.js";
import type { ExporterConfig } from "./types.js";

/** `value`'s keys in the order of `keys`, without the unset ones. */
function ordered(value: object, keys: readonly string[]): Record<string, unknown> {
  const source = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of keys) if (source[key] !== undefined) out[key] = source[key];
  return out;
}

/** The config-file shape of `cfg` (outputs as `- <type>: {...}`, metrics as `listen` only). */
export function toConfigFile(cfg: ExporterConfig): Record<string, unknown> {
  const inputKeys = Object.keys(inputSchema.shape).filter(
    (key) => key !== "endpoint_cache_size" && key !== "red_canary_authentication_token",
  );
  return ordered(
    {
      customer_identifier: cfg.customer_identifier,
      input: ordered(cfg.input, inputKeys),
      endpoint_cache_size: cfg.endpoint_cache_size,
      red_canary_authentication_token: cfg.red_canary_authentication_token,
      // Only with a token: without one the section is an error (config/normalize.ts).
      endpoint_enrichment: cfg.red_canary_authentication_token
        ? ordered(cfg.endpoint_enrichment, Object.keys(endpointEnrichmentSchema.shape))
        : undefined,
      outputs: cfg.outputs.map((output) => ({
        [output.type]: ordered(output.config, Object.keys(OUTPUT_SCHEMAS[output.type].shape)),
      })),
      dead_letter: ordered(cfg.dead_letter, ["directory", "max_receives", "on_max_receives"]),
      shutdown_grace_seconds: cfg.shutdown_grace_seconds,
      log_level: cfg.log_level,
      metrics: cfg.metrics ? { listen: cfg.metrics.listen } : undefined,
    },
    [
      "customer_identifier",
      "input",
      "endpoint_cache_size",
      "red_canary_authentication_token",
      "endpoint_enrichment",
      "outputs",
      "dead_letter",
      "shutdown_grace_seconds",
      "log_level",
      "metrics",
    ],
  );
}

/** YAML text of the effective config, secrets as `***`. */
export function effectiveConfigYaml(cfg: ExporterConfig): string {
  return stringify(toConfigFile(redactConfig(cfg)), { lineWidth: 0 });
}

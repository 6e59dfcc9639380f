/**
 * Rules that involve more than one key, and the step from the file's shape to ExporterConfig.
 * Runs only on parts that passed their schema, so every value here has its type.
 */
import { resolve } from "node:path";
import type { ConfigPath, IssueCollector } from "./issues.js";
import type { OutputConfig } from "./outputs.js";
import { deriveQueueName, SQS_QUEUE_NAME_MAX_LENGTH } from "./queue.js";
import type { ConfigFile } from "./schema.js";
import type { ExporterConfig, MetricsConfig } from "./types.js";

const DEFAULT_ENDPOINT_CACHE_SIZE = 1000;

interface AwsCredentialKeys {
  aws_access_key_id?: string | undefined;
  aws_secret_access_key?: string | undefined;
  aws_session_token?: string | undefined;
}

/**
 * Both keys of a pair, or neither: half a pair would silently fall back to the default
 * credential chain, which is never what the user meant.
 */
export function checkKeyPair(keys: AwsCredentialKeys, base: ConfigPath, issues: IssueCollector) {
  const hasId = keys.aws_access_key_id !== undefined;
  const hasSecret = keys.aws_secret_access_key !== undefined;
  const neither =
    "set both, or neither to use the AWS SDK's default credential chain (environment, profile, IAM role)";
  if (hasId && !hasSecret) {
    issues.at(
      [...base, "aws_access_key_id"],
      `is set but aws_secret_access_key is not: ${neither}`,
      "key",
    );
  } else if (hasSecret && !hasId) {
    issues.at(
      [...base, "aws_secret_access_key"],
      `is set but aws_access_key_id is not: ${neither}`,
      "key",
    );
  }
  if (keys.aws_session_token !== undefined && !(hasId && hasSecret)) {
    issues.at(
      [...base, "aws_session_token"],
      "is only used with aws_access_key_id and aws_secret_access_key; set them too or remove it",
      "key",
    );
  }
}

/**
 * endpoint_cache_size and red_canary_authentication_token occur at the top level and under
 * `input:` in real configs. One of them is enough; two that disagree are a mistake. The token's
 * value is never printed, only that they differ.
 */
function resolveTwoPlaces<T>(
  key: "endpoint_cache_size" | "red_canary_authentication_token",
  top: T | undefined,
  nested: T | undefined,
  issues: IssueCollector,
): T | undefined {
  if (top !== undefined && nested !== undefined && top !== nested) {
    const line = issues.lineOf([key]);
    issues.at(
      ["input", key],
      `differs from the top-level ${key}${line ? ` (line ${line})` : ""}; set it in one place only`,
    );
  }
  return top ?? nested;
}

function checkQueueName(file: ConfigFile, issues: IssueCollector): void {
  if (file.input.queue_url) return;
  const name = deriveQueueName(file);
  if (name.length > SQS_QUEUE_NAME_MAX_LENGTH) {
    issues.at(
      ["customer_identifier"],
      `is too long: the queue name ${name} would exceed SQS's ${SQS_QUEUE_NAME_MAX_LENGTH} characters (set input.queue_url if your queue is named otherwise)`,
    );
  }
}

/** Two writers in one directory would delete each other's files (max_files, recovery). */
function checkDirectories(
  file: ConfigFile,
  outputs: readonly OutputConfig[],
  issues: IssueCollector,
) {
  const owners = new Map<string, string>();
  for (const output of outputs) {
    if (output.type !== "file") continue;
    const dir = resolve(output.config.directory);
    const owner = owners.get(dir);
    const path = ["outputs", output.index, "file", "directory"];
    if (owner) {
      issues.at(path, `is also the directory of ${owner}; give each file output its own directory`);
    } else owners.set(dir, `outputs[${output.index}].file`);
  }
  const owner = owners.get(resolve(file.dead_letter.directory));
  if (owner) {
    issues.at(
      ["dead_letter", "directory"],
      `is also the directory of ${owner}; dead letters need a directory of their own`,
    );
  }
}

/**
 * Enrichment settings or filters on enriched fields without a token would silently do nothing
 * (every record would fail an `endpoint.*` filter): both are mistakes worth stopping for.
 */
function checkEnrichment(
  file: ConfigFile,
  outputs: readonly OutputConfig[],
  enabled: boolean,
  issues: IssueCollector,
) {
  if (enabled) {
    // The API host is <customer_identifier>.my.redcanary.co: it must be a DNS label.
    const id = file.customer_identifier.toLowerCase();
    if (
      file.endpoint_enrichment.api_url === undefined &&
      !/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(id)
    ) {
      issues.at(
        ["customer_identifier"],
        "cannot name the Red Canary API host (<customer_identifier>.my.redcanary.co needs letters, digits and inner hyphens); set endpoint_enrichment.api_url to your API's URL",
      );
    }
    return;
  }
  const enable =
    "set red_canary_authentication_token (top level or under input:) to enable endpoint enrichment";
  if (issues.hasKey(["endpoint_enrichment"])) {
    issues.at(
      ["endpoint_enrichment"],
      `has no effect without a Red Canary API key: ${enable}`,
      "key",
    );
  }
  const mergeKey = file.endpoint_enrichment.merge_key;
  for (const output of outputs) {
    const where = (output.config as { export_only_where?: Record<string, unknown> })
      .export_only_where;
    for (const field of Object.keys(where ?? {})) {
      if (field !== mergeKey && !field.startsWith(`${mergeKey}.`)) continue;
      issues.at(
        ["outputs", output.index, output.type, "export_only_where", field],
        `filters on endpoint metadata, which is only there with enrichment: ${enable}`,
        "key",
      );
    }
  }
}

export interface CheckOptions {
  /** Output types this build can run; others are reported. Absent: every type is accepted. */
  implementedOutputs?: ReadonlySet<string> | undefined;
}

/** Cross-key rules of each output; runs even when the top level has errors. */
export function checkOutputs(
  outputs: readonly OutputConfig[],
  issues: IssueCollector,
  options: CheckOptions,
) {
  for (const output of outputs) {
    const base = ["outputs", output.index, output.type];
    if (output.type === "s3" || output.type === "kinesis")
      checkKeyPair(output.config, base, issues);
    if (options.implementedOutputs && !options.implementedOutputs.has(output.type)) {
      issues.at(
        base,
        `the ${output.type} output is not supported yet in this version; remove it or use a file output`,
        "key",
      );
    }
  }
}

/** Optional keys given as `key:` come out of the schema as undefined; the config omits them. */
function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function parseListen(listen: string): MetricsConfig {
  const colon = listen.lastIndexOf(":");
  const host = listen.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  return { listen, host, port: Number(listen.slice(colon + 1)) };
}

/** The final shape, or undefined when a cross-key rule failed (the issues say why). */
export function buildConfig(
  file: ConfigFile,
  outputs: OutputConfig[],
  issues: IssueCollector,
): ExporterConfig | undefined {
  const before = issues.size;
  checkKeyPair(file.input, ["input"], issues);
  const { input } = file;
  const cacheSize = resolveTwoPlaces(
    "endpoint_cache_size",
    file.endpoint_cache_size,
    input.endpoint_cache_size,
    issues,
  );
  const token = resolveTwoPlaces(
    "red_canary_authentication_token",
    file.red_canary_authentication_token,
    input.red_canary_authentication_token,
    issues,
  );
  checkQueueName(file, issues);
  checkDirectories(file, outputs, issues);
  checkEnrichment(file, outputs, token !== undefined, issues);
  if (issues.size > before) return undefined;

  const { endpoint_cache_size: _size, red_canary_authentication_token: _token, ...rest } = input;
  const config: ExporterConfig = {
    customer_identifier: file.customer_identifier,
    input: dropUndefined(rest),
    endpoint_cache_size: cacheSize ?? DEFAULT_ENDPOINT_CACHE_SIZE,
    endpoint_enrichment: dropUndefined(file.endpoint_enrichment),
    outputs: outputs.map(
      (output) => ({ ...output, config: dropUndefined(output.config) }) as OutputConfig,
    ),
    dead_letter: file.dead_letter,
    shutdown_grace_seconds: file.shutdown_grace_seconds,
    log_level: file.log_level,
  };
  if (token !== undefined) config.red_canary_authentication_token = token;
  if (file.metrics) config.metrics = parseListen(file.metrics.listen);
  return config;
}

/** The config module: load and validate config.yaml, and the types the rest of the program uses. */
export { effectiveConfigYaml, toConfigFile } from "./effective.js";
export type { ExportOnlyWhere } from "./fields.js";
export { ConfigError, type ConfigIssue, formatIssue } from "./issues.js";
export {
  type AzureBlobOutputConfig,
  type FileOutputConfig,
  type GcsOutputConfig,
  IMPLEMENTED_OUTPUTS,
  isOutputType,
  type KinesisOutputConfig,
  OUTPUT_SCHEMAS,
  OUTPUT_TYPES,
  type OutputConfig,
  type OutputConfigByType,
  type OutputType,
  type PubsubOutputConfig,
  type S3OutputConfig,
} from "./outputs.js";
export { loadConfig, type ParseOptions, parseConfig } from "./parse.js";
export { deriveQueueName, describeQueue, type QueueTarget, queueTarget } from "./queue.js";
export { REDACTED, redactConfig } from "./redact.js";
export { LOG_LEVELS, STREAM_NAMES, type StreamName } from "./schema.js";
export { SECRET_KEYS } from "./secrets.js";
export type {
  DeadLetterConfig,
  ExporterConfig,
  InputConfig,
  LogLevel,
  MetricsConfig,
} from "./types.js";

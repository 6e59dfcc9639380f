/**
 * The validated config the rest of the program receives: every default filled in, the keys that
 * may sit in two places resolved into one, outputs tagged by type. Keys keep the YAML's
 * snake_case names so that an error message, the docs and the code say the same word.
 */
import type { OutputConfig } from "./outputs.js";
import type { LOG_LEVELS, StreamName } from "./schema.js";

export interface InputConfig {
  stream_name: StreamName;
  /** Default us-east-2. */
  aws_region: string;
  /** Set together with aws_secret_access_key, or both absent (AWS SDK default chain). */
  aws_access_key_id?: string;
  aws_secret_access_key?: string;
  /** Only with the key pair. */
  aws_session_token?: string;
  s3_select_where?: string;
  /** Default "auto". */
  s3_select_mode: "auto" | "s3" | "local";
  /** When set, poll this queue; otherwise the name from deriveQueueName(). */
  queue_url?: string;
  /** 1..64, default 4. */
  max_concurrent_files: number;
  /** 5..43200, default 300. */
  visibility_timeout_seconds: number;
  /** 0..20, default 20. */
  wait_time_seconds: number;
}

export interface DeadLetterConfig {
  /** Default "dead-letter" (relative to the working directory). */
  directory: string;
  /** >= 1, default 5. */
  max_receives: number;
  /** Default "dead_letter". */
  on_max_receives: "dead_letter" | "leave_in_queue";
}

export interface MetricsConfig {
  /** As written: "host:port". */
  listen: string;
  /** Parsed from listen; IPv6 without brackets. */
  host: string;
  /** 0..65535; 0 picks a free port. */
  port: number;
}

export interface EndpointEnrichmentConfig {
  /** Absent: derived from customer_identifier (enrich/api-client.ts redCanaryApiUrl). */
  api_url?: string;
  /** Absent: the stream's default (sensor_id). */
  join_field?: string;
  /** Default "id". */
  match: string;
  /** Default "endpoint_metadata". */
  merge_key: string;
  /** Default "wait". */
  on_api_failure: "wait" | "export_unenriched";
  cache_ttl_seconds: number;
  negative_cache_ttl_seconds: number;
  prefetch: boolean;
  per_page: number;
  requests_per_second: number;
  requests_per_minute: number;
  timeout_seconds: number;
}

export type LogLevel = (typeof LOG_LEVELS)[number];

export interface ExporterConfig {
  customer_identifier: string;
  input: InputConfig;
  /** From the top level or `input:` (they must agree when both are set); default 1000. */
  endpoint_cache_size: number;
  /** From the top level or `input:`; enrichment is enabled when set. */
  red_canary_authentication_token?: string;
  /** Every default filled in; used only when the token is set. */
  endpoint_enrichment: EndpointEnrichmentConfig;
  /** At least one, in file order. */
  outputs: OutputConfig[];
  dead_letter: DeadLetterConfig;
  /** 0..3600, default 30. */
  shutdown_grace_seconds: number;
  /** Default "info". */
  log_level: LogLevel;
  /** Absent: no metrics listener. */
  metrics?: MetricsConfig;
}

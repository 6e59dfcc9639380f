/**
 * The config file's top level and `input:` section. Keys in the guide's template come first and
 * keep its names; keys this implementation adds are marked "ours" and have defaults, so a config
 * written for the original runs unchanged. Outputs are validated one by one against the schemas
 * in config/outputs.ts (they need a "which output type" step zod unions report badly).
 */
import { z } from "zod";
import { parseWhere, SelectSyntaxError } from "../select/where.js";
import {
  awsRegion,
  integer,
  matching,
  oneOf,
  optional,
  secret,
  text,
  withDefault,
} from "./fields.js";

/** The queues Red Canary provisions; `-test` ones exist when the test queue is enabled. */
export const STREAM_NAMES = [
  "native",
  "standardized",
  "cf-flattened",
  "native-test",
  "standardized-test",
  "cf-flattened-test",
] as const;

export type StreamName = (typeof STREAM_NAMES)[number];

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;

const queueUrl = z.string({ error: "expected an SQS queue URL" }).refine(
  (value) => {
    try {
      const url = new URL(value);
      return url.protocol === "https:" || url.protocol === "http:";
    } catch {
      return false;
    }
  },
  { error: "expected an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)" },
);

/**
 * `input.s3_select_where` must be a clause the local evaluator understands: the exporter falls
 * back to it wherever S3 Select is unavailable, so a clause only S3 could run would give
 * different records in different places. The message points at the character.
 */
const selectWhere = text("expected an S3 Select WHERE clause").superRefine((clause, ctx) => {
  try {
    parseWhere(clause);
  } catch (err) {
    if (!(err instanceof SelectSyntaxError)) throw err;
    const from = Math.max(0, err.offset - 20);
    const before = `${from > 0 ? "…" : ""}${clause.slice(from, err.offset)}`;
    const after = `${clause.slice(err.offset, err.offset + 20)}${err.offset + 20 < clause.length ? "…" : ""}`;
    ctx.addIssue({
      code: "custom",
      message: `at character ${err.offset + 1} (${before}⟨here⟩${after}): ${err.message}`,
    });
  }
});

/** Red Canary's cache size and API token may sit at the top level or under `input:`. */
const endpointCacheSize = optional(integer({ min: 1 }));

export const inputSchema = z.strictObject(
  {
    stream_name: oneOf(
      STREAM_NAMES,
      'expected "native", "standardized" or "cf-flattened", optionally with "-test" appended',
    ),
    /** Red Canary's queues live in us-east-2 (the guide: the input region never changes). */
    aws_region: withDefault(awsRegion, "us-east-2"),
    /**
     * The key pair Red Canary generated for you. Both or neither (config/normalize.ts checks):
     * neither means the AWS SDK's default credential chain (environment, profile, IAM role).
     */
    aws_access_key_id: optional(secret),
    aws_secret_access_key: optional(secret),
    /** Ours: for temporary credentials, which come with a session token. */
    aws_session_token: optional(secret),
    /** S3 Select WHERE clause; evaluated locally where S3 Select is not available. */
    s3_select_where: optional(selectWhere),
    /**
     * Ours: how s3_select_where is applied. `auto` tries S3 Select and evaluates the clause
     * locally where the service does not offer it; `s3` requires S3 Select; `local` always
     * reads whole objects and evaluates the clause in the exporter.
     */
    s3_select_mode: withDefault(oneOf(["auto", "s3", "local"]), "auto"),
    endpoint_cache_size: endpointCacheSize,
    red_canary_authentication_token: optional(secret),
    /**
     * Ours: poll this queue instead of the one named from stream_name and customer_identifier,
     * for local emulators (LocalStack) or a queue you relay into.
     */
    queue_url: optional(queueUrl),
    /** Ours: files fetched and processed at the same time by this process. */
    max_concurrent_files: withDefault(integer({ min: 1, max: 64 }), 4),
    /**
     * Ours: seconds a received message stays hidden from other exporters; extended while the
     * work goes on, so it bounds how soon work of a crashed exporter is retried. SQS allows 12h.
     */
    visibility_timeout_seconds: withDefault(integer({ min: 5, max: 43_200 }), 300),
    /** Ours: SQS long-poll wait; 20 is the SQS maximum and the cheapest. */
    wait_time_seconds: withDefault(integer({ min: 0, max: 20 }), 20),
  },
  { error: "expected a map of input settings (stream_name, aws_region, ...)" },
);

/** A field path such as `sensor_id` or `device.id`. */
const fieldPath = matching(
  /^[^.\s]+(\.[^.\s]+)*$/,
  "expected a field name or a dotted path such as sensor_id or device.id",
);

/**
 * Ours: how endpoint metadata is looked up and merged. Used only with
 * red_canary_authentication_token; every key has a default.
 */
export const endpointEnrichmentSchema = z.strictObject(
  {
    /** The API's base URL; default https://<customer_identifier>.my.redcanary.co/openapi/v3/. */
    api_url: optional(
      z.url({ protocol: /^https?$/, error: "expected an http(s) URL ending in /openapi/v3/" }),
    ),
    /** The record field naming the endpoint; default sensor_id for every stream. */
    join_field: optional(fieldPath),
    /** `id`: the join value is the endpoint's API id; otherwise an attribute (hostname, ...). */
    match: withDefault(matching(/^[A-Za-z0-9_]+$/, 'expected "id" or an attribute name'), "id"),
    /**
     * The record key the metadata is merged under. Not `endpoint`: standardized records of
     * event_type_cd `endpoint` carry their own `endpoint` object.
     */
    merge_key: withDefault(
      matching(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected a field name such as endpoint_metadata"),
      "endpoint_metadata",
    ),
    /**
     * While the API cannot answer: `wait` keeps the messages in SQS and retries (nothing is
     * exported half-enriched); `export_unenriched` exports the records marked as unenriched.
     */
    on_api_failure: withDefault(oneOf(["wait", "export_unenriched"]), "wait"),
    /** Seconds a looked-up endpoint is used before it is looked up again. */
    cache_ttl_seconds: withDefault(integer({ min: 1 }), 3600),
    /** Seconds an endpoint the API does not know is remembered as unknown. */
    negative_cache_ttl_seconds: withDefault(integer({ min: 1 }), 300),
    /** Load the endpoint inventory by pages at start, instead of one request per endpoint. */
    prefetch: withDefault(z.boolean({ error: "expected true or false" }), true),
    /** Endpoints per inventory page. */
    per_page: withDefault(integer({ min: 1, max: 10_000 }), 1000),
    /** The API's limits per client IP; lower them when other tools share the key or the IP. */
    requests_per_second: withDefault(integer({ min: 1 }), 10),
    requests_per_minute: withDefault(integer({ min: 1 }), 20),
    /** Seconds one API request may take. */
    timeout_seconds: withDefault(integer({ min: 1, max: 300 }), 10),
  },
  { error: "expected a map of endpoint enrichment settings (join_field, on_api_failure, ...)" },
);

/** Ours: where messages and records that cannot be delivered are kept, with their reason. */
export const deadLetterSchema = z.strictObject(
  {
    /** A local directory, relative to the working directory unless absolute. */
    directory: withDefault(text("expected a directory path"), "dead-letter"),
    /** A message received this many times without success counts as failing for good. */
    max_receives: withDefault(integer({ min: 1 }), 5),
    /**
     * What then: `dead_letter` writes it to the directory and deletes it from the queue;
     * `leave_in_queue` leaves it to the queue's own redrive policy.
     */
    on_max_receives: withDefault(oneOf(["dead_letter", "leave_in_queue"]), "dead_letter"),
  },
  { error: "expected a map of dead-letter settings (directory, max_receives, on_max_receives)" },
);

/** `host:port`, host a name, IPv4 or bracketed IPv6; port 0 picks a free one (tests). */
const listenAddress = matching(
  /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/,
  'expected "host:port", such as "127.0.0.1:9464" or "0.0.0.0:9464"',
).refine((value) => Number(value.slice(value.lastIndexOf(":") + 1)) <= 65_535, {
  error: "expected a port from 0 to 65535",
});

/** Ours: Prometheus metrics over HTTP. Absent: no listener. */
export const metricsSchema = z.strictObject(
  { listen: listenAddress },
  { error: 'expected a map with listen: "host:port"' },
);

export const configFileSchema = z.strictObject(
  {
    /** Your Red Canary subdomain: names your queue and the API host. */
    customer_identifier: matching(
      /^[A-Za-z0-9_-]+$/,
      "expected your Red Canary subdomain (letters, digits, - and _)",
    ),
    input: inputSchema,
    /** Endpoint metadata cache entries (default 1000, resolved in config/normalize.ts). */
    endpoint_cache_size: endpointCacheSize,
    /** Enables endpoint enrichment when set. */
    red_canary_authentication_token: optional(secret),
    /** Ours: how enrichment looks endpoints up; see endpointEnrichmentSchema. */
    endpoint_enrichment: withDefault(endpointEnrichmentSchema, {}),
    /** Each item: a map with one key naming the output type; see config/outputs.ts. */
    outputs: z
      .array(z.unknown(), {
        error: (issue) =>
          issue.input === null || issue.input === undefined
            ? "expected a list of outputs; every output in the template is commented out: uncomment one (such as `- file:`)"
            : "expected a list of outputs (`- file:`, `- s3:`, ...)",
      })
      .min(1, { error: "expected at least one output" }),
    dead_letter: withDefault(deadLetterSchema, {}),
    /** Ours: on SIGTERM, seconds to finish in-flight files before exiting anyway. */
    shutdown_grace_seconds: withDefault(integer({ min: 0, max: 3600 }), 30),
    /** Ours. */
    log_level: withDefault(oneOf(LOG_LEVELS), "info"),
    metrics: optional(metricsSchema),
  },
  { error: "expected a map of settings (customer_identifier, input, outputs)" },
);

export type ConfigFile = z.output<typeof configFileSchema>;

/**
 * Field schemas shared by the top-level config and every output's config. Each one carries its
 * own error text, phrased "expected ...": the loader (config/issues.ts) appends what was found
 * ("got ...") itself, because only it knows whether the field holds a secret.
 */
import { z } from "zod";

/**
 * YAML writes an unset value as `key:` (null), and `${VAR:-}` substitutes an empty string: both
 * mean "not set" for an optional field, so `aws_session_token: ${AWS_SESSION_TOKEN:-}` works.
 */
function unsetToUndefined(value: unknown): unknown {
  return value === null || value === "" ? undefined : value;
}

/** An optional field: absent, null and "" all leave it unset. */
export function optional<T extends z.ZodType>(schema: T) {
  return z.preprocess(unsetToUndefined, schema.optional());
}

/** A field with a default: absent, null and "" all take the default. */
export function withDefault<T extends z.ZodType>(schema: T, value: z.input<T>) {
  // prefault, not default: the value is parsed like user input, so nested defaults apply.
  return z.preprocess(unsetToUndefined, schema.prefault(value));
}

/**
 * Integer fields accept a number or a string of digits (`max_files: "4"`, `max_files: ${N}`):
 * environment substitution always yields strings, and telling a user to avoid quotes around
 * numbers helps nobody. `10_000_000` is accepted too (YAML 1.1, which the original exporter's
 * Ruby parser speaks, reads it as an integer).
 */
export function integer(bounds: { min: number; max?: number }) {
  const expected =
    bounds.max !== undefined
      ? `expected an integer from ${bounds.min} to ${bounds.max}`
      : bounds.min === 1
        ? "expected a positive integer"
        : `expected an integer of at least ${bounds.min}`;
  let schema = z
    .number({ error: expected })
    .int({ error: expected })
    .min(bounds.min, { error: expected });
  if (bounds.max !== undefined) schema = schema.max(bounds.max, { error: expected });
  return z.preprocess((value) => {
    if (typeof value === "string" && /^\s*[0-9][0-9_]*\s*$/.test(value)) {
      return Number(value.replace(/[_\s]/g, ""));
    }
    return value;
  }, schema);
}

/** A required, non-empty, single-line-or-not string. */
export function text(expected = "expected a non-empty string") {
  return z.string({ error: expected }).min(1, { error: expected });
}

/** A string matching a pattern, with a message saying what a valid one looks like. */
export function matching(pattern: RegExp, expected: string) {
  return z.string({ error: expected }).regex(pattern, { error: expected });
}

/** One of a few words; the message lists them the way a user would type them. */
export function oneOf<const T extends readonly [string, ...string[]]>(
  values: T,
  expected?: string,
) {
  const quoted = values.map((v) => `"${v}"`);
  const last = quoted.pop();
  const message =
    expected ?? `expected ${quoted.length ? `${quoted.join(", ")} or ${last}` : last}`;
  return z.enum(values, { error: message });
}

/** AWS region names (`us-east-2`, `us-gov-west-1`, `cn-north-1`), also what local emulators use. */
export const awsRegion = matching(
  /^[a-z]{2}(-[a-z]+)+-[0-9]+$/,
  "expected an AWS region such as us-east-2",
);

/** The template says `compression_format: either 'none' or 'gzip'`; the message echoes that. */
export const compressionFormat = oneOf(["none", "gzip"], 'expected "none" or "gzip"');

/** Bytes per file or object before the output starts a new one. */
export const maxSizeBytes = withDefault(integer({ min: 1 }), 10_000_000);

/**
 * Ours, for the object outputs (s3, azure_blob, google_cloud_storage): an object is uploaded when
 * it reaches max_size_bytes or when its first record has waited this many seconds, so data keeps
 * flowing at low volume. The records' SQS messages stay in flight until then.
 */
export const flushIntervalSeconds = withDefault(integer({ min: 1, max: 3600 }), 60);

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()], {
  error: "expected a list of values (strings, numbers, true/false or null)",
});

/**
 * `export_only_where`: field path -> allowed values. A record passes when every listed field
 * holds one of its values. Keys may be dotted paths (`process.username`). A single value is
 * accepted in place of a one-item list (`sensor_id: 529`), as a user would expect; an empty
 * list is an error because "allow nothing" is never what a user means. An empty map or null
 * means no filter and is normalized to `undefined`, so outputs test one thing.
 */
export const exportOnlyWhere = z.preprocess(
  (value) => (value === null ? undefined : value),
  z
    .record(
      z.string().min(1, { error: "expected a field name" }),
      z.preprocess(
        (value) => (Array.isArray(value) ? value : value === null ? [] : [value]),
        z.array(scalar).min(1, { error: "expected a non-empty list of allowed values" }),
      ),
      { error: "expected a map from field name to a list of allowed values" },
    )
    .optional()
    .transform((map) => (map && Object.keys(map).length > 0 ? map : undefined)),
);

export type ExportOnlyWhere = Record<string, Array<string | number | boolean | null>>;

/**
 * A Google service-account key as the JSON text itself (the template's `credentials_json: |`
 * block). Checked for being JSON with a `type` field; the messages never quote it, not even a
 * JSON.parse message, because Node's parse errors quote the text around the fault.
 */
export const credentialsJson = z
  .string({ error: "expected the service-account key as JSON text (a `|` block)" })
  .superRefine((value, ctx) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      ctx.addIssue({
        code: "custom",
        message: "expected JSON text, but it does not parse as JSON",
      });
      return;
    }
    if (
      typeof parsed !== "object" ||
      parsed === null ||
      typeof (parsed as { type?: unknown }).type !== "string"
    ) {
      ctx.addIssue({
        code: "custom",
        message: 'expected a JSON object with a "type" field (such as "service_account")',
      });
    }
  });

/** A secret string: never echoed in messages (config/issues.ts knows the key names). */
export const secret = text();

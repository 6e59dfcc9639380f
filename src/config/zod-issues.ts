/**
 * Turns schema findings into user-facing issues: unknown keys with a "did you mean", missing
 * keys at the map that lacks them, wrong values with what was found (never a secret's value).
 */
import type { z } from "zod";
import { type ConfigPath, foundText, type IssueCollector } from "./issues.js";
import { configFileSchema, inputSchema } from "./schema.js";
import { isSecretPath } from "./secrets.js";
import { suggest } from "./suggest.js";

/** What one schema run found: zod issues, or a finding made without zod. */
export interface SchemaFindings {
  /** Where the checked value sits in the config. */
  prefix: ConfigPath;
  schema?: z.ZodType;
  issues?: readonly z.core.$ZodIssue[];
  /** A single message about the value at prefix. */
  message?: string;
  /** Keys not allowed at prefix, with the allowed ones (`what` names them in the message). */
  unknownKeys?: readonly string[];
  known?: readonly string[];
  what?: string;
}

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
}

const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

/** Sees through optional/default/preprocess wrappers to the schema that checks the value. */
function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema;
  for (;;) {
    const def = defOf(current);
    const next =
      def.type === "pipe"
        ? def.out && defOf(def.out).type === "transform"
          ? def.in
          : def.out
        : def.innerType;
    if (!next) return current;
    current = next;
  }
}

/** The keys an object schema at `path` (relative to `schema`) allows. */
function knownKeys(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let current: z.ZodType | undefined = schema;
  for (const segment of path) {
    if (!current) return [];
    const def = defOf(unwrap(current));
    if (def.type === "object") current = def.shape?.[String(segment)];
    else if (def.type === "array") current = def.element;
    else if (def.type === "record") current = def.valueType;
    else return [];
  }
  const def = current ? defOf(unwrap(current)) : undefined;
  return def?.type === "object" && def.shape ? Object.keys(def.shape) : [];
}

const TOP_KEYS = new Set(Object.keys(configFileSchema.shape));
const INPUT_KEYS = new Set(Object.keys(inputSchema.shape));

function unknownKeyMessage(path: ConfigPath, key: string, known: readonly string[], what: string) {
  const parentPath = path.slice(0, -1);
  if (parentPath.length === 0 && INPUT_KEYS.has(key))
    return `unknown ${what} here; it belongs under input:`;
  if (parentPath.length === 1 && parentPath[0] === "input" && TOP_KEYS.has(key)) {
    return `unknown ${what} under input:; it belongs at the top level`;
  }
  const guess = suggest(key, known);
  if (guess) return `unknown ${what}; did you mean "${guess}"?`;
  return known.length > 0
    ? `unknown ${what}; expected one of ${known.join(", ")}`
    : `unknown ${what}`;
}

function valueAt(data: unknown, path: ConfigPath): unknown {
  let current = data;
  for (const segment of path) {
    if (typeof current !== "object" || current === null) return undefined;
    current = (current as Record<PropertyKey, unknown>)[segment];
  }
  return current;
}

function isMissingKey(data: unknown, path: ConfigPath): boolean {
  const parent = valueAt(data, path.slice(0, -1));
  const last = path[path.length - 1];
  if (path.length === 0) return false;
  // A null parent is `key:` with nothing under it, such as `- file:`: its keys are missing.
  if (parent === null) return true;
  return (
    typeof parent === "object" &&
    !Array.isArray(parent) &&
    last !== undefined &&
    !Object.hasOwn(parent, last)
  );
}

/** Reports one schema run's findings; `data` is the whole config as parsed from YAML. */
export function reportFindings(
  findings: SchemaFindings,
  data: unknown,
  issues: IssueCollector,
): void {
  const { prefix } = findings;
  if (findings.message) issues.at(prefix, findings.message);
  for (const key of findings.unknownKeys ?? []) {
    const path = [...prefix, key];
    issues.at(
      path,
      unknownKeyMessage(path, key, findings.known ?? [], findings.what ?? "key"),
      "key",
    );
  }
  const reported = new Set<string>();
  // A typo (`stream_nam`) also leaves its key missing: the "did you mean" says it all.
  for (const issue of findings.issues ?? []) {
    if (issue.code !== "unrecognized_keys") continue;
    const known = findings.schema ? knownKeys(findings.schema, issue.path) : [];
    for (const key of issue.keys) {
      const guess = suggest(key, known);
      if (guess) reported.add(JSON.stringify([...prefix, ...issue.path, guess].map(String)));
    }
  }
  for (const issue of findings.issues ?? []) {
    const path = [...prefix, ...issue.path];
    // One message per place: a value that fails its type fails its range checks too.
    const id = JSON.stringify(path.map(String));
    if (issues.isClaimed(path) || reported.has(id)) continue;
    reported.add(id);
    if (issue.code === "unrecognized_keys") {
      const known = findings.schema ? knownKeys(findings.schema, issue.path) : [];
      for (const key of issue.keys) {
        const keyPath = [...path, key];
        issues.at(keyPath, unknownKeyMessage(keyPath, key, known, "key"), "key");
      }
      continue;
    }
    if (isMissingKey(data, path)) {
      issues.at(path, `required key is missing (${issue.message})`, "parent");
      continue;
    }
    const value = valueAt(data, path);
    let message = issue.message;
    if (message.startsWith("expected") && issue.code !== "custom" && value !== undefined) {
      message += `, got ${foundText(path, value)}`;
    }
    if (issue.code === "invalid_value" && typeof value === "string" && !isSecretPath(path)) {
      const guess = suggest(value, issue.values.map(String));
      if (guess) message += `; did you mean "${guess}"?`;
    }
    issues.at(path, message);
  }
}

/**
 * Loading a config file: YAML with positions -> `${VAR}` substitution -> placeholder check ->
 * schema -> cross-key rules -> ExporterConfig. Every problem found on the way is collected, so
 * one run of `validate` lists them all, each at its line and column.
 */
import { readFile } from "node:fs/promises";
import { type Document, isScalar, LineCounter, parseDocument } from "yaml";
import type { z } from "zod";
import { ConfigError, IssueCollector } from "./issues.js";
import { buildConfig, type CheckOptions, checkOutputs } from "./normalize.js";
import { isOutputType, OUTPUT_SCHEMAS, OUTPUT_TYPES, type OutputConfig } from "./outputs.js";
import {
  checkPlaceholders,
  type Env,
  normalizeIndentation,
  secretValues,
  substituteEnv,
} from "./scalars.js";
import { type ConfigFile, configFileSchema } from "./schema.js";
import type { ExporterConfig } from "./types.js";
import { reportFindings, type SchemaFindings } from "./zod-issues.js";

export interface ParseOptions extends CheckOptions {
  /** Variables for `${VAR}`; default process.env. */
  env?: Env;
}

function yamlErrorMessage(code: string, message: string, source: string, offset: number): string {
  if (code === "DUPLICATE_KEY") {
    // The parser's message names no key; the source does. Keys are not secrets.
    const key = /^[^:\n]*/.exec(source.slice(offset))?.[0].trim() ?? "";
    return key && key.length <= 64 ? `duplicate key "${key}"` : "duplicate key";
  }
  if (code === "TAB_AS_INDENT")
    return "YAML syntax error: tabs are not allowed in indentation; use spaces";
  if (code === "MULTIPLE_DOCS") {
    return "YAML syntax error: the file holds more than one document (a second `---`); keep one";
  }
  // Some parser messages end with the offending source text (`...in YAML stream: "text"`),
  // which may be a secret: keep the first line up to the first ": ".
  const first = message.split("\n")[0] ?? message;
  const cut = first.indexOf(": ");
  return `YAML syntax error: ${cut > 0 ? first.slice(0, cut) : first}`;
}

interface Validated {
  file?: ConfigFile;
  outputs: OutputConfig[];
  findings: SchemaFindings[];
}

/** Schema checks only, no reporting: run twice when numbers had to become strings. */
function validate(data: unknown): Validated {
  const result: Validated = { outputs: [], findings: [] };
  const top = configFileSchema.safeParse(data);
  if (top.success) result.file = top.data;
  else result.findings.push({ prefix: [], schema: configFileSchema, issues: top.error.issues });

  const items = (data as { outputs?: unknown } | null)?.outputs;
  if (!Array.isArray(items)) return result;
  items.forEach((item, index) => {
    const prefix = ["outputs", index];
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      result.findings.push({
        prefix,
        message: "expected a map with one output type, such as `- file:`",
      });
      return;
    }
    const keys = Object.keys(item);
    if (keys.length !== 1) {
      result.findings.push({
        prefix,
        message: `expected exactly one output type per list item, got ${keys.length}${keys.length ? ` (${keys.join(", ")}); start each output with its own "- "` : ""}`,
      });
      return;
    }
    const type = keys[0] ?? "";
    if (!isOutputType(type)) {
      result.findings.push({
        prefix,
        unknownKeys: [type],
        known: OUTPUT_TYPES,
        what: "output type",
      });
      return;
    }
    const schema = OUTPUT_SCHEMAS[type];
    // `- file:` with nothing under it: report its missing keys rather than "expected a map".
    const settings = (item as Record<string, unknown>)[type] ?? {};
    if (typeof settings !== "object" || Array.isArray(settings)) {
      const keys = Object.keys(schema.shape).join(", ");
      result.findings.push({
        prefix: [...prefix, type],
        message: `expected a map of ${type} settings (${keys}) indented under "${type}:"`,
      });
      return;
    }
    const parsed = schema.safeParse(settings);
    if (parsed.success) {
      result.outputs.push({ type, index, config: parsed.data } as OutputConfig);
    } else {
      const findings = { prefix: [...prefix, type], schema: schema as z.ZodType };
      result.findings.push({ ...findings, issues: parsed.error.issues });
    }
  });
  return result;
}

/**
 * Where the schema wants a string and YAML read a plain number (`object_key_prefix: 2024`,
 * `customer_identifier: 1234`), take the text as written, so leading zeros survive. Returns
 * whether anything changed.
 */
function numbersAsWritten(doc: Document, all: readonly SchemaFindings[]): boolean {
  let changed = false;
  for (const found of all) {
    for (const issue of found.issues ?? []) {
      if (issue.code !== "invalid_type" || issue.expected !== "string") continue;
      const node = doc.getIn([...found.prefix, ...issue.path] as unknown[], true);
      if (
        isScalar(node) &&
        typeof node.value === "number" &&
        node.type === "PLAIN" &&
        node.source
      ) {
        node.value = node.source;
        changed = true;
      }
    }
  }
  return changed;
}

function toData(doc: Document, issues: IssueCollector): unknown {
  try {
    return doc.toJS({ maxAliasCount: 1000 });
  } catch {
    // Alias errors name the alias; say what is wrong without quoting the text.
    issues.atOffset(
      0,
      "YAML error: an alias (*name) refers to no anchor defined before it, or aliases expand too much",
    );
    return undefined;
  }
}

/**
 * Parses and validates config text. `fileName` only labels the messages. Throws ConfigError
 * listing every problem found.
 */
export function parseConfig(
  text: string,
  fileName: string,
  options: ParseOptions = {},
): ExporterConfig {
  const lineCounter = new LineCounter();
  const source = normalizeIndentation(text);
  const doc = parseDocument(source, {
    lineCounter,
    prettyErrors: false,
    merge: true,
    uniqueKeys: true,
  });
  const issues = new IssueCollector(fileName, lineCounter, doc);
  for (const error of doc.errors) {
    issues.atOffset(
      error.pos[0],
      yamlErrorMessage(error.code, error.message, source, error.pos[0]),
    );
  }
  // After a syntax error the tree is a guess; schema messages about it would mislead.
  // (Warnings, such as an unknown `!tag`, leave a plain value the schema then checks.)
  issues.throwIfAny();

  if (doc.contents === null) {
    issues.atOffset(
      0,
      "the file is empty: start from the template in the guide (customer_identifier, input, outputs)",
    );
  }
  issues.throwIfAny();

  // Problems found here claim their paths, and validation goes on: one run lists everything.
  substituteEnv(doc, options.env ?? process.env, issues);
  checkPlaceholders(doc, issues);
  const secrets = secretValues(doc);
  let data = toData(doc, issues);
  if (data === undefined) issues.throwIfAny(secrets);

  let result = validate(data);
  if (numbersAsWritten(doc, result.findings)) {
    data = toData(doc, issues);
    result = validate(data);
  }
  for (const found of result.findings) reportFindings(found, data, issues);

  checkOutputs(result.outputs, issues, options);
  const config = result.file && buildConfig(result.file, result.outputs, issues);
  issues.throwIfAny(secrets);
  // No config without an issue cannot happen: buildConfig reports why it returns undefined.
  if (!config) throw new Error("config rejected without an issue to report");
  return config;
}

function readErrorText(err: unknown): string {
  switch ((err as NodeJS.ErrnoException).code) {
    case "ENOENT":
      return "no such file";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "is a directory, not a file";
    default:
      return (err as NodeJS.ErrnoException).code ?? "read error";
  }
}

/** Reads and validates a config file; throws ConfigError (`config.yaml: cannot read: ...`). */
export async function loadConfig(
  path: string,
  options: ParseOptions = {},
): Promise<ExporterConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new ConfigError([
      { file: path, line: 0, column: 0, path: "", message: `cannot read: ${readErrorText(err)}` },
    ]);
  }
  return parseConfig(text, path, options);
}

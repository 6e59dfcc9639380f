/**
 * Config problems as the user sees them: `file:line:column: path: message`, one line each,
 * pointing into the YAML text, never quoting a secret.
 */
import { type Document, isMap, isPair, isScalar, type LineCounter, type Node } from "yaml";
import { ExporterError } from "../core/errors.js";
import { isSecretPath } from "./secrets.js";

export interface ConfigIssue {
  file: string;
  /** 1-based; 0 when the problem has no place in the text (the file cannot be read). */
  line: number;
  /** 1-based; 0 with line 0. */
  column: number;
  /** Dotted config path such as `outputs[0].file.max_files`; "" for the file as a whole. */
  path: string;
  message: string;
}

export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line > 0 ? `${issue.file}:${issue.line}:${issue.column}` : issue.file;
  return issue.path ? `${where}: ${issue.path}: ${issue.message}` : `${where}: ${issue.message}`;
}

/** A config that cannot be used. `format()` gives the lines to print, one per issue. */
export class ConfigError extends ExporterError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super("config_invalid", "permanent", issues.map(formatIssue).join("\n"));
    this.name = "ConfigError";
    this.issues = issues;
  }

  format(): string {
    return this.issues.map(formatIssue).join("\n");
  }
}

export type ConfigPath = readonly PropertyKey[];

/** `outputs[0].file.export_only_where["process.username"]` */
export function formatPath(path: ConfigPath): string {
  let out = "";
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (typeof segment === "string" && /^[A-Za-z_][A-Za-z0-9_-]*$/.test(segment)) {
      out += out ? `.${segment}` : segment;
    } else out += `[${JSON.stringify(safeText(String(segment)))}]`;
  }
  return out;
}

/**
 * A word that could be a credential: long, in the base64/hex alphabet, mixing character
 * classes. Used to avoid echoing values that were pasted into the wrong key (a secret key in
 * `aws_region` after swapping two lines), where the key name cannot tell us.
 */
function looksLikeCredential(word: string): boolean {
  if (word.length < 16 || !/^[A-Za-z0-9+/=]+$/.test(word)) return false;
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[+/=]/].filter((c) => c.test(word)).length;
  return classes >= 2;
}

/** User text safe to quote in a message, or a description of it. */
export function safeText(value: string): string {
  if (value.length > 64 || /[\r\n]/.test(value) || value.split(/\s+/).some(looksLikeCredential)) {
    return `<${value.length} characters, not shown>`;
  }
  return value;
}

/** What was found, for "expected X, got Y". Secrets are described by their type only. */
export function describeFound(value: unknown, secret: boolean): string {
  if (value === null) return "an empty value";
  if (Array.isArray(value)) return value.length === 0 ? "an empty list" : "a list";
  if (typeof value === "object") return Object.keys(value).length === 0 ? "an empty map" : "a map";
  if (typeof value === "string") {
    if (value === "") return "an empty string";
    if (secret) return "a string";
    const shown = safeText(value);
    return shown === value ? JSON.stringify(value) : `a string of ${value.length} characters`;
  }
  return secret ? `a ${typeof value}` : String(value);
}

function nodeAt(doc: Document, path: ConfigPath): unknown {
  return path.length === 0 ? doc.contents : doc.getIn(path as unknown[], true);
}

function startOf(node: unknown): number | undefined {
  const range = (node as Node | undefined)?.range;
  return range ? range[0] : undefined;
}

/**
 * Collects issues and gives each its place in the text:
 * - "value": the value node (for an empty `key:` the key, which is where the eye goes);
 * - "key": the key node, for unknown keys;
 * - "parent": the map that lacks a required key.
 * A path the YAML does not have (a default, a value reshaped by the schema) falls back to its
 * nearest ancestor that exists.
 */
export class IssueCollector {
  private readonly issues: Array<{ issue: ConfigIssue; order: number }> = [];
  private readonly seen = new Set<string>();
  /** Paths with an issue already (a placeholder, a missing variable): later ones are noise. */
  private readonly claimed: string[] = [];

  constructor(
    private readonly file: string,
    private readonly lineCounter: LineCounter,
    private readonly doc?: Document,
  ) {}

  get size(): number {
    return this.issues.length;
  }

  /** True when an issue was reported at this path or one of its ancestors. */
  isClaimed(path: ConfigPath): boolean {
    const text = formatPath(path);
    return this.claimed.some(
      (c) => text === c || text.startsWith(`${c}.`) || text.startsWith(`${c}[`),
    );
  }

  claim(path: ConfigPath): void {
    this.claimed.push(formatPath(path));
  }

  /** An issue at a text offset (YAML syntax errors). */
  atOffset(offset: number, message: string): void {
    const { line, col } = this.lineCounter.linePos(offset);
    this.push({ file: this.file, line, column: col, path: "", message });
  }

  at(path: ConfigPath, message: string, pointAt: "value" | "key" | "parent" = "value"): void {
    const offset = this.locate(path, pointAt);
    const pos = offset === undefined ? { line: 1, col: 1 } : this.lineCounter.linePos(offset);
    this.push({
      file: this.file,
      line: pos.line,
      column: pos.col,
      path: formatPath(path),
      message,
    });
  }

  /** True when the YAML text spells this key (defaults filled in later do not count). */
  hasKey(path: ConfigPath): boolean {
    return this.doc !== undefined && this.keyOffset(this.doc, path) !== undefined;
  }

  /** 1-based line of the value at path, for messages that refer to another place. */
  lineOf(path: ConfigPath): number | undefined {
    const offset = this.locate(path, "value");
    return offset === undefined ? undefined : this.lineCounter.linePos(offset).line;
  }

  /**
   * Throws a ConfigError when there is anything to report. `secrets` are the secret values of
   * this config: the last line of defence scrubs them from every message.
   */
  throwIfAny(secrets: readonly string[] = []): void {
    if (this.issues.length === 0) return;
    // Short values are skipped: scrubbing "token" would garble key names, and a real
    // credential is never that short.
    const scrub = (text: string) =>
      secrets.reduce((acc, s) => (s.length >= 8 ? acc.split(s).join("***") : acc), text);
    const sorted = [...this.issues]
      .sort(
        (a, b) =>
          a.issue.line - b.issue.line || a.issue.column - b.issue.column || a.order - b.order,
      )
      .map(({ issue }) => ({ ...issue, path: scrub(issue.path), message: scrub(issue.message) }));
    throw new ConfigError(sorted);
  }

  private push(issue: ConfigIssue): void {
    const key = `${issue.path}\u0000${issue.message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.issues.push({ issue, order: this.issues.length });
  }

  private locate(path: ConfigPath, pointAt: "value" | "key" | "parent"): number | undefined {
    const doc = this.doc;
    if (!doc) return undefined;
    if (pointAt === "parent") return this.locate(path.slice(0, -1), "value");
    const keyOffset = this.keyOffset(doc, path);
    if (pointAt === "key" && keyOffset !== undefined) return keyOffset;
    const node = nodeAt(doc, path);
    // `key:` with nothing after it has an empty node at the line's end: point at the key.
    const empty = isScalar(node) && node.value === null && !node.source;
    const offset = (empty ? undefined : startOf(node)) ?? keyOffset;
    if (offset !== undefined) return offset;
    return path.length === 0 ? 0 : this.locate(path.slice(0, -1), "value");
  }

  private keyOffset(doc: Document, path: ConfigPath): number | undefined {
    const last = path[path.length - 1];
    if (typeof last !== "string") return undefined;
    const parent = nodeAt(doc, path.slice(0, -1));
    if (!isMap(parent)) return undefined;
    const pair = parent.items.find(
      (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === last,
    );
    return startOf(pair?.key);
  }
}

/** For a secret, "expected a string" must not be followed by its value. */
export function foundText(path: ConfigPath, value: unknown): string {
  return describeFound(value, isSecretPath(path));
}

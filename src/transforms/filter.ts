import { ExporterError } from "../core/errors.js";

/**
 * `export_only_where` (SPEC.md section 5): a record passes when, for every listed field, its
 * value is one of the allowed values. Fields are ANDed, values within a field ORed.
 *
 * Matching rules, decided here and documented for users:
 * - Field names are dotted paths into nested objects (`process.username`). A literal top-level
 *   key spelled with the dots (`"process.username": ...`) wins over the path when present.
 *   A numeric segment indexes an array (`entries.0.type`); arrays in the middle of a path are
 *   not searched.
 * - Numbers and numeric strings compare by value: `529` matches `529`, `"529"`, `529.0` and
 *   `"529.0"`. A numeric string is written the JSON way: optional `-`, no leading zeros, no
 *   spaces, no `+`, no hex. So `"0529"` and `" 529 "` match only themselves, as strings.
 *   Integers beyond 2^53 compare as doubles (a near-equal big ID may match: over-exporting is
 *   the safe side).
 * - `true` / `false` match the booleans and the strings `"true"` / `"false"` (lower case only),
 *   whichever side has which.
 * - An allowed `null` matches a field that is null or missing. The string `"null"` is a string.
 * - When the value at the path is an array, the record matches if any element matches (one
 *   level: nested arrays and objects never match).
 * - An empty list of allowed values matches nothing.
 *
 * Compiled once per output; the per-record cost is a few property reads and a Set lookup.
 */

export type FilterValue = string | number | boolean | null;
export type WhereClause = Readonly<Record<string, ReadonlyArray<FilterValue>>>;
export type RecordPredicate = (value: Readonly<Record<string, unknown>>) => boolean;

/** Null when there is nothing to filter: callers skip the call entirely. */
export function compileFilter(where: WhereClause | undefined | null): RecordPredicate | null {
  if (where === undefined || where === null) return null;
  const fields = Object.keys(where);
  if (fields.length === 0) return null;

  const tests = fields.map((field) => compileField(field, where[field]));
  if (tests.length === 1) return tests[0] ?? null;
  return (value) => {
    for (let i = 0; i < tests.length; i++) {
      if (!(tests[i] as RecordPredicate)(value)) return false;
    }
    return true;
  };
}

/** Allowed values of one field, pre-normalised. */
interface Allowed {
  readonly strings: Set<string>;
  readonly numbers: Set<number>;
  allowTrue: boolean;
  allowFalse: boolean;
  allowNull: boolean;
}

function compileField(field: string, list: unknown): RecordPredicate {
  if (!Array.isArray(list)) {
    throw new ExporterError(
      "bad_filter",
      "permanent",
      `export_only_where.${field} must be a list of values`,
    );
  }
  const allowed: Allowed = {
    strings: new Set(),
    numbers: new Set(),
    allowTrue: false,
    allowFalse: false,
    allowNull: false,
  };
  for (const v of list as unknown[]) addAllowed(allowed, v, field);
  const read = compilePath(field);
  return (value) => matches(read(value), allowed);
}

function addAllowed(a: Allowed, v: unknown, field: string): void {
  if (v === null) {
    a.allowNull = true;
  } else if (typeof v === "boolean") {
    if (v) a.allowTrue = true;
    else a.allowFalse = true;
    a.strings.add(String(v));
  } else if (typeof v === "number") {
    a.numbers.add(v);
    if (Number.isFinite(v)) a.strings.add(String(v));
  } else if (typeof v === "string") {
    a.strings.add(v);
    if (v === "true") a.allowTrue = true;
    else if (v === "false") a.allowFalse = true;
    const n = numericValue(v);
    if (n !== undefined) a.numbers.add(n);
  } else {
    throw new ExporterError(
      "bad_filter",
      "permanent",
      `export_only_where.${field}: allowed values must be strings, numbers, booleans or null (got ${Array.isArray(v) ? "array" : typeof v})`,
    );
  }
}

function matches(v: unknown, a: Allowed): boolean {
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const el: unknown = v[i];
      if (!Array.isArray(el) && matchScalar(el, a)) return true;
    }
    return false;
  }
  return matchScalar(v, a);
}

function matchScalar(v: unknown, a: Allowed): boolean {
  switch (typeof v) {
    case "string": {
      if (a.strings.has(v)) return true;
      if (a.numbers.size === 0) return false;
      const n = numericValue(v);
      return n !== undefined && a.numbers.has(n);
    }
    case "number":
      return a.numbers.has(v);
    case "boolean":
      return v ? a.allowTrue : a.allowFalse;
    case "undefined":
      return a.allowNull;
    default:
      return v === null && a.allowNull;
  }
}

export type Reader = (value: Readonly<Record<string, unknown>>) => unknown;

/** Reads a dotted path with the rules above (also used to find enrichment's join field). */
export function compilePath(field: string): Reader {
  const readTop = own(field);
  if (field.indexOf(".") === -1) return readTop;
  const steps = field.split(".").map(own);
  return (value) => {
    const literal = readTop(value);
    if (literal !== undefined) return literal;
    let cur: unknown = value;
    for (let i = 0; i < steps.length; i++) {
      if (typeof cur !== "object" || cur === null) return undefined;
      cur = (steps[i] as Reader)(cur as Record<string, unknown>);
    }
    return cur;
  };
}

/**
 * Reads one key. Names that exist on Object.prototype (`constructor`, `toString`...) need an
 * own-property check so an inherited member never reads as the record's value.
 */
function own(key: string): Reader {
  if (key in Object.prototype) {
    return (value) => (Object.hasOwn(value, key) ? value[key] : undefined);
  }
  return (value) => value[key];
}

/**
 * The number a string spells in JSON number syntax, else undefined. Hand-written scanner: this
 * runs per record when a string value misses the string Set.
 */
export function numericValue(s: string): number | undefined {
  const len = s.length;
  let i = 0;
  if (i < len && s.charCodeAt(i) === 0x2d) i++; // -
  if (i >= len) return undefined;
  const first = s.charCodeAt(i);
  if (first === 0x30) {
    i++; // a lone leading 0: "0", "0.5", never "0529"
  } else if (first >= 0x31 && first <= 0x39) {
    while (i < len && isDigit(s.charCodeAt(i))) i++;
  } else {
    return undefined;
  }
  if (i < len && s.charCodeAt(i) === 0x2e) {
    i++;
    if (i >= len || !isDigit(s.charCodeAt(i))) return undefined;
    while (i < len && isDigit(s.charCodeAt(i))) i++;
  }
  if (i < len && (s.charCodeAt(i) | 0x20) === 0x65) {
    i++; // e or E
    const sign = s.charCodeAt(i);
    if (sign === 0x2b || sign === 0x2d) i++;
    if (i >= len || !isDigit(s.charCodeAt(i))) return undefined;
    while (i < len && isDigit(s.charCodeAt(i))) i++;
  }
  if (i !== len) return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/**
 * Turns a parsed WHERE clause into a predicate over one parsed JSON record. The semantics are
 * documented at the top of where.ts. Everything that can be decided once (path steps, lowercase
 * names, LIKE matchers, IN sets) is decided here; the returned closures allocate nothing per
 * record on the common paths.
 *
 * Inside this module MISSING is `undefined` (JSON.parse never produces it), NULL is `null`, and
 * a truth value is `true`, `false` or `null` (unknown).
 */

import type { CompareOp, Literal, PathStep, ValueExpr, WhereExpr } from "./ast.js";
import { compileLike } from "./like.js";
import type { SelectPredicate } from "./types.js";

type Truth = boolean | null;
type Condition = (record: unknown) => Truth;
type Getter = (record: unknown) => unknown;
type Step = (value: unknown) => unknown;

/** The predicate selects a record only when the clause is TRUE (not FALSE, not unknown). */
export function compileExpr(expr: WhereExpr): SelectPredicate {
  const condition = compileCondition(expr);
  return (record) => condition(record) === true;
}

function compileCondition(expr: WhereExpr): Condition {
  switch (expr.kind) {
    case "and": {
      const left = compileCondition(expr.left);
      const right = compileCondition(expr.right);
      return (r) => {
        const a = left(r);
        if (a === false) return false;
        const b = right(r);
        if (b === false) return false;
        return a === null || b === null ? null : true;
      };
    }
    case "or": {
      const left = compileCondition(expr.left);
      const right = compileCondition(expr.right);
      return (r) => {
        const a = left(r);
        if (a === true) return true;
        const b = right(r);
        if (b === true) return true;
        return a === null || b === null ? null : false;
      };
    }
    case "not": {
      const operand = compileCondition(expr.operand);
      return (r) => {
        const t = operand(r);
        return t === null ? null : !t;
      };
    }
    case "compare":
      return compileCompare(expr.op, compileValue(expr.left), compileValue(expr.right));
    case "in":
      return negate(compileIn(compileValue(expr.value), expr.list), expr.negated);
    case "between": {
      const value = compileValue(expr.value);
      const low = compileValue(expr.low);
      const high = compileValue(expr.high);
      const between: Condition = (r) => {
        const v = value(r);
        const a = order(v, low(r));
        const b = order(v, high(r));
        if (a < 0 || b > 0) return false;
        return Number.isNaN(a) || Number.isNaN(b) ? null : true;
      };
      return negate(between, expr.negated);
    }
    case "like": {
      const value = compileValue(expr.value);
      const matches = compileLike(expr.pattern, expr.escape);
      const like: Condition = (r) => {
        const v = value(r);
        return typeof v === "string" ? matches(v) : null;
      };
      return negate(like, expr.negated);
    }
    case "is": {
      const value = compileValue(expr.value);
      const negated = expr.negated;
      if (expr.test === "missing") return (r) => (value(r) === undefined) !== negated;
      return (r) => {
        const v = value(r);
        return (v === null || v === undefined) !== negated;
      };
    }
    case "truth": {
      const value = compileValue(expr.value);
      return (r) => {
        const v = value(r);
        return typeof v === "boolean" ? v : null;
      };
    }
  }
}

function negate(condition: Condition, negated: boolean): Condition {
  if (!negated) return condition;
  return (r) => {
    const t = condition(r);
    return t === null ? null : !t;
  };
}

function compileCompare(op: CompareOp, left: Getter, right: Getter): Condition {
  // NaN from order() (unknown) fails every numeric test below, hence the explicit checks.
  switch (op) {
    case "=":
      return (r) => {
        const c = order(left(r), right(r));
        return Number.isNaN(c) ? null : c === 0;
      };
    case "<>":
      return (r) => {
        const c = order(left(r), right(r));
        return Number.isNaN(c) ? null : c !== 0;
      };
    case "<":
      return (r) => {
        const c = order(left(r), right(r));
        return Number.isNaN(c) ? null : c < 0;
      };
    case "<=":
      return (r) => {
        const c = order(left(r), right(r));
        return Number.isNaN(c) ? null : c <= 0;
      };
    case ">":
      return (r) => {
        const c = order(left(r), right(r));
        return Number.isNaN(c) ? null : c > 0;
      };
    case ">=":
      return (r) => {
        const c = order(left(r), right(r));
        return Number.isNaN(c) ? null : c >= 0;
      };
  }
}

/**
 * -1, 0 or 1 when both values are numbers, both strings or both booleans; NaN (unknown)
 * otherwise, which covers NULL, MISSING, objects, arrays and mixed types.
 */
export function order(a: unknown, b: unknown): number {
  if (typeof a === "number" && typeof b === "number") return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === "string" && typeof b === "string") return a === b ? 0 : compareCodePoints(a, b);
  if (typeof a === "boolean" && typeof b === "boolean") return a === b ? 0 : a ? 1 : -1;
  return Number.NaN;
}

/** Orders strings by Unicode code point (JavaScript's `<` orders by UTF-16 code unit). */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      // Surrogates (U+D800..DFFF, i.e. code points above U+FFFF) sort after U+E000..FFFF.
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x < y ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** TRUE if an element equals the value; else unknown if some comparison was unknown; else FALSE. */
function compileIn(value: Getter, list: readonly Literal[]): Condition {
  const strings = new Set<string>();
  const numbers = new Set<number>();
  const booleans = new Set<boolean>();
  for (const x of list) {
    if (typeof x === "string") strings.add(x);
    else if (typeof x === "number") numbers.add(x);
    else if (typeof x === "boolean") booleans.add(x);
  }
  // With an element of another type (or NULL) in the list, "not found" is unknown, not FALSE.
  const notFoundString: Truth = list.every((x) => typeof x === "string") ? false : null;
  const notFoundNumber: Truth = list.every((x) => typeof x === "number") ? false : null;
  const notFoundBoolean: Truth = list.every((x) => typeof x === "boolean") ? false : null;
  return (r) => {
    const v = value(r);
    if (typeof v === "string") return strings.has(v) ? true : notFoundString;
    if (typeof v === "number") return numbers.has(v) ? true : notFoundNumber;
    if (typeof v === "boolean") return booleans.has(v) ? true : notFoundBoolean;
    return null;
  };
}

function compileValue(expr: ValueExpr): Getter {
  if (expr.kind === "literal") {
    const value = expr.value;
    return () => value;
  }
  const steps = expr.steps.map(compileStep);
  const [first, second, third] = steps;
  if (steps.length === 0) return (r) => r;
  if (steps.length === 1 && first) return first;
  if (steps.length === 2 && first && second) {
    return (r) => {
      const a = first(r);
      return a === undefined ? undefined : second(a);
    };
  }
  if (steps.length === 3 && first && second && third) {
    return (r) => {
      const a = first(r);
      if (a === undefined) return undefined;
      const b = second(a);
      return b === undefined ? undefined : third(b);
    };
  }
  const n = steps.length;
  return (r) => {
    let v = r;
    for (let i = 0; i < n && v !== undefined; i++) v = (steps[i] as Step)(v);
    return v;
  };
}

function compileStep(step: PathStep): Step {
  if (step.kind === "index") {
    const index = step.index;
    return (v) => (Array.isArray(v) ? v[index] : undefined);
  }
  const name = step.name;
  // Names that Object.prototype also has ("constructor", "toString", "__proto__") need an own-
  // property check; all others can trust a plain lookup, as JSON values are never undefined.
  const inherited = name in Object.prototype;
  const lower = name.toLowerCase();
  const hasCaseVariants = !step.caseSensitive && lower !== name.toUpperCase();
  const asciiName = isAscii(name);
  return (v) => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
    const o = v as Record<string, unknown>;
    const exact = o[name];
    if (exact !== undefined && (!inherited || Object.hasOwn(o, name))) return exact;
    if (!hasCaseVariants) return undefined;
    for (const key in o) {
      if (asciiName ? equalsAsciiName(key, lower) : key.toLowerCase() === lower) {
        if (Object.hasOwn(o, key)) return o[key];
      }
    }
    return undefined;
  };
}

/** `key.toLowerCase() === lower` for an ASCII `lower`, without allocating for ASCII keys. */
function equalsAsciiName(key: string, lower: string): boolean {
  // A key that lowercases to an ASCII name has the name's length.
  if (key.length !== lower.length) return false;
  for (let i = 0; i < key.length; i++) {
    let c = key.charCodeAt(i);
    if (c > 0x7f) return key.toLowerCase() === lower;
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

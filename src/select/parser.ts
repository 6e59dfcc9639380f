/**
 * Recursive-descent parser for the WHERE-clause subset (grammar below). Runs once per clause;
 * every rejection is a SelectSyntaxError pointing at the offending token, saying what was
 * expected and what was found. Valid SQL that the local evaluator does not implement (functions,
 * CAST, CASE, arithmetic, wildcards, subqueries) is rejected by name rather than misread.
 *
 *   or        := and (OR and)*
 *   and       := not (AND not)*
 *   not       := NOT not | predicate
 *   predicate := operand [ cmp value | [NOT] IN '(' literal (',' literal)* ')'
 *                | [NOT] LIKE 'pattern' [ESCAPE 'c'] | [NOT] BETWEEN value AND value
 *                | IS [NOT] (NULL | MISSING) ]
 *   operand   := '(' or ')' | value
 *   value     := literal | path | '(' value ')'
 *   path      := name ('.' name | '[' integer ']' | '[' 'key' ']')*
 */

import type { CompareOp, Literal, PathStep, ValueExpr, WhereExpr } from "./ast.js";
import type { Token } from "./lexer.js";
import { compileLike, LikePatternError } from "./like.js";
import { describe, isReservedWord, RESERVED, rawOffset, SUPPORTED } from "./messages.js";
import { SelectSyntaxError } from "./types.js";

const COMPARE_OPS: Record<string, CompareOp> = {
  "=": "=",
  "<>": "<>",
  "!=": "<>",
  "<": "<",
  "<=": "<=",
  ">": ">",
  ">=": ">=",
};

const ARITHMETIC = new Set(["+", "-", "*", "/", "%", "||"]);

export class Parser {
  private pos = 0;

  /**
   * @param roots names that denote the record itself as a path's first segment (`S3Object`,
   *   the alias); an unquoted segment matches case-insensitively, a quoted one exactly.
   */
  constructor(
    readonly text: string,
    private readonly tokens: readonly Token[],
    public roots: readonly string[],
  ) {}

  peek(ahead = 0): Token {
    const last = this.tokens[this.tokens.length - 1];
    const token = this.tokens[this.pos + ahead] ?? last;
    if (token === undefined) throw new Error("tokenize() always ends with an end token");
    return token;
  }

  next(): Token {
    const token = this.peek();
    if (token.kind !== "end") this.pos++;
    return token;
  }

  isWord(token: Token, keyword: string): boolean {
    return token.kind === "word" && token.text.toUpperCase() === keyword;
  }

  isSymbol(token: Token, symbol: string): boolean {
    return token.kind === "symbol" && token.text === symbol;
  }

  fail(message: string, offset: number): never {
    throw new SelectSyntaxError(message, this.text, offset);
  }

  /** "expected WHAT [after AFTER] but found TOKEN", at the token. */
  expected(what: string, token: Token, after: string | null): never {
    const where = after === null ? "" : ` after ${after}`;
    const hint =
      isReservedWord(token) && (what === "a value" || what === "a condition")
        ? ` (to use it as a field name, quote it: "${token.text.toLowerCase()}")`
        : "";
    this.fail(`expected ${what}${where} but found ${describe(token)}${hint}`, token.start);
  }

  parseOr(after: string | null): WhereExpr {
    let left = this.parseAnd(after);
    while (this.isWord(this.peek(), "OR")) {
      this.next();
      left = { kind: "or", left, right: this.parseAnd("OR") };
    }
    return left;
  }

  private parseAnd(after: string | null): WhereExpr {
    let left = this.parseNot(after);
    while (this.isWord(this.peek(), "AND")) {
      this.next();
      left = { kind: "and", left, right: this.parseNot("AND") };
    }
    return left;
  }

  private parseNot(after: string | null): WhereExpr {
    if (!this.isWord(this.peek(), "NOT")) return this.parsePredicate(after);
    this.next();
    return { kind: "not", operand: this.parseNot("NOT") };
  }

  private parsePredicate(after: string | null): WhereExpr {
    const left = this.parseOperand(after);
    const op = this.peek();
    const negated =
      this.isWord(op, "NOT") && ["IN", "LIKE", "BETWEEN"].some((k) => this.isWord(this.peek(1), k));
    const keyword = negated ? this.peek(1) : op;
    const isOperator =
      (op.kind === "symbol" && op.text in COMPARE_OPS) ||
      negated ||
      ["IN", "LIKE", "BETWEEN", "IS"].some((k) => this.isWord(keyword, k));
    if (this.isWord(op, "NOT") && !negated) {
      this.expected("IN, LIKE or BETWEEN", this.peek(1), "NOT");
    }
    if (!isOperator) {
      return left.kind === "literal" || left.kind === "path"
        ? { kind: "truth", value: left }
        : left;
    }
    if (left.kind !== "literal" && left.kind !== "path") {
      this.fail(
        `the left side of ${describe(keyword)} must be a path or a literal, not a condition`,
        keyword.start,
      );
    }
    if (negated) this.next();
    this.next();
    const name = keyword.text.toUpperCase();
    if (keyword.kind === "symbol") {
      const opName = COMPARE_OPS[keyword.text] ?? "=";
      return { kind: "compare", op: opName, left, right: this.parseValue(`"${keyword.text}"`) };
    }
    if (name === "IN") return { kind: "in", value: left, list: this.parseInList(), negated };
    if (name === "BETWEEN") {
      const low = this.parseValue("BETWEEN");
      const and = this.peek();
      if (!this.isWord(and, "AND")) this.expected("AND", and, "the lower bound of BETWEEN");
      this.next();
      return { kind: "between", value: left, low, high: this.parseValue("AND"), negated };
    }
    if (name === "LIKE") return { kind: "like", value: left, negated, ...this.parseLikeTail() };
    const isNegated = this.isWord(this.peek(), "NOT");
    if (isNegated) this.next();
    const test = this.peek();
    if (!this.isWord(test, "NULL") && !this.isWord(test, "MISSING")) {
      this.expected("NULL or MISSING", test, isNegated ? "IS NOT" : "IS");
    }
    this.next();
    const kind = this.isWord(test, "NULL") ? "null" : "missing";
    return { kind: "is", value: left, test: kind, negated: isNegated };
  }

  /** A parenthesized condition, or a value (a parenthesized bare value stays a value). */
  private parseOperand(after: string | null): WhereExpr | ValueExpr {
    const open = this.peek();
    if (!this.isSymbol(open, "(")) return this.parseValue(after, "a condition");
    this.rejectSubquery(open);
    this.next();
    const inner = this.parseOr('"("');
    this.expectClose(open);
    this.rejectArithmetic();
    return inner.kind === "truth" ? inner.value : inner;
  }

  parseValue(after: string | null, what = "a value"): ValueExpr {
    const value = this.parseValueNoTail(this.peek(), after, what);
    this.rejectArithmetic();
    return value;
  }

  /** Called after a value: a following operator such as "+" would otherwise be misreported. */
  private rejectArithmetic(): void {
    const tail = this.peek();
    if (tail.kind === "symbol" && ARITHMETIC.has(tail.text)) {
      this.fail(
        `arithmetic and concatenation ("${tail.text}") are not supported by canary-exporter's local evaluator; supported: ${SUPPORTED}`,
        tail.start,
      );
    }
  }

  private parseValueNoTail(t: Token, after: string | null, what: string): ValueExpr {
    const upper = t.kind === "word" ? t.text.toUpperCase() : "";
    if (t.kind === "string" || t.kind === "number") {
      this.next();
      return { kind: "literal", value: t.kind === "string" ? t.text : t.num, offset: t.start };
    }
    if (this.isSymbol(t, "-") || this.isSymbol(t, "+")) {
      const n = this.peek(1);
      if (n.kind === "number") {
        this.next();
        this.next();
        return { kind: "literal", value: t.text === "-" ? -n.num : n.num, offset: t.start };
      }
      if (n.kind === "word" || n.kind === "quoted" || this.isSymbol(n, "(")) {
        this.fail(
          `arithmetic ("${t.text}") is not supported by canary-exporter's local evaluator; only numeric literals may carry a sign`,
          t.start,
        );
      }
      this.expected("a number", n, `"${t.text}"`);
    }
    if (this.isSymbol(t, "(")) {
      this.rejectSubquery(t);
      this.next();
      const inner = this.parseValue('"("');
      this.expectClose(t);
      return inner;
    }
    if (this.isSymbol(t, "?")) {
      this.fail("parameters (?) are not supported in an S3 Select WHERE clause", t.start);
    }
    if (upper === "TRUE" || upper === "FALSE" || upper === "NULL") {
      this.next();
      const value: Literal = upper === "NULL" ? null : upper === "TRUE";
      return { kind: "literal", value, offset: t.start };
    }
    if (upper === "MISSING") {
      this.fail("MISSING is only supported in IS MISSING and IS NOT MISSING", t.start);
    }
    if (upper === "CASE") {
      this.fail(
        `CASE expressions are not supported by canary-exporter's local evaluator; supported: ${SUPPORTED}`,
        t.start,
      );
    }
    if ((t.kind === "word" || t.kind === "quoted") && this.isSymbol(this.peek(1), "(")) {
      this.rejectFunction(t);
    }
    if (t.kind === "quoted" || (t.kind === "word" && !RESERVED.has(upper))) return this.parsePath();
    return this.expected(what, t, after);
  }

  private parsePath(): ValueExpr {
    const first = this.next();
    const isRoot = this.roots.some((root) =>
      first.kind === "quoted"
        ? first.text === root
        : first.text.toLowerCase() === root.toLowerCase(),
    );
    const steps: PathStep[] = isRoot ? [] : [fieldStep(first)];
    let last = first;
    for (;;) {
      const t = this.peek();
      if (this.isSymbol(t, ".")) {
        this.next();
        const name = this.peek();
        if (this.isSymbol(name, "*")) this.rejectWildcard(t, ".*");
        if (name.kind !== "word" && name.kind !== "quoted") {
          this.expected("a field name", name, '"."');
        }
        last = this.next();
        steps.push(fieldStep(name));
        if (this.isSymbol(this.peek(), "(")) this.rejectFunction(name);
      } else if (this.isSymbol(t, "[")) {
        this.next();
        const inner = this.peek();
        if (this.isSymbol(inner, "*")) this.rejectWildcard(t, "[*]");
        if (inner.kind === "number" && Number.isSafeInteger(inner.num)) {
          steps.push({ kind: "index", index: inner.num });
        } else if (inner.kind === "string") {
          steps.push({ kind: "field", name: inner.text, caseSensitive: true });
        } else {
          this.expected("an array index (0, 1, ...) or a quoted key", inner, '"["');
        }
        this.next();
        last = this.peek();
        if (!this.isSymbol(last, "]")) this.expected('"]"', last, "the index");
        this.next();
      } else {
        break;
      }
    }
    return {
      kind: "path",
      steps,
      text: this.text.slice(first.start, last.end),
      offset: first.start,
    };
  }

  private parseInList(): Literal[] {
    const open = this.peek();
    if (!this.isSymbol(open, "(")) this.expected('"(" and a list of values', open, "IN");
    this.rejectSubquery(open);
    this.next();
    const list: Literal[] = [];
    for (;;) {
      const value = this.parseValue(list.length === 0 ? '"IN ("' : '","');
      if (value.kind === "path") {
        this.fail(
          `IN (...) accepts only literal values ('text', numbers, TRUE, FALSE, NULL) but found the path ${value.text}`,
          value.offset,
        );
      }
      list.push(value.value);
      const t = this.next();
      if (this.isSymbol(t, ")")) return list;
      if (!this.isSymbol(t, ",")) this.expected('"," or ")"', t, "a value in the IN list");
    }
  }

  private parseLikeTail(): { pattern: string; escape: string | null } {
    const pattern = this.peek();
    if (pattern.kind !== "string") this.expected("a quoted string pattern", pattern, "LIKE");
    this.next();
    let escapeChar: string | null = null;
    if (this.isWord(this.peek(), "ESCAPE")) {
      this.next();
      const e = this.peek();
      if (e.kind !== "string") this.expected("a quoted escape character", e, "ESCAPE");
      if ([...e.text].length !== 1) {
        this.fail(`the ESCAPE string must be exactly one character but found '${e.text}'`, e.start);
      }
      this.next();
      escapeChar = e.text;
    }
    try {
      compileLike(pattern.text, escapeChar);
    } catch (err) {
      if (!(err instanceof LikePatternError)) throw err;
      this.fail(err.message, rawOffset(this.text, pattern, err.index));
    }
    return { pattern: pattern.text, escape: escapeChar };
  }

  private expectClose(open: Token): void {
    const close = this.peek();
    if (!this.isSymbol(close, ")")) {
      this.expected(`")" to close the "(" at offset ${open.start}`, close, null);
    }
    this.next();
  }

  private rejectSubquery(open: Token): void {
    if (this.isWord(this.peek(1), "SELECT")) {
      this.fail("subqueries are not supported in an S3 Select WHERE clause", open.start);
    }
  }

  private rejectFunction(name: Token): never {
    const upper = name.kind === "word" ? name.text.toUpperCase() : name.text;
    const subject = upper === "CAST" ? "CAST" : `the function ${upper}`;
    this.fail(
      `${subject} is not supported by canary-exporter's local evaluator; supported: ${SUPPORTED}`,
      name.start,
    );
  }

  private rejectWildcard(at: Token, wildcard: string): never {
    this.fail(
      `the wildcard "${wildcard}" is not supported by canary-exporter's local evaluator; use an index such as [0] or a field name`,
      at.start,
    );
  }
}

function fieldStep(token: Token): PathStep {
  return { kind: "field", name: token.text, caseSensitive: token.kind === "quoted" };
}

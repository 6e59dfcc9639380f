/**
 * `input.s3_select_where`: parse an S3 Select WHERE clause and evaluate it locally, on each
 * parsed JSON line, when S3 Select is not available. The exporter sends the service
 * `selectStatementFor(clause)`; the local evaluator must select the same records. Semantics
 * follow the AWS "SQL reference for Amazon S3 Select" (PartiQL); where the reference is silent
 * the choice is stated here.
 *
 * - Three-valued logic. A record is selected only when the clause is TRUE; FALSE and unknown
 *   both drop it. NOT unknown is unknown, so `NOT (a = 1)` does not select a record without `a`.
 *   AND is FALSE if either side is FALSE, OR is TRUE if either side is TRUE, else unknown wins.
 * - A key absent from the record (or a path through a non-object, or an index past the end of
 *   an array) is MISSING; JSON null is NULL. Any comparison, IN, BETWEEN or LIKE involving NULL
 *   or MISSING is unknown. `x IS NULL` is TRUE for NULL and for MISSING (PartiQL);
 *   `x IS MISSING` only for MISSING. IS never yields unknown.
 * - Numbers compare numerically: 1 = 1.0 = 1e0. They are JavaScript doubles, so integers
 *   beyond 2^53 in the data or the clause compare with that precision (as JSON.parse reads them).
 * - Strings compare by Unicode code point, case-sensitively, without collation or trimming.
 * - Booleans compare only with booleans (FALSE < TRUE).
 * - Values of different types (string vs number, number vs boolean, ...) compare as unknown,
 *   never as an error and never by conversion: `a = '1'` does not select {"a": 1}.
 * - Objects and arrays compare as unknown with anything, including other objects and arrays.
 * - IN: TRUE if any element equals the value; unknown if none does and some element comparison
 *   was unknown (a NULL element, or one of another type); else FALSE.
 * - BETWEEN x AND y is `v >= x AND v <= y` under the rules above.
 * - LIKE applies to strings only (other values: unknown); `%` is any run of characters, `_` one
 *   code point, newlines included; other characters, regular-expression metacharacters included,
 *   match themselves. The pattern must be a string literal.
 * - A bare value used as a condition (`WHERE s.flag`) is its boolean value; non-booleans are
 *   unknown.
 * - Paths: in a bare clause the first segment `S3Object` or `s` (unquoted: any case; quoted:
 *   exactly) is the record itself; in a statement, `S3Object` and the declared alias. Any other
 *   first segment is a key of the record. An unquoted name matches its exact key first, then the
 *   first key (in the record's key order) equal ignoring case (`toLowerCase`); a "quoted" name
 *   or a ['bracketed'] key matches exactly. `[n]` indexes arrays; on a non-array it is MISSING.
 * - Strings are single-quoted with '' for a quote; backslashes are ordinary characters.
 *   Keywords are case-insensitive; reserved words (AND, IN, FROM, ...) used as the first
 *   segment of a path must be quoted.
 */

import type { WhereExpr } from "./ast.js";
import { compileExpr } from "./evaluate.js";
import { tokenize } from "./lexer.js";
import { Parser } from "./parser.js";
import { parseStatement } from "./statement.js";
import type { SelectPredicate } from "./types.js";
import { SelectSyntaxError } from "./types.js";

export type { CompareOp, Literal, PathStep, ValueExpr, WhereExpr } from "./ast.js";
export { SelectSyntaxError };

/** Parses a bare WHERE clause; throws SelectSyntaxError with an offset into `clause`. */
export function parseWhere(clause: string): WhereExpr {
  const p = new Parser(clause, tokenize(clause), ["S3Object", "s"]);
  const expr = p.parseOr(null);
  const end = p.peek();
  if (end.kind !== "end") {
    if (p.isWord(end, "LIMIT")) p.fail("LIMIT does not belong in a WHERE clause", end.start);
    p.expected("AND, OR or the end of the clause", end, null);
  }
  return expr;
}

/** Parses once and returns a predicate cheap enough to run on every record. */
export function compileWhere(clause: string): SelectPredicate {
  return compileExpr(parseWhere(clause));
}

/** The statement the exporter sends to S3 Select for `input.s3_select_where`. */
export function selectStatementFor(clause: string): string {
  return `SELECT * FROM S3Object s WHERE ${clause}`;
}

/** Parses `SELECT * FROM S3Object[ [AS] alias][ WHERE clause]`; offsets are into `sql`. */
export function parseSelectStatement(sql: string): {
  where: WhereExpr | null;
  alias: string | null;
} {
  return parseStatement(sql);
}

/** The predicate for a whole statement; without WHERE every record is selected. */
export function compileSelectStatement(sql: string): SelectPredicate {
  const { where } = parseStatement(sql);
  return where === null ? () => true : compileExpr(where);
}

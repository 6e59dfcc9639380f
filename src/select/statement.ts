/**
 * `SELECT * FROM S3Object[ [AS] alias][ WHERE clause]`: the only statement shape the exporter
 * sends to S3 Select, and the only one the S3 Select stand-in used by tests accepts.
 */

import type { WhereExpr } from "./ast.js";
import { tokenize } from "./lexer.js";
import { describe, isReservedWord, SUPPORTED } from "./messages.js";
import { Parser } from "./parser.js";

export interface SelectStatement {
  where: WhereExpr | null;
  /** The alias as written after S3Object (`s` in `FROM S3Object s`), or null. */
  alias: string | null;
}

/** Parses the statement; throws SelectSyntaxError with an offset into `sql`. */
export function parseStatement(sql: string): SelectStatement {
  const p = new Parser(sql, tokenize(sql), ["S3Object"]);
  const select = p.peek();
  if (!p.isWord(select, "SELECT")) p.expected("SELECT", select, null);
  p.next();
  const star = p.peek();
  if (!p.isSymbol(star, "*")) {
    p.fail(
      `only "SELECT *" is supported by canary-exporter's S3 Select evaluator but found ${describe(star)}`,
      star.start,
    );
  }
  p.next();
  const from = p.peek();
  if (!p.isWord(from, "FROM")) p.expected("FROM", from, '"SELECT *"');
  p.next();
  const source = p.peek();
  const isS3Object =
    (source.kind === "word" && source.text.toLowerCase() === "s3object") ||
    (source.kind === "quoted" && source.text === "S3Object");
  if (!isS3Object) p.expected("S3Object", source, "FROM");
  p.next();
  const afterSource = p.peek();
  if (p.isSymbol(afterSource, "[") || p.isSymbol(afterSource, ".")) {
    p.fail(
      "paths in FROM (such as S3Object[*].records) are not supported by canary-exporter's local evaluator; use FROM S3Object s and paths in WHERE",
      afterSource.start,
    );
  }
  let alias: string | null = null;
  const hasAs = p.isWord(afterSource, "AS");
  if (hasAs) p.next();
  const name = p.peek();
  if ((name.kind === "word" && !isReservedWord(name)) || name.kind === "quoted") {
    alias = name.text;
    p.next();
    p.roots = ["S3Object", alias];
  } else if (hasAs) {
    p.expected("an alias name", name, "AS");
  }
  let where: WhereExpr | null = null;
  if (p.isWord(p.peek(), "WHERE")) {
    p.next();
    where = p.parseOr("WHERE");
  }
  const end = p.peek();
  if (p.isWord(end, "LIMIT")) {
    p.fail(
      `LIMIT is not supported by canary-exporter's S3 Select evaluator; supported in WHERE: ${SUPPORTED}`,
      end.start,
    );
  }
  if (end.kind !== "end") {
    p.expected(
      where === null ? "WHERE or the end of the statement" : "AND, OR or the end of the statement",
      end,
      null,
    );
  }
  return { where, alias };
}

/**
 * How the S3 Select parser names tokens and features in its messages, and which words it
 * reserves. Shared by the clause parser and the statement parser.
 */

import type { Token } from "./lexer.js";

/** What the local evaluator supports, quoted in rejections of what it does not. */
export const SUPPORTED =
  "paths (a.b, a[0], \"Quoted\"), literals ('text', 12, -1.5, TRUE, FALSE, NULL), =, <>, !=, <, <=, >, >=, [NOT] IN (literals), [NOT] BETWEEN, [NOT] LIKE [ESCAPE], IS [NOT] NULL, IS [NOT] MISSING, AND, OR, NOT and parentheses";

export const RESERVED = new Set(
  "AND OR NOT IN IS LIKE BETWEEN ESCAPE NULL MISSING TRUE FALSE SELECT FROM WHERE LIMIT AS CASE".split(
    " ",
  ),
);

export function isReservedWord(token: Token): boolean {
  return token.kind === "word" && RESERVED.has(token.text.toUpperCase());
}

/** How a token is named in messages. */
export function describe(token: Token): string {
  switch (token.kind) {
    case "end":
      return "the end of the text";
    case "word":
      return isReservedWord(token) ? `the keyword ${token.text.toUpperCase()}` : `"${token.text}"`;
    case "quoted":
      return `the quoted name "${token.text}"`;
    case "string":
      return `the string '${token.text.length > 40 ? `${token.text.slice(0, 40)}...` : token.text}'`;
    case "number":
      return `the number ${token.text}`;
    case "symbol":
      return `"${token.text}"`;
  }
}

/** Offset in `text` of the `index`-th code unit of a string token's value ('' counts once). */
export function rawOffset(text: string, token: Token, index: number): number {
  let offset = token.start + 1;
  for (let i = 0; i < index; i++) offset += text[offset] === "'" ? 2 : 1;
  return offset;
}

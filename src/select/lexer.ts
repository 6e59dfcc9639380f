/**
 * Tokens of the S3 Select SQL subset. The lexer runs once per clause (at config load), so it
 * favours clear errors over speed. Offsets are 0-based in the text given to `tokenize`.
 */

import { SelectSyntaxError } from "./types.js";

export type TokenKind =
  /** Unquoted identifier or keyword; `text` as written. */
  | "word"
  /** `"double-quoted"` identifier; `text` is the name with `""` unescaped. */
  | "quoted"
  /** `'single-quoted'` string literal; `text` is the value with `''` unescaped. */
  | "string"
  /** Numeric literal; `text` as written, `num` its value. */
  | "number"
  /** Operator or punctuation; `text` is the symbol. */
  | "symbol"
  /** End of the text; `start` is the text's length. */
  | "end";

export interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  readonly num: number;
  /** Offset of the first character. */
  readonly start: number;
  /** Offset just past the last character. */
  readonly end: number;
}

const TWO_CHAR_SYMBOLS = new Set(["<>", "!=", "<=", ">=", "||"]);
const ONE_CHAR_SYMBOLS = new Set("()[],.*=<>+-/%;?{}:");

const WORD_START = /[A-Za-z_]/;
const WORD_PART = /[A-Za-z0-9_$]/;
const DIGIT = /[0-9]/;
const WHITESPACE = /\s/;

/** Splits `text` into tokens, always ending with one `end` token. */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const push = (kind: TokenKind, tokenText: string, start: number, num = Number.NaN): void => {
    tokens.push({ kind, text: tokenText, num, start, end: i });
  };
  while (i < text.length) {
    const c = text.charAt(i);
    const start = i;
    if (WHITESPACE.test(c)) {
      i++;
    } else if (WORD_START.test(c)) {
      while (i < text.length && WORD_PART.test(text.charAt(i))) i++;
      push("word", text.slice(start, i), start);
    } else if (DIGIT.test(c)) {
      i = scanNumber(text, start);
      push("number", text.slice(start, i), start, Number(text.slice(start, i)));
    } else if (c === "'" || c === '"') {
      const [value, next] = scanQuoted(text, start);
      i = next;
      push(c === "'" ? "string" : "quoted", value, start);
    } else if ((c === "-" && text[i + 1] === "-") || (c === "/" && text[i + 1] === "*")) {
      throw new SelectSyntaxError(
        `comments ("${c}${text[i + 1]}") are not supported in an S3 Select WHERE clause by canary-exporter`,
        text,
        start,
      );
    } else if (c === "`") {
      throw new SelectSyntaxError(
        "Ion literals in backticks are not supported by canary-exporter's local evaluator; write strings in single quotes",
        text,
        start,
      );
    } else if (TWO_CHAR_SYMBOLS.has(text.slice(i, i + 2))) {
      i += 2;
      push("symbol", text.slice(start, i), start);
    } else if (ONE_CHAR_SYMBOLS.has(c)) {
      i++;
      push("symbol", c, start);
    } else {
      const hint = c === "!" ? ' (did you mean "!="?)' : c === "|" ? ' (did you mean "||"?)' : "";
      throw new SelectSyntaxError(`unexpected character "${c}"${hint}`, text, start);
    }
  }
  tokens.push({ kind: "end", text: "", num: Number.NaN, start: text.length, end: text.length });
  return tokens;
}

/** Digits, an optional fraction and an optional exponent; returns the offset just past them. */
function scanNumber(text: string, start: number): number {
  let i = start;
  while (DIGIT.test(text.charAt(i))) i++;
  if (text[i] === "." && DIGIT.test(text.charAt(i + 1))) {
    i++;
    while (DIGIT.test(text.charAt(i))) i++;
  }
  if (
    (text[i] === "e" || text[i] === "E") &&
    (DIGIT.test(text.charAt(i + 1)) ||
      ((text[i + 1] === "+" || text[i + 1] === "-") && DIGIT.test(text.charAt(i + 2))))
  ) {
    i += 2;
    while (DIGIT.test(text.charAt(i))) i++;
  }
  if (WORD_PART.test(text.charAt(i)) || text[i] === ".") {
    throw new SelectSyntaxError(
      `malformed number "${text.slice(start, i + 1)}": expected digits, an optional fraction and an optional exponent`,
      text,
      start,
    );
  }
  return i;
}

/** A quoted string or identifier starting at `start`; a doubled quote stands for one quote. */
function scanQuoted(text: string, start: number): [string, number] {
  const quote = text.charAt(start);
  let value = "";
  let i = start + 1;
  for (;;) {
    const close = text.indexOf(quote, i);
    if (close < 0) {
      const what = quote === "'" ? "string" : "quoted identifier";
      throw new SelectSyntaxError(
        `unterminated ${what}: expected a closing ${quote} but found the end of the text`,
        text,
        start,
      );
    }
    value += text.slice(i, close);
    if (text[close + 1] === quote) {
      value += quote;
      i = close + 2;
    } else {
      return [value, close + 1];
    }
  }
}

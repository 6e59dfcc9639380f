/**
 * SQL LIKE patterns: `%` matches any run of characters (including none), `_` exactly one
 * character (one Unicode code point, newlines included), everything else itself. With an ESCAPE
 * character, that character followed by `%`, `_` or itself stands for the literal character;
 * followed by anything else (or at the end) the pattern is invalid.
 */

type Part = { readonly kind: "text"; readonly text: string } | { readonly kind: "one" | "any" };

/** A LIKE pattern that cannot be used; `index` is the code-unit index in the pattern value. */
export class LikePatternError extends Error {
  constructor(
    message: string,
    readonly index: number,
  ) {
    super(message);
    this.name = "LikePatternError";
  }
}

/** Builds the matcher once; the matcher allocates nothing for the common shapes. */
export function compileLike(
  pattern: string,
  escapeChar: string | null,
): (value: string) => boolean {
  const parts = parsePattern(pattern, escapeChar);
  const hasOne = parts.some((p) => p.kind === "one");
  const texts = parts.filter((p) => p.kind === "text").map((p) => p.text);
  const anys = parts.filter((p) => p.kind === "any").length;
  if (!hasOne && texts.length <= 1) {
    const text = texts[0] ?? "";
    const first = parts[0]?.kind;
    const last = parts[parts.length - 1]?.kind;
    if (anys === 0) return (v) => v === text;
    if (text === "") return () => true;
    if (anys === 1 && last === "any") return (v) => v.startsWith(text);
    if (anys === 1 && first === "any") return (v) => v.endsWith(text);
    if (anys === 2 && first === "any" && last === "any") return (v) => v.includes(text);
  }
  const source = parts
    .map((p) => (p.kind === "text" ? escapeRegExp(p.text) : p.kind === "one" ? "." : ".*"))
    .join("");
  const regex = new RegExp(`^${source}$`, "su");
  return (v) => regex.test(v);
}

function parsePattern(pattern: string, escapeChar: string | null): Part[] {
  const parts: Part[] = [];
  let text = "";
  const flush = (): void => {
    if (text !== "") parts.push({ kind: "text", text });
    text = "";
  };
  let i = 0;
  while (i < pattern.length) {
    const c = String.fromCodePoint(pattern.codePointAt(i) ?? 0);
    if (escapeChar !== null && c === escapeChar) {
      const nextIndex = i + c.length;
      const next =
        nextIndex < pattern.length ? String.fromCodePoint(pattern.codePointAt(nextIndex) ?? 0) : "";
      if (next !== "%" && next !== "_" && next !== escapeChar) {
        const found = next === "" ? "the end of the pattern" : `"${next}"`;
        throw new LikePatternError(
          `the ESCAPE character "${escapeChar}" must be followed by "%", "_" or "${escapeChar}" but found ${found}`,
          i,
        );
      }
      text += next;
      i = nextIndex + next.length;
      continue;
    }
    if (c === "%") {
      flush();
      // Consecutive % are one %.
      if (parts[parts.length - 1]?.kind !== "any") parts.push({ kind: "any" });
    } else if (c === "_") {
      flush();
      parts.push({ kind: "one" });
    } else {
      text += c;
    }
    i += c.length;
  }
  flush();
  return parts;
}

function escapeRegExp(text: string): string {
  // Only the syntax characters: with the `u` flag, escaping anything else is an error.
  return text.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
}

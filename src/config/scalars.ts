/**
 * What happens to the text and its string values before the schema sees them: web-page
 * indentation, `${VAR}` substitution and the template's `<<<<< ... >>>>>` placeholders. All of it
 * works on the parsed YAML nodes, so every later message still points at the right line.
 */
import { type Document, isMap, isScalar, isSeq, type Scalar } from "yaml";
import type { ConfigPath, IssueCollector } from "./issues.js";
import { isSecretPath } from "./secrets.js";

/**
 * The guide's web page indents its YAML with non-breaking spaces (U+00A0), which YAML does not
 * count as indentation: a copied template would fail with a baffling error. In the leading
 * whitespace of a line (and after a `- ` list marker) they become plain spaces, one for one, so
 * offsets and columns do not move. Elsewhere, such as inside a value, they are left alone.
 */
export function normalizeIndentation(text: string): string {
  return text.replace(/^[ \u00a0]*(?:-[ \u00a0]+)*/gm, (lead) => lead.replace(/\u00a0/g, " "));
}

type ScalarVisitor = (node: Scalar, path: ConfigPath) => void;

/** Every scalar in value position (not map keys), with its config path. Aliases are skipped:
 * their anchor is visited where it is defined. */
export function walkScalars(doc: Document, visit: ScalarVisitor): void {
  const walk = (node: unknown, path: PropertyKey[]) => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        walk(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, index) => {
        walk(item, [...path, index]);
      });
    } else if (isScalar(node)) {
      visit(node, path);
    }
  };
  walk(doc.contents, []);
}

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * `${NAME}` takes the variable's value; `${NAME:-default}` takes the default when NAME is unset
 * or empty (the shell's rule); `$${` is a literal `${`. Any `$` not followed by `{` is literal.
 * Substitution happens in every string value (quoted, plain or block), never in keys, and the
 * result is never substituted again. An unset variable without a default is an error.
 */
export function substituteEnv(doc: Document, env: Env, issues: IssueCollector): void {
  walkScalars(doc, (node, path) => {
    if (typeof node.value !== "string" || !node.value.includes("$")) return;
    const result = substitute(node.value, env);
    if (typeof result === "string") {
      node.value = result;
      return;
    }
    issues.at(path, result.error);
    issues.claim(path);
  });
}

const REFERENCE = /^([A-Za-z_][A-Za-z0-9_]*)(?::-([\s\S]*))?$/;

function substitute(value: string, env: Env): string | { error: string } {
  let out = "";
  let i = 0;
  while (i < value.length) {
    if (value.startsWith("$${", i)) {
      out += "${";
      i += 3;
    } else if (value.startsWith("${", i)) {
      const end = value.indexOf("}", i + 2);
      if (end < 0) return { error: "unterminated ${ (write $${ for a literal ${)" };
      const match = REFERENCE.exec(value.slice(i + 2, end));
      if (!match) {
        return {
          error: `invalid variable reference: expected $\{NAME} or $\{NAME:-default}, NAME made of letters, digits and _ (write $$\{ for a literal $\{)`,
        };
      }
      const name = match[1] ?? "";
      const fallback = match[2];
      const set = env[name];
      if (fallback !== undefined) out += set ? set : fallback;
      else if (set !== undefined) out += set;
      else {
        return {
          error: `environment variable ${name} is not set (set it, or write \${${name}:-default} to give a default)`,
        };
      }
      i = end + 1;
    } else {
      out += value[i];
      i += 1;
    }
  }
  return out;
}

const PLACEHOLDER = /<<<<[\s\S]*>>>>/;
const WHOLE_PLACEHOLDER = /^\s*<<<<[^\r\n]*>>>>\s*$/;

/**
 * The guide's template marks what to fill in with `<<<<< Enter ... >>>>>` (and `<<<<>>>>` in the
 * outputs). Such a value is named as the problem, whatever the field expects. The placeholder
 * itself is quoted (it is the guide's text, even in a secret field, and it helps to see which
 * one); a value that merely contains one is not, since the rest of it may be a secret.
 */
export function checkPlaceholders(doc: Document, issues: IssueCollector): void {
  walkScalars(doc, (node, path) => {
    if (typeof node.value !== "string" || !PLACEHOLDER.test(node.value)) return;
    if (issues.isClaimed(path)) return;
    const value = node.value.trim();
    const quoted = WHOLE_PLACEHOLDER.test(value) && value.length <= 200;
    issues.at(
      path,
      quoted
        ? `still holds the template placeholder ${JSON.stringify(value)}; replace it with your value`
        : "still holds a template placeholder (<<<< ... >>>>); replace it with your value",
    );
    issues.claim(path);
  });
}

/** Secret values as written in this config, for the final scrub of messages. */
export function secretValues(doc: Document): string[] {
  const values: string[] = [];
  walkScalars(doc, (node, path) => {
    // A placeholder is the guide's text, not a secret: its messages may quote it.
    if (typeof node.value === "string" && isSecretPath(path) && !PLACEHOLDER.test(node.value)) {
      values.push(node.value);
    }
  });
  return values;
}

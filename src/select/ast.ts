/**
 * The parsed form of an S3 Select WHERE clause. Produced by `parseWhere` / `parseSelectStatement`,
 * consumed by the local evaluator. Offsets are 0-based in the parsed text.
 */

/** A literal value; `null` is SQL NULL. */
export type Literal = string | number | boolean | null;

/**
 * One step of a path below the record. `caseSensitive` is false for unquoted names (exact key
 * first, then a case-insensitive match) and true for `"quoted"` names and `['bracketed']` keys.
 */
export type PathStep =
  | { readonly kind: "field"; readonly name: string; readonly caseSensitive: boolean }
  | { readonly kind: "index"; readonly index: number };

export type ValueExpr =
  | { readonly kind: "literal"; readonly value: Literal; readonly offset: number }
  | {
      readonly kind: "path";
      /** Steps below the record; empty when the path is the record itself (`s`, `S3Object`). */
      readonly steps: readonly PathStep[];
      /** The path as written, for messages. */
      readonly text: string;
      readonly offset: number;
    };

export type CompareOp = "=" | "<>" | "<" | "<=" | ">" | ">=";

export type WhereExpr =
  | { readonly kind: "and"; readonly left: WhereExpr; readonly right: WhereExpr }
  | { readonly kind: "or"; readonly left: WhereExpr; readonly right: WhereExpr }
  | { readonly kind: "not"; readonly operand: WhereExpr }
  /** `!=` is stored as `<>`. */
  | {
      readonly kind: "compare";
      readonly op: CompareOp;
      readonly left: ValueExpr;
      readonly right: ValueExpr;
    }
  | {
      readonly kind: "in";
      readonly value: ValueExpr;
      readonly list: readonly Literal[];
      readonly negated: boolean;
    }
  | {
      readonly kind: "between";
      readonly value: ValueExpr;
      readonly low: ValueExpr;
      readonly high: ValueExpr;
      readonly negated: boolean;
    }
  | {
      readonly kind: "like";
      readonly value: ValueExpr;
      readonly pattern: string;
      /** The single ESCAPE character, or null without ESCAPE. */
      readonly escape: string | null;
      readonly negated: boolean;
    }
  | {
      readonly kind: "is";
      readonly value: ValueExpr;
      /** "null" is true for NULL and MISSING; "missing" only for MISSING. */
      readonly test: "null" | "missing";
      readonly negated: boolean;
    }
  /** A bare value used as a condition (`WHERE s.active`, `WHERE TRUE`). */
  | { readonly kind: "truth"; readonly value: ValueExpr };

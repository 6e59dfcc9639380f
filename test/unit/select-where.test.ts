import { describe, expect, it } from "vitest";
import { SelectSyntaxError } from "../../src/select/types.js";
import {
  compileSelectStatement,
  compileWhere,
  parseSelectStatement,
  parseWhere,
  selectStatementFor,
} from "../../src/select/where.js";

const SEED_CLAUSE =
  "S3Object.data.data.entries[0].event_type_full IN ('process_event', 'image_load_event')";

function event(type: string): unknown {
  return { data: { data: { entries: [{ event_type_full: type }] } } };
}

type Row = [clause: string, record: unknown, selected: boolean];

// Expected results follow S3 Select / PartiQL semantics (see the top of src/select/where.ts).
const table: Row[] = [
  // the seed guide's clause on nested records
  [SEED_CLAUSE, event("process_event"), true],
  [SEED_CLAUSE, event("image_load_event"), true],
  [SEED_CLAUSE, event("network_connection_event"), false],
  [SEED_CLAUSE, event("Process_Event"), false],
  [SEED_CLAUSE, {}, false],
  [SEED_CLAUSE, { data: { data: { entries: [] } } }, false],
  [
    SEED_CLAUSE,
    { data: { data: { entries: { 0: { event_type_full: "process_event" } } } } },
    false,
  ],
  [SEED_CLAUSE.replace(" IN ", " NOT IN "), {}, false],
  [SEED_CLAUSE.replace(" IN ", " NOT IN "), event("network_connection_event"), true],
  ["s.data.data.entries[0].event_type_full = 'process_event'", event("process_event"), true],
  ["data.data.entries[0].event_type_full = 'process_event'", event("process_event"), true],
  ["s3object.DATA.data.Entries[0].EVENT_TYPE_FULL = 'process_event'", event("process_event"), true],
  ["data.data.entries[1].event_type_full IS MISSING", event("process_event"), true],
  // numbers: 1 = 1.0, negatives, exponents; no conversion from strings
  ["a = 1", { a: 1 }, true],
  ["a = 1.0", { a: 1 }, true],
  ["a = 1", JSON.parse('{"a": 1.0}'), true],
  ["a = 1e0", { a: 1 }, true],
  ["a = -0", { a: 0 }, true],
  ["a = '1'", { a: 1 }, false],
  ["NOT (a = '1')", { a: 1 }, false],
  ["a <> 1", { a: 2 }, true],
  ["a != 1", { a: 1 }, false],
  ["a < 10", { a: 9.5 }, true],
  ["a >= -1.5", { a: -1.5 }, true],
  ["a > -2", { a: -3 }, false],
  ["a <= 2.50", { a: 2.5 }, true],
  // three-valued logic: NULL and MISSING
  ["a = 1", {}, false],
  ["NOT (a = 1)", {}, false],
  ["NOT (a = 1)", { a: 2 }, true],
  ["NOT (a = 1)", { a: null }, false],
  ["NOT a = 1", {}, false],
  ["a <> 1", { a: null }, false],
  ["a = 1 OR b = 2", { b: 2 }, true],
  ["a = 1 AND b = 2", { b: 2 }, false],
  ["NOT (a = 1 AND b = 3)", { b: 2 }, true],
  ["NOT (a = 1 OR b = 3)", { b: 2 }, false],
  ["NULL = NULL", {}, false],
  ["NULL IS NULL", {}, true],
  ["a IS NULL", {}, true],
  ["a IS NULL", { a: null }, true],
  ["a IS NULL", { a: 0 }, false],
  ["a IS NOT NULL", {}, false],
  ["a IS NOT NULL", { a: false }, true],
  ["a IS MISSING", {}, true],
  ["a IS MISSING", { a: null }, false],
  ["a IS NOT MISSING", { a: null }, true],
  ["a.b IS MISSING", { a: 5 }, true],
  ["a.b = 1", { a: 5 }, false],
  ["a[0] = 1", { a: { 0: 1 } }, false],
  ["a[0] = 1", { a: [1] }, true],
  // precedence: NOT > AND > OR, comparisons tighter than NOT
  ["a = 1 OR b = 1 AND c = 1", { a: 1 }, true],
  ["a = 1 OR b = 1 AND c = 1", { b: 1 }, false],
  ["(a = 1 OR b = 1) AND c = 1", { a: 1 }, false],
  ["NOT a = 1 AND b = 1", { a: 2, b: 1 }, true],
  ["NOT NOT a = 1", { a: 1 }, true],
  // keys: exact first, then case-insensitive; quoted names are exact
  ["EventType = 'x'", { eventtype: "x" }, true],
  ["EventType = 'x'", { eventtypo: "y", EVENTTYPE: "x" }, true],
  ["EventType = 'x'", { eventtypo: "x" }, false],
  ["Name = 'b'", { name: "a", Name: "b" }, true],
  ["name = 'a'", { name: "a", Name: "b" }, true],
  ["\"Name\" = 'a'", { name: "a" }, false],
  ["\"name\" = 'a'", { name: "a" }, true],
  ['"Weird Name" = 1', { "Weird Name": 1 }, true],
  ['S3Object."Weird Name".x = 1', { "Weird Name": { x: 1 } }, true],
  ["a['B c'] = 1", { a: { "B c": 1 } }, true],
  ["a['b'] = 1", { a: { B: 1 } }, false],
  ["constructor IS MISSING", {}, true],
  ["toString = 1", {}, false],
  ['"__proto__" = 1', JSON.parse('{"__proto__": 1}'), true],
  // keywords in any case, whitespace and newlines anywhere
  ["a in ('x') and not b is null", { a: "x", b: 1 }, true],
  ["\n  a\t=\r\n 1  ", { a: 1 }, true],
  ["a\n[\n0\n]\n.\nb\nIN\n(\n1\n,\n2\n)", { a: [{ b: 2 }] }, true],
  // LIKE: metacharacters are literal, _ is one code point, ESCAPE
  ["a LIKE 'a.c'", { a: "abc" }, false],
  ["a LIKE 'a.c'", { a: "a.c" }, true],
  ["a LIKE '(x)+'", { a: "(x)+" }, true],
  ["a LIKE '(x)+'", { a: "xx" }, false],
  ["a LIKE '[ab]*'", { a: "a" }, false],
  ["a LIKE '^a$|b'", { a: "^a$|b" }, true],
  ["a LIKE 'a._'", { a: "abc" }, false],
  ["a LIKE 'a._'", { a: "a.c" }, true],
  ["a LIKE '(x)+_'", { a: "(x)+!" }, true],
  ["a LIKE '(x)+_'", { a: "xx!" }, false],
  ["a LIKE '%[ab]*_'", { a: "a" }, false],
  ["a LIKE '1+1=_%'", { a: "11=2" }, false],
  ["a LIKE '\\d_'", { a: "5x" }, false],
  ["a LIKE '\\d_'", { a: "\\dx" }, true],
  ["a LIKE 'x|y_'", { a: "y!" }, false],
  ["a LIKE 'x_z'", { a: "xyz" }, true],
  ["a LIKE 'x_z'", { a: "xz" }, false],
  ["a LIKE 'a_c'", { a: "a\nc" }, true],
  ["a LIKE '_'", { a: "😀" }, true],
  ["a LIKE '%'", { a: "" }, true],
  ["a LIKE '%'", { a: 5 }, false],
  ["a LIKE 'pro%'", { a: "process_event" }, true],
  ["a LIKE '%event'", { a: "process_event" }, true],
  ["a LIKE '%ss_ev%'", { a: "process_event" }, true],
  ["a LIKE '%ss%ev%'", { a: "process_event" }, true],
  ["a LIKE 'Pro%'", { a: "process_event" }, false],
  ["a NOT LIKE 'x%'", { a: "abc" }, true],
  ["a NOT LIKE 'x%'", {}, false],
  ["a LIKE '100!%' ESCAPE '!'", { a: "100%" }, true],
  ["a LIKE '100!%' ESCAPE '!'", { a: "1000" }, false],
  ["a LIKE 'a!_b!!' ESCAPE '!'", { a: "a_b!" }, true],
  ["a LIKE 'C:\\%'", { a: "C:\\temp" }, true],
  // string literals: '' is a quote, backslash is an ordinary character
  ["a = 'it''s'", { a: "it's" }, true],
  ["a = 'C:\\temp'", { a: "C:\\temp" }, true],
  ["a = 'C:\\temp'", { a: "C:\temp" }, false],
  ["a = ''", { a: "" }, true],
  ["a = 'x'", { a: "X" }, false],
  // strings order by code point
  ["a > 'Z'", { a: "a" }, true],
  ["a < 'b'", { a: "B" }, true],
  ["a > '～'", { a: "😀" }, true],
  // booleans and bare values as conditions
  ["a = true", { a: true }, true],
  ["a = TRUE", { a: "true" }, false],
  ["a = 1", { a: true }, false],
  ["a", { a: true }, true],
  ["a", { a: 1 }, false],
  ["NOT a", { a: false }, true],
  ["NOT a", {}, false],
  ["TRUE", {}, true],
  ["FALSE OR a = 1", { a: 1 }, true],
  ["(a) = 1", { a: 1 }, true],
  ["a = (1)", { a: 1 }, true],
  // objects and arrays compare as unknown
  ["a = 1", { a: {} }, false],
  ["NOT (a = 1)", { a: [1] }, false],
  ["a = b", { a: [1], b: [1] }, false],
  ["a = b", { a: "x", b: "x" }, true],
  // IN with NULL and mixed types
  ["a IN (1, NULL)", { a: 1 }, true],
  ["a IN (1, NULL)", { a: 2 }, false],
  ["a NOT IN (1, NULL)", { a: 2 }, false],
  ["a NOT IN (1, 2)", { a: 3 }, true],
  ["a NOT IN (1, 2)", { a: 2 }, false],
  ["a IN ('1', 1.0)", { a: 1 }, true],
  ["a NOT IN ('x')", { a: 1 }, false],
  ["a IN (TRUE)", { a: true }, true],
  ["a IN (1)", { a: null }, false],
  // BETWEEN
  ["a BETWEEN 1 AND 3", { a: 3 }, true],
  ["a BETWEEN 1 AND 3", { a: 4 }, false],
  ["a BETWEEN 1 AND 3", { a: "2" }, false],
  ["a NOT BETWEEN 1 AND 3 AND b = 1", { a: 0, b: 1 }, true],
  ["a BETWEEN 'a' AND 'c'", { a: "b" }, true],
  ["NOT a BETWEEN 1 AND 3", {}, false],
];

describe("compileWhere", () => {
  it.each(table)("%s on %j → %s", (clause, record, selected) => {
    expect(compileWhere(clause)(record)).toBe(selected);
  });

  it("gives the same answers through selectStatementFor + compileSelectStatement", () => {
    for (const [clause, record, selected] of table) {
      expect([clause, compileSelectStatement(selectStatementFor(clause))(record)]).toEqual([
        clause,
        selected,
      ]);
    }
  });

  it("does not select non-object records", () => {
    const predicate = compileWhere("a = 1");
    for (const record of [null, undefined, 1, "a", [1], true])
      expect(predicate(record)).toBe(false);
  });
});

describe("parseWhere", () => {
  it("builds an AST with NOT > AND > OR and resolved roots", () => {
    expect(parseWhere("NOT s.a = 1 AND b IN (1, 'x', NULL) OR \"C\"[0] IS NOT NULL")).toEqual({
      kind: "or",
      left: {
        kind: "and",
        left: {
          kind: "not",
          operand: {
            kind: "compare",
            op: "=",
            left: {
              kind: "path",
              steps: [{ kind: "field", name: "a", caseSensitive: false }],
              text: "s.a",
              offset: 4,
            },
            right: { kind: "literal", value: 1, offset: 10 },
          },
        },
        right: {
          kind: "in",
          value: {
            kind: "path",
            steps: [{ kind: "field", name: "b", caseSensitive: false }],
            text: "b",
            offset: 16,
          },
          list: [1, "x", null],
          negated: false,
        },
      },
      right: {
        kind: "is",
        value: {
          kind: "path",
          steps: [
            { kind: "field", name: "C", caseSensitive: true },
            { kind: "index", index: 0 },
          ],
          text: '"C"[0]',
          offset: 39,
        },
        test: "null",
        negated: true,
      },
    });
  });

  it("stores != as <> and LIKE's ESCAPE", () => {
    expect(parseWhere("a != 1")).toMatchObject({ kind: "compare", op: "<>" });
    expect(parseWhere("a NOT LIKE 'x!%' ESCAPE '!'")).toMatchObject({
      kind: "like",
      pattern: "x!%",
      escape: "!",
      negated: true,
    });
  });
});

// [clause, offset of the problem, text the message must contain]
const badClauses: Array<[string, number, string]> = [
  ["a = ", 4, 'expected a value after "=" but found the end of the text'],
  ["a = )", 4, 'expected a value after "=" but found ")"'],
  ["LOWER(a) = 'x'", 0, "the function LOWER is not supported by canary-exporter's local evaluator"],
  ["a = 1 AND upper(b) = 'X'", 10, "the function UPPER is not supported"],
  ["a.trim() = 'x'", 2, "the function TRIM is not supported"],
  ["CAST(a AS INT) = 1", 0, "CAST is not supported"],
  ["a = 'unterminated", 4, "unterminated string"],
  ['"unterminated = 1', 0, "unterminated quoted identifier"],
  ["a[*].b = 1", 1, 'the wildcard "[*]" is not supported'],
  ["a.* = 1", 1, 'the wildcard ".*" is not supported'],
  ["a = b + 1", 6, 'arithmetic and concatenation ("+") are not supported'],
  ["a + 1 = 2", 2, "arithmetic"],
  ["(a) * 2 = 2", 4, "arithmetic"],
  ["a = 'x' || 'y'", 8, "concatenation"],
  ["a = -b", 4, "arithmetic"],
  ["(a = 1", 6, 'expected ")" to close the "(" at offset 0 but found the end of the text'],
  ["a = 1)", 5, 'expected AND, OR or the end of the clause but found ")"'],
  ["a = 1 b = 2", 6, 'expected AND, OR or the end of the clause but found "b"'],
  ["a IN ()", 6, 'expected a value after "IN (" but found ")"'],
  ["a IN 'x'", 5, 'expected "(" and a list of values after IN'],
  ["a IN (b)", 6, "IN (...) accepts only literal values"],
  ["a IN (1 2)", 8, 'expected "," or ")"'],
  ["a IN (SELECT x FROM y)", 5, "subqueries are not supported"],
  ["a = (SELECT 1)", 4, "subqueries are not supported"],
  ["a NOT = 1", 6, "expected IN, LIKE or BETWEEN after NOT"],
  ["a LIKE b", 7, "expected a quoted string pattern after LIKE"],
  ["a LIKE 'x!y' ESCAPE '!'", 9, 'the ESCAPE character "!" must be followed by'],
  ["a LIKE 'it''s!' ESCAPE '!'", 13, "but found the end of the pattern"],
  ["a LIKE 'x' ESCAPE '!!'", 18, "exactly one character"],
  ["a IS 5", 5, "expected NULL or MISSING after IS"],
  ["a BETWEEN 1 OR 2", 12, "expected AND after the lower bound of BETWEEN"],
  ["a = 1 AND", 9, "expected a condition after AND but found the end of the text"],
  ["a == 1", 3, 'expected a value after "="'],
  ["a ! 1", 2, 'unexpected character "!"'],
  ["a = 12abc", 4, "malformed number"],
  ["a = MISSING", 4, "MISSING is only supported in IS MISSING"],
  [
    "from = 1",
    0,
    'expected a condition but found the keyword FROM (to use it as a field name, quote it: "from")',
  ],
  ["", 0, "expected a condition but found the end of the text"],
  ["a = 1; b", 5, 'found ";"'],
  ["a = 1 -- comment", 6, "comments"],
  ["a = `1`", 4, "Ion literals"],
  ["(a = 1) = TRUE", 8, "must be a path or a literal, not a condition"],
  ["CASE WHEN a THEN 1 END = 1", 0, "CASE expressions are not supported"],
  ["s.a = 1 LIMIT 5", 8, "LIMIT"],
  ["a[-1] = 1", 2, "expected an array index"],
];

describe("parseWhere errors", () => {
  it.each(badClauses)("%s → offset %i", (clause, offset, message) => {
    let error: unknown;
    try {
      parseWhere(clause);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(SelectSyntaxError);
    const e = error as SelectSyntaxError;
    expect({ offset: e.offset, text: e.text }).toEqual({ offset, text: clause });
    expect(e.message).toContain(message);
    expect(() => compileWhere(clause)).toThrow(SelectSyntaxError);
  });
});

describe("SELECT statements", () => {
  it("builds the statement the exporter sends", () => {
    expect(selectStatementFor("s.a = 1")).toBe("SELECT * FROM S3Object s WHERE s.a = 1");
  });

  it("accepts SELECT * FROM S3Object with an optional alias and WHERE", () => {
    expect(parseSelectStatement("SELECT * FROM S3Object")).toEqual({ where: null, alias: null });
    expect(compileSelectStatement("SELECT * FROM S3Object")({})).toBe(true);
    expect(parseSelectStatement("select * from s3object as R where r.a = 1")).toMatchObject({
      alias: "R",
      where: { kind: "compare", left: { steps: [{ name: "a" }] } },
    });
    expect(compileSelectStatement("select * from s3object as R where r.a = 1")({ a: 1 })).toBe(
      true,
    );
    expect(compileSelectStatement("SELECT * FROM S3Object WHERE S3Object.a = 1")({ a: 1 })).toBe(
      true,
    );
  });

  it("resolves only S3Object and the declared alias as the record", () => {
    const predicate = compileSelectStatement("SELECT * FROM S3Object r WHERE s.a = 1");
    expect(predicate({ s: { a: 1 } })).toBe(true);
    expect(predicate({ a: 1 })).toBe(false);
  });

  const badStatements: Array<[string, number, string]> = [
    ["SELECT a FROM S3Object", 7, 'only "SELECT *" is supported'],
    ["SELECT COUNT(*) FROM S3Object", 7, 'only "SELECT *" is supported'],
    ["SELECT * FROM S3Object[*] s", 22, "paths in FROM"],
    ["SELECT * FROM S3Object s LIMIT 3", 25, "LIMIT is not supported"],
    ["SELECT * FROM S3Object s WHERE", 30, "expected a condition after WHERE"],
    ["SELECT * FROM Other s", 14, "expected S3Object after FROM"],
    ["SELECT * FROM S3Object s WHERE s.a = ", 37, 'expected a value after "="'],
    ["SELECT * FROM S3Object AS WHERE a = 1", 26, "expected an alias name after AS"],
    ["SELECT * S3Object", 9, 'expected FROM after "SELECT *"'],
    ["DELETE FROM S3Object", 0, "expected SELECT"],
    ["SELECT * FROM S3Object s t", 25, "expected WHERE or the end of the statement"],
  ];

  it.each(badStatements)("%s → offset %i", (sql, offset, message) => {
    let error: unknown;
    try {
      parseSelectStatement(sql);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(SelectSyntaxError);
    const e = error as SelectSyntaxError;
    expect({ offset: e.offset, text: e.text }).toEqual({ offset, text: sql });
    expect(e.message).toContain(message);
  });

  it("reports clause errors at offsets into the whole statement", () => {
    const sql = selectStatementFor("LOWER(a) = 'x'");
    expect(() => parseSelectStatement(sql)).toThrow(
      expect.objectContaining({ offset: "SELECT * FROM S3Object s WHERE ".length }),
    );
  });
});

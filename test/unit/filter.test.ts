import { describe, expect, it } from "vitest";
import { ExporterError } from "../../src/core/errors.js";
import {
  compileFilter,
  type FilterValue,
  numericValue,
  type WhereClause,
} from "../../src/transforms/filter.js";

function passes(where: WhereClause, record: Record<string, unknown>): boolean {
  const filter = compileFilter(where);
  if (filter === null) return true;
  return filter(record);
}

describe("compileFilter", () => {
  it("returns null (pass everything) for no filter or an empty one", () => {
    expect(compileFilter(undefined)).toBeNull();
    expect(compileFilter(null)).toBeNull();
    expect(compileFilter({})).toBeNull();
  });

  // [allowed values, record value, expected]
  const table: Array<[FilterValue[], unknown, boolean]> = [
    // numbers and numeric strings compare by value
    [[529], 529, true],
    [[529], "529", true],
    [[529], 529.0, true],
    [[529], "529.0", true],
    [[529], "5.29e2", true],
    [["529"], 529, true],
    [["529"], "529", true],
    [["529.0"], 529, true],
    [["529"], "529.00", true],
    [[529], 530, false],
    [[529], "0529", false],
    [[529], " 529 ", false],
    [[529], "+529", false],
    [[529], "529abc", false],
    [["0529"], 529, false],
    [["0529"], "0529", true],
    [[" 529 "], " 529 ", true],
    [[0], -0, true],
    [[0], "0", true],
    [[-1.5], "-1.5", true],
    // strings are exact and case-sensitive
    [["procstart"], "procstart", true],
    [["procstart"], "ProcStart", false],
    [["procstart"], "procstart ", false],
    [[""], "", true],
    // booleans match their lower-case strings, both ways
    [[true], true, true],
    [[true], "true", true],
    [["true"], true, true],
    [[true], false, false],
    [[false], false, true],
    [[false], "false", true],
    [["false"], false, true],
    [[true], "True", false],
    [[true], 1, false],
    // null matches null or missing; the string "null" is a string
    [[null], null, true],
    [[null], undefined, true],
    [[null], "", false],
    [[null], 0, false],
    [["null"], null, false],
    [["null"], undefined, false],
    [[529], undefined, false],
    // arrays: any element matches (one level)
    [[529], [1, 2, 529], true],
    [[529], ["1", "529"], true],
    [["a"], ["b", "c"], false],
    [["a"], [], false],
    [["a"], [["a"]], false],
    [[null], [1, null], true],
    // objects never match
    [["a"], { a: 1 }, false],
    [[null], {}, false],
    // empty list of allowed values matches nothing
    [[], "anything", false],
    [[], undefined, false],
  ];

  it.each(table)("allowed %j, value %j -> %s", (allowed, value, expected) => {
    const record = value === undefined ? {} : { f: value };
    expect(passes({ f: allowed }, record)).toBe(expected);
  });

  it("ORs values within a field and ANDs fields", () => {
    const where = { event_type_cd: ["process_start", "netconn"], sensor_id: [529, 530] };
    expect(passes(where, { event_type_cd: "netconn", sensor_id: "530" })).toBe(true);
    expect(passes(where, { event_type_cd: "netconn", sensor_id: 531 })).toBe(false);
    expect(passes(where, { event_type_cd: "filemod", sensor_id: 529 })).toBe(false);
    expect(passes(where, { sensor_id: 529 })).toBe(false);
  });

  it("follows dotted paths into nested objects", () => {
    const where = { "process.username": ["SYSTEM"] };
    expect(passes(where, { process: { username: "SYSTEM" } })).toBe(true);
    expect(passes(where, { process: { username: "alice" } })).toBe(false);
    expect(passes(where, { process: null })).toBe(false);
    expect(passes(where, { process: "SYSTEM" })).toBe(false);
    expect(passes(where, {})).toBe(false);
    expect(passes({ "a.b.c": [1] }, { a: { b: { c: "1" } } })).toBe(true);
    expect(passes({ "entries.0.type": ["x"] }, { entries: [{ type: "x" }] })).toBe(true);
    expect(passes({ "entries.type": ["x"] }, { entries: [{ type: "x" }] })).toBe(false);
  });

  it("prefers a literal top-level key spelled with dots", () => {
    const where = { "process.username": ["literal"] };
    const both = { "process.username": "literal", process: { username: "nested" } };
    expect(passes(where, both)).toBe(true);
    expect(passes({ "process.username": ["nested"] }, both)).toBe(false);
    expect(passes(where, { "process.username": "literal" })).toBe(true);
  });

  it("treats a missing nested field as null", () => {
    expect(passes({ "process.username": [null] }, {})).toBe(true);
    expect(passes({ "process.username": [null] }, { process: { username: null } })).toBe(true);
    expect(passes({ "process.username": [null] }, { process: { username: "x" } })).toBe(false);
  });

  it("never reads inherited members as record values", () => {
    expect(passes({ constructor: [null] }, {})).toBe(true);
    expect(passes({ "a.toString": [null] }, { a: {} })).toBe(true);
    expect(passes({ constructor: ["x"] }, JSON.parse('{"constructor":"x"}'))).toBe(true);
  });

  it("rejects an allowed value that is not a list or not a scalar", () => {
    const notList = { sensor_id: 529 } as unknown as WhereClause;
    expect(() => compileFilter(notList)).toThrow(ExporterError);
    expect(() => compileFilter(notList)).toThrow("export_only_where.sensor_id must be a list");
    const nested = { f: [{ a: 1 }] } as unknown as WhereClause;
    expect(() => compileFilter(nested)).toThrow(/allowed values must be strings/);
  });
});

describe("numericValue", () => {
  it("accepts JSON number syntax only", () => {
    expect(["0", "-0", "529", "-1.25", "1e3", "1E+3", "2.5e-1"].map(numericValue)).toEqual([
      0, -0, 529, -1.25, 1000, 1000, 0.25,
    ]);
    for (const s of [
      "",
      "-",
      "0529",
      "00",
      "+1",
      " 1",
      "1 ",
      "1.",
      ".5",
      "1e",
      "0x1f",
      "NaN",
      "1e999",
    ]) {
      expect(numericValue(s)).toBeUndefined();
    }
  });
});

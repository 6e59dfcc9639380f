import { describe, expect, it } from "vitest";
import type { TelemetryRecord } from "../../src/core/types.js";
import { splitLines } from "../../src/outputs/file/split-lines.js";

function rec(raw: string): TelemetryRecord {
  return { raw, value: {} };
}

/** The rule in its plainest form: fill the current file, then new files, record by record. */
function reference(records: TelemetryRecord[], currentSize: number, maxSize: number): string[] {
  const chunks: string[][] = [[]];
  let size = currentSize;
  for (const r of records) {
    const len = Buffer.byteLength(r.raw) + 1;
    if (size > 0 && size + len > maxSize) {
      chunks.push([]);
      size = 0;
    }
    (chunks[chunks.length - 1] as string[]).push(`${r.raw}\n`);
    size += len;
  }
  return chunks.map((c) => c.join(""));
}

const RECORDS = [
  '{"a":1}',
  '{"name":"józef.müller","path":"C:\\\\Users\\\\田中太郎\\\\€.txt"}',
  `{"pad":"${"x".repeat(300)}"}`,
  '{"emoji":"🦜🦜"}',
  '{"b":2}',
].map(rec);

describe("splitLines", () => {
  it("gives exactly the reference chunks, UTF-8 encoded, for every place a file can end", () => {
    for (const maxSize of [1, 8, 40, 100, 330, 400, 10_000]) {
      for (const currentSize of [0, 1, 30, 99, 350]) {
        const got = splitLines(RECORDS, currentSize, maxSize).map((b) => b.toString("utf8"));
        expect(got, `current ${currentSize}, max ${maxSize}`).toEqual(
          reference(RECORDS, currentSize, maxSize),
        );
      }
    }
  });

  it("keeps every chunk after the first within maxSize unless one record alone is larger", () => {
    const chunks = splitLines(RECORDS, 0, 100);
    for (const c of chunks) {
      const lines = c.toString("utf8").split("\n").filter(Boolean);
      expect(c.length <= 100 || lines.length === 1).toBe(true);
    }
    expect(Buffer.concat(chunks).toString("utf8")).toBe(RECORDS.map((r) => `${r.raw}\n`).join(""));
  });

  it("returns one empty chunk for the current file when not even the first record fits there", () => {
    const chunks = splitLines([rec('{"a":1}')], 95, 100);
    expect(chunks.map((c) => c.toString())).toEqual(["", '{"a":1}\n']);
  });
});

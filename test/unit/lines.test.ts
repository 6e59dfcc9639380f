import { describe, expect, it } from "vitest";
import {
  type LineBatch,
  type ReadRecordsOptions,
  readRecordBatches,
} from "../../src/input/lines.js";

const source = { bucket: "b", key: "k" };

async function* chunked(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

async function read(
  input: string | Buffer,
  chunkSize = 1 << 16,
  opts: Partial<ReadRecordsOptions> = {},
): Promise<LineBatch[]> {
  const data = typeof input === "string" ? Buffer.from(input) : input;
  const out: LineBatch[] = [];
  for await (const b of readRecordBatches(chunked(data, chunkSize), { source, ...opts }))
    out.push(b);
  return out;
}

async function raws(input: string | Buffer, chunkSize?: number): Promise<string[]> {
  return (await read(input, chunkSize)).flatMap((b) => b.records.map((r) => r.raw));
}

async function invalids(input: string, chunkSize?: number) {
  return (await read(input, chunkSize)).flatMap((b) => b.invalid);
}

describe("readRecordBatches", () => {
  it("reads one record per line, keeping each line's text exactly", async () => {
    const batches = await read('{"a":1}\n{ "b" : [1, 2] }\n');
    expect(batches).toHaveLength(1);
    const [batch] = batches;
    expect(batch?.records).toEqual([
      { raw: '{"a":1}', value: { a: 1 } },
      { raw: '{ "b" : [1, 2] }', value: { b: [1, 2] } },
    ]);
    expect(batch).toMatchObject({ source, bytes: 8 + 17, firstLine: 1, lastLine: 2, invalid: [] });
  });

  it("strips the CR of CRLF lines", async () => {
    expect(await raws('{"a":1}\r\n{"b":2}\r\n')).toEqual(['{"a":1}', '{"b":2}']);
  });

  it("reads a last line without a newline", async () => {
    expect(await raws('{"a":1}\n{"b":2}')).toEqual(['{"a":1}', '{"b":2}']);
    expect(await raws('{"b":2}', 1)).toEqual(['{"b":2}']);
  });

  it("drops a UTF-8 BOM at the start, even when split across chunks", async () => {
    const data = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"a":1}\n')]);
    expect(await raws(data)).toEqual(['{"a":1}']);
    expect(await raws(data, 1)).toEqual(['{"a":1}']);
    expect(await raws(Buffer.from([0xef, 0xbb, 0xbf]))).toEqual([]);
  });

  it("skips blank and whitespace-only lines silently, counting them", async () => {
    const batches = await read('\n  \n\t\r\n{"a":1}\n\n\n{"b":2}\n \n');
    expect(batches.flatMap((b) => b.records.map((r) => r.raw))).toEqual(['{"a":1}', '{"b":2}']);
    expect(batches.flatMap((b) => b.invalid)).toEqual([]);
    expect(batches[0]).toMatchObject({ firstLine: 1, lastLine: 7 });
  });

  it("reports non-JSON lines with the parser's reason and the line number", async () => {
    const bad = await invalids('{"a":1}\nnot json\n{"b":\n{"c":3}\n');
    expect(bad).toEqual([
      { line: 2, reason: expect.stringContaining("not valid JSON"), raw: "not json" },
      { line: 3, reason: "Unexpected end of JSON input", raw: '{"b":' },
    ]);
  });

  it("reports JSON lines that are not objects", async () => {
    const bad = await invalids('[1,2]\n42\n"s"\nnull\ntrue\n{"ok":1}\n');
    expect(bad.map((i) => [i.line, i.reason])).toEqual([
      [1, "not a JSON object (an array)"],
      [2, "not a JSON object (a number)"],
      [3, "not a JSON object (a string)"],
      [4, "not a JSON object (null)"],
      [5, "not a JSON object (a boolean)"],
    ]);
  });

  it("cuts the raw text of a long invalid line", async () => {
    const [bad] = await invalids(`x${"y".repeat(10_000)}\n`);
    expect(bad?.raw).toBe(`x${"y".repeat(4095)}…[truncated 5905 bytes]`);
  });

  it("decodes multi-byte UTF-8 characters split across chunks", async () => {
    const line = '{"s":"é€😀 ü"}';
    const data = Buffer.from(`${line}\n${line}`);
    for (const size of [1, 2, 3, 5, 7]) {
      const batches = await read(data, size);
      expect(batches.flatMap((b) => b.records.map((r) => r.value.s))).toEqual(["é€😀 ü", "é€😀 ü"]);
      expect(batches.flatMap((b) => b.records.map((r) => r.raw))).toEqual([line, line]);
    }
  });

  it("gives the same result for every chunk size", async () => {
    const text = 'x\n{"a":1}\r\n\n[2]\n{"b":"ü"}\n   {"c":3}  \n';
    const expected = await read(text);
    for (const size of [1, 2, 3, 4, 9, 17]) expect(await read(text, size)).toEqual(expected);
  });

  it("marks an overlong line invalid and reads on, whatever the chunk size", async () => {
    const short = `{"big":"${"z".repeat(2000)}"}`;
    const long = `{"big":"x${"é".repeat(3000)}"}`; // 6011 bytes: raw cut at a character boundary
    const text = `{"a":1}\n${short}\n{"b":2}\r\n${long}`;
    for (const size of [1 << 16, 100, 7, 1]) {
      const batches = await read(text, size, { maxLineBytes: 1000 });
      expect(batches.flatMap((b) => b.records.map((r) => r.raw))).toEqual(['{"a":1}', '{"b":2}']);
      const bad = batches.flatMap((b) => b.invalid);
      expect(bad.map((b) => [b.line, b.reason])).toEqual([
        [2, "line longer than 1000 bytes (2010 bytes)"],
        [4, "line longer than 1000 bytes (6011 bytes)"],
      ]);
      expect(bad[0]?.raw).toBe(short);
      expect(bad[1]?.raw).toBe(`{"big":"x${"é".repeat(2043)}…[truncated ${6011 - 4095} bytes]`);
    }
  });

  it("keeps memory bounded on a 64 MiB line without a newline", async () => {
    const blocks = 64;
    async function* huge(): AsyncGenerator<Buffer> {
      yield Buffer.from('{"before":1}\n');
      // Fresh blocks: a reader that kept them would hold 64 MiB that no GC can free.
      for (let i = 0; i < blocks; i++) yield Buffer.alloc(1 << 20, "a");
      yield Buffer.from('\n{"after":2}\n');
    }
    const before = process.memoryUsage().arrayBuffers;
    const batches: LineBatch[] = [];
    let peak = 0;
    for await (const b of readRecordBatches(huge(), { source, maxLineBytes: 1 << 20 })) {
      batches.push(b);
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - before);
    }
    expect(batches.flatMap((b) => b.records.map((r) => r.raw))).toEqual([
      '{"before":1}',
      '{"after":2}',
    ]);
    const [bad] = batches.flatMap((b) => b.invalid);
    expect(bad?.line).toBe(2);
    expect(bad?.reason).toBe(`line longer than ${1 << 20} bytes (${blocks << 20} bytes)`);
    expect(bad?.raw.length).toBeLessThan(4200);
    expect(bad?.raw.endsWith(`…[truncated ${(blocks << 20) - 4096} bytes]`)).toBe(true);
    expect(peak).toBeLessThan(48 << 20);
  });

  it("cuts batches at batchRecords and batchBytes, tiling the line numbers", async () => {
    const lines = Array.from({ length: 25 }, (_, i) => `{"i":${i}}`);
    const text = `${lines.slice(0, 10).join("\n")}\nbad\n\n${lines.slice(10).join("\n")}\n`;
    const byCount = await read(text, 13, { batchRecords: 10 });
    expect(byCount.map((b) => [b.records.length, b.invalid.length])).toEqual([
      [10, 0],
      [9, 1],
      [6, 0],
    ]);
    expect(byCount.map((b) => [b.firstLine, b.lastLine])).toEqual([
      [1, 10],
      [11, 21],
      [22, 27],
    ]);

    const byBytes = await read(lines.join("\n"), 64, { batchBytes: 20 });
    expect(byBytes.map((b) => b.records.length)).toEqual([3, 3, 3, 3, 3, 3, 3, 3, 1]);
    expect(byBytes.reduce((n, b) => n + b.bytes, 0)).toBe(lines.join("\n").length + 1);
  });

  it("passes over the first skipLines lines without parsing them, numbering the rest as before", async () => {
    const long = `{"long":"${"y".repeat(3000)}"}`;
    const text = `{"a":1}\nnot json\n\n${long}\n{"b":2}\nbad\n{"c":3}`;
    for (const size of [1, 7, 1 << 16]) {
      const whole = await read(text, size, { maxLineBytes: 100 });
      const resumed = await read(text, size, { skipLines: 4, maxLineBytes: 100 });
      expect(resumed.map((b) => [b.firstLine, b.lastLine])).toEqual([[5, 7]]);
      expect(resumed.flatMap((b) => b.records.map((r) => r.raw))).toEqual(['{"b":2}', '{"c":3}']);
      expect(resumed.flatMap((b) => b.invalid.map((i) => i.line))).toEqual([6]);
      // The same lines as the tail of a whole read: the skipped overlong line 4 is not reported.
      expect(whole.flatMap((b) => b.invalid.map((i) => i.line))).toEqual([2, 4, 6]);
    }
    expect(await read(text, 5, { skipLines: 7 })).toEqual([]);
    expect(await read(text, 5, { skipLines: 100 })).toEqual([]);
  });

  it("yields nothing for an empty or blank input", async () => {
    expect(await read("")).toEqual([]);
    expect(await read("\n\r\n  \n")).toEqual([]);
  });
});

import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { ExporterError } from "../../src/core/errors.js";
import { decodeObjectStream } from "../../src/input/decode.js";
import { LineSplitter, readRecordBatches } from "../../src/input/lines.js";

const source = { bucket: "b", key: "k" };

/** Yields `data` in chunks of `size` bytes, as Uint8Array views (what an SDK body may give). */
async function* chunked(data: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield new Uint8Array(data.subarray(i, i + size));
}

async function* failingAfter(data: Buffer, err: Error): AsyncGenerator<Uint8Array> {
  yield data;
  throw err;
}

async function decodeAll(body: AsyncIterable<Uint8Array>, expectedBytes?: number): Promise<string> {
  const out: Buffer[] = [];
  const opts = expectedBytes === undefined ? {} : { expectedBytes };
  for await (const chunk of decodeObjectStream(body, opts)) out.push(chunk);
  return Buffer.concat(out).toString("utf8");
}

async function decodeError(body: AsyncIterable<Uint8Array>, expectedBytes?: number) {
  const err = await decodeAll(body, expectedBytes).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ExporterError);
  return err as ExporterError;
}

const text = Array.from({ length: 2000 }, (_, i) => `{"n":${i},"s":"é€😀"}\n`).join("");

describe("decodeObjectStream", () => {
  it("gunzips a single-member gzip body", async () => {
    const gz = gzipSync(text);
    expect(await decodeAll(chunked(gz, 1000), gz.length)).toBe(text);
  });

  it("gunzips a multi-member gzip body whole", async () => {
    const gz = Buffer.concat([
      gzipSync(text.slice(0, 500)),
      gzipSync(text.slice(500)),
      gzipSync(""),
    ]);
    expect(await decodeAll(chunked(gz, 777))).toBe(text);
  });

  it("passes plain bytes through unchanged", async () => {
    expect(await decodeAll(chunked(Buffer.from(text), 4096))).toBe(text);
  });

  it("works with 1-byte chunks, gzip and plain", async () => {
    const gz = gzipSync(text.slice(0, 3000));
    expect(await decodeAll(chunked(gz, 1), gz.length)).toBe(text.slice(0, 3000));
    expect(await decodeAll(chunked(Buffer.from("{}\n"), 1))).toBe("{}\n");
  });

  it("handles empty and one-byte bodies", async () => {
    expect(await decodeAll(chunked(Buffer.alloc(0), 1), 0)).toBe("");
    expect(await decodeAll(chunked(Buffer.from("x"), 1))).toBe("x");
    expect(await decodeAll(chunked(Buffer.from([0x1f]), 1))).toBe("\x1f");
  });

  it("reads a Node Readable (the SDK body type)", async () => {
    const gz = gzipSync(text);
    expect(await decodeAll(Readable.from([gz.subarray(0, 1), gz.subarray(1)]))).toBe(text);
  });

  it("a gzip body cut short with expectedBytes is a retryable truncated_download", async () => {
    const gz = gzipSync(text);
    const cut = gz.subarray(0, gz.length - 100);
    const err = await decodeError(chunked(cut, 512), gz.length);
    expect(err.code).toBe("truncated_download");
    expect(err.kind).toBe("retryable");
    expect(err.message).toContain(`${cut.length} of ${gz.length} bytes`);
  });

  it("a gzip body cut at a member boundary is still truncated_download", async () => {
    const first = gzipSync("{}\n");
    const full = Buffer.concat([first, gzipSync("{}\n")]);
    const err = await decodeError(chunked(first, 512), full.length);
    expect(err.code).toBe("truncated_download");
  });

  it("a truncated gzip whose bytes all arrived is a permanent corrupt_gzip", async () => {
    const gz = gzipSync(text);
    const cut = gz.subarray(0, gz.length - 100);
    for (const expected of [cut.length, undefined]) {
      const err = await decodeError(chunked(cut, 512), expected);
      expect(err.code).toBe("corrupt_gzip");
      expect(err.kind).toBe("permanent");
      expect(err.message).toMatch(/unexpected end of file.*compressed byte offset \d+/);
    }
  });

  it("corrupt gzip data is corrupt_gzip with the offset", async () => {
    const gz = Buffer.from(gzipSync(text));
    gz[gz.length - 6] = (gz[gz.length - 6] ?? 0) ^ 0xff; // CRC32 of the trailer
    const err = await decodeError(chunked(gz, 512), gz.length);
    expect(err.code).toBe("corrupt_gzip");
    expect(err.message).toMatch(/incorrect data check\) at compressed byte offset \d+/);

    const badFlags = Buffer.from(gzipSync(text));
    badFlags[3] = 0xff;
    expect((await decodeError(chunked(badFlags, 512))).code).toBe("corrupt_gzip");

    const garbage = Buffer.concat([gzipSync(text), Buffer.from("trailing garbage")]);
    expect((await decodeError(chunked(garbage, 512))).code).toBe("corrupt_gzip");
  });

  it("a plain body shorter than expectedBytes is truncated_download after its bytes", async () => {
    const seen: Buffer[] = [];
    const err = await (async () => {
      try {
        for await (const c of decodeObjectStream(chunked(Buffer.from("{}\n{}"), 2), {
          expectedBytes: 10,
        })) {
          seen.push(c);
        }
      } catch (e) {
        return e as ExporterError;
      }
      return undefined;
    })();
    expect(Buffer.concat(seen).toString()).toBe("{}\n{}");
    expect(err?.code).toBe("truncated_download");
    expect(err?.kind).toBe("retryable");
  });

  it("a body stream error is a retryable download_failed, gzip or plain", async () => {
    const reset = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
    const gz = gzipSync(text);
    const gzErr = await decodeError(failingAfter(gz.subarray(0, 200), reset), gz.length);
    expect(gzErr).toMatchObject({ code: "download_failed", kind: "retryable" });
    expect(gzErr.message).toContain("socket hang up");

    const plainErr = await decodeError(failingAfter(Buffer.from("abc"), reset));
    expect(plainErr).toMatchObject({ code: "download_failed", kind: "retryable" });
  });

  it("stopping early releases the body", async () => {
    const body = Readable.from([gzipSync(text)]);
    for await (const _ of decodeObjectStream(body)) break;
    expect(body.destroyed).toBe(true);
  });

  it("an aborted signal ends the stream with the abort reason, gzip or plain", async () => {
    for (const body of [Buffer.from(text), gzipSync(text)]) {
      const ac = new AbortController();
      const reason = new Error("shutting down");
      const iter = decodeObjectStream(chunked(body, 10), { signal: ac.signal });
      await iter.next();
      ac.abort(reason);
      await expect(
        (async () => {
          for (;;) if ((await iter.next()).done) return;
        })(),
      ).rejects.toBe(reason);
    }
  });

  it("feeds the line reader: gzip in, records out", async () => {
    const gz = gzipSync(text);
    let count = 0;
    for await (const batch of readRecordBatches(decodeObjectStream(chunked(gz, 333)), { source })) {
      count += batch.records.length;
    }
    expect(count).toBe(2000);
    expect(new LineSplitter({ source }).drain()).toEqual([]);
  });
});

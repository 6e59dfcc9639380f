import type { FileHandle } from "node:fs/promises";
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ExporterError } from "../../src/core/errors.js";
import type { TelemetryRecord } from "../../src/core/types.js";
import {
  RotatingFileOutput,
  type RotatingFileOutputOptions,
} from "../../src/outputs/file/rotating-file-output.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { MemoryDeadLetter } from "../helpers/fakes.js";
import {
  batch,
  concatenated,
  gate,
  jsonFiles,
  linesOf,
  record,
  steppingClock,
  tempDir,
} from "./file-output-helpers.js";

const NAME_RE = /^canary-exporter-\d{8}T\d{6}\.\d{3}Z-test-inst-1-\d{6}\.json$/;

let dir: string;
let cleanup: () => Promise<void>;
const outputs: RotatingFileOutput[] = [];

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});

afterEach(async () => {
  for (const o of outputs.splice(0)) await o.close().catch(() => undefined);
  await cleanup();
});

function output(
  cfg: { max_size_bytes: number; max_files?: number; directory?: string },
  opts: RotatingFileOutputOptions = {},
): RotatingFileOutput {
  const o = new RotatingFileOutput(
    {
      directory: cfg.directory ?? dir,
      max_size_bytes: cfg.max_size_bytes,
      max_files: cfg.max_files,
    },
    { instanceId: "test-inst-1", logger: silentLogger(), deadLetter: new MemoryDeadLetter() },
    "file[0]",
    { now: steppingClock(), idleFlushMs: 0, ...opts },
  );
  outputs.push(o);
  return o;
}

describe("RotatingFileOutput", () => {
  it("writes the records byte for byte, in order, across rotations, within max_size_bytes", async () => {
    // Prepare
    const max = 1000;
    const out = output({ max_size_bytes: max });
    const all: TelemetryRecord[] = [];
    let n = 0;
    for (let b = 0; b < 40; b++) {
      const recs = Array.from({ length: 1 + (b % 7) }, () => {
        n += 1;
        return record("a", n, 40 + ((n * 37) % 200), n % 5 === 0);
      });
      all.push(...recs);
    }
    const oversized = record("big", 0, 2500);
    all.splice(100, 0, oversized);
    // Act
    let i = 0;
    while (i < all.length) {
      const size = 1 + (i % 9);
      await out.write(batch(all.slice(i, i + size)));
      i += size;
    }
    await out.close();
    // Assess
    const files = await jsonFiles(dir);
    expect(files.length).toBeGreaterThan(5);
    for (const f of files) expect(f).toMatch(NAME_RE);
    expect(await concatenated(dir, files)).toBe(linesOf(all));
    for (const f of files) {
      const content = await readFile(join(dir, f));
      if (content.length > max) expect(content.toString()).toBe(`${oversized.raw}\n`);
      else expect(content.length).toBeLessThanOrEqual(max);
    }
    expect((await readdir(dir)).filter((f) => !f.endsWith(".json"))).toEqual([]);
  });

  it("keeps only the newest max_files files, and never touches other files", async () => {
    // Prepare
    const unrelated = ["notes.txt", "canary-exporter-report.json", ".other.json.partial"];
    for (const name of unrelated) await writeFile(join(dir, name), "keep me\n");
    const out = output({ max_size_bytes: 500, max_files: 3 });
    const all = Array.from({ length: 60 }, (_, n) => record("m", n, 100));
    // Act
    for (let i = 0; i < all.length; i += 4) await out.write(batch(all.slice(i, i + 4)));
    await out.close();
    // Assess
    const files = (await jsonFiles(dir)).filter((f) => NAME_RE.test(f));
    expect(files).toHaveLength(3);
    const kept = await concatenated(dir, files);
    expect(linesOf(all).endsWith(kept)).toBe(true);
    expect(kept.split("\n").length - 1).toBeGreaterThanOrEqual(8);
    for (const name of unrelated) expect(await readFile(join(dir, name), "utf8")).toBe("keep me\n");
  });

  it("with max_files 1 keeps only the current file", async () => {
    const out = output({ max_size_bytes: 300, max_files: 1 });
    for (let n = 0; n < 20; n++) await out.write(batch([record("o", n, 100)]));
    const names = await readdir(dir);
    expect(names.filter((f) => f.endsWith(".json"))).toHaveLength(0);
    expect(names.filter((f) => f.endsWith(".partial"))).toHaveLength(1);
    await out.close();
    expect(await concatenated(dir)).toBe(linesOf([record("o", 18, 100), record("o", 19, 100)]));
  });

  it("resolves a write only after its bytes are fsynced, sharing fsyncs between writers", async () => {
    // Prepare
    const first = gate();
    const syncedSizes: number[] = [];
    let calls = 0;
    const sync = async (file: FileHandle) => {
      calls += 1;
      if (calls === 1) await first.promise;
      await file.sync();
      syncedSizes.push((await file.stat()).size);
    };
    const out = output({ max_size_bytes: 1_000_000 }, { sync });
    let resolved = 0;
    // Act
    const writes = Array.from({ length: 20 }, (_, i) =>
      out.write(batch([record("s", i, 200)])).then(() => {
        resolved += 1;
      }),
    );
    try {
      await vi.waitFor(async () => {
        const temp = (await readdir(dir)).find((f) => f.endsWith(".partial")) ?? "missing";
        expect((await stat(join(dir, temp))).size).toBe(20 * 201);
      });
      // Assess
      expect(resolved).toBe(0);
    } finally {
      first.open();
    }
    await Promise.all(writes);
    expect(resolved).toBe(20);
    expect(calls).toBe(2);
    expect(syncedSizes.at(-1)).toBe(20 * 201);
  });

  it("never interleaves the lines of concurrent batches and keeps each batch in order", async () => {
    const out = output({ max_size_bytes: 2000 });
    const batches = Array.from({ length: 30 }, (_, b) =>
      Array.from({ length: 1 + (b % 6) }, (_, n) => record(`b${b}`, n, 60 + b * 3)),
    );
    await Promise.all(batches.map((recs) => out.write(batch(recs))));
    await out.close();
    const lines = (await concatenated(dir)).split("\n").filter(Boolean);
    const seen = lines.map((l) => JSON.parse(l) as { tag: string; n: number });
    expect(seen).toHaveLength(batches.flat().length);
    let i = 0;
    const order = new Set<string>();
    while (i < seen.length) {
      const tag = seen[i]?.tag ?? "";
      expect(order.has(tag)).toBe(false);
      order.add(tag);
      const expected = batches[Number(tag.slice(1))] ?? [];
      for (let n = 0; n < expected.length; n++) expect(seen[i + n]).toMatchObject({ tag, n });
      i += expected.length;
    }
  });

  it("rejects a write whose fsync fails, then continues in a new file with whole lines", async () => {
    // Prepare
    let fail = false;
    const sync = async (file: FileHandle) => {
      if (fail) {
        fail = false;
        throw Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" });
      }
      await file.sync();
    };
    const out = output({ max_size_bytes: 100_000 }, { sync });
    await out.write(batch([record("ok", 1)]));
    // Act
    fail = true;
    const failed = out.write(batch([record("bad", 2)]));
    // Assess
    await expect(failed).rejects.toMatchObject({ code: "EIO", kind: "retryable" });
    await expect(failed).rejects.toBeInstanceOf(ExporterError);
    await out.write(batch([record("ok", 3)]));
    await out.close();
    const files = await jsonFiles(dir);
    expect(files).toHaveLength(2);
    const text = await concatenated(dir, files);
    expect(text).toBe(linesOf([record("ok", 1), record("bad", 2), record("ok", 3)]));
  });

  it("flush makes everything visible under a final name; close removes the lock", async () => {
    const out = output({ max_size_bytes: 100_000 });
    await out.write(batch([record("f", 1)]));
    expect(await jsonFiles(dir)).toEqual([]);
    expect(await readdir(dir)).toContain(".canary-exporter-test-inst-1.lock");
    await out.flush();
    expect(await concatenated(dir)).toBe(linesOf([record("f", 1)]));
    await out.flush();
    await out.close();
    expect(await readdir(dir)).toHaveLength(1);
    await expect(out.write(batch([record("f", 2)]))).rejects.toMatchObject({ kind: "permanent" });
  });

  it("completes a file that had no write for idle_flush_ms", async () => {
    const out = output({ max_size_bytes: 100_000 }, { idleFlushMs: 50 });
    await out.write(batch([record("i", 1)]));
    await vi.waitFor(async () => expect(await jsonFiles(dir)).toHaveLength(1), { timeout: 5000 });
    expect((await readdir(dir)).some((f) => f.endsWith(".partial"))).toBe(false);
    await out.write(batch([record("i", 2)]));
    await vi.waitFor(async () => expect(await jsonFiles(dir)).toHaveLength(2), { timeout: 5000 });
    expect(await concatenated(dir)).toBe(linesOf([record("i", 1), record("i", 2)]));
  });

  it("healthcheck creates a missing directory", async () => {
    const nested = join(dir, "a", "b");
    await output({ max_size_bytes: 1000, directory: nested }).healthcheck();
    expect((await stat(nested)).isDirectory()).toBe(true);
    expect(await readdir(nested)).toEqual([".canary-exporter-test-inst-1.lock"]);
  });

  it("healthcheck rejects a directory that cannot be written, with a clear message", async () => {
    await writeFile(join(dir, "plain-file"), "");
    const bad = join(dir, "plain-file", "out");
    const check = output({ max_size_bytes: 1000, directory: bad }).healthcheck();
    await expect(check).rejects.toMatchObject({ kind: "permanent", code: "ENOTDIR" });
    await expect(check).rejects.toThrow(
      `output file[0]: directory ${bad} is not writable: ENOTDIR`,
    );
  });

  it("healthcheck honours an aborted signal", async () => {
    const check = output({ max_size_bytes: 1000 }).healthcheck(AbortSignal.abort());
    await expect(check).rejects.toThrow();
  });
});

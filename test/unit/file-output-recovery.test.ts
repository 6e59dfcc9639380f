import { readdir, readFile, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { RotatingFileOutput } from "../../src/outputs/file/rotating-file-output.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { MemoryDeadLetter } from "../helpers/fakes.js";
import { batch, jsonFiles, record, tempDir } from "./file-output-helpers.js";

const DEAD = "deadhost-4242-abcdef";
const DEAD_FINAL = `canary-exporter-20250101T000000.000Z-${DEAD}-000007.json`;
const DEAD_TEMP = `.${DEAD_FINAL}.partial`;
const DEAD_LOCK = `.canary-exporter-${DEAD}.lock`;

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

function output(instanceId = "live-1", maxSize = 100_000): RotatingFileOutput {
  const o = new RotatingFileOutput(
    { directory: dir, max_size_bytes: maxSize },
    { instanceId, logger: silentLogger(), deadLetter: new MemoryDeadLetter() },
    "file[0]",
    { idleFlushMs: 0, lockStaleMs: 30_000 },
  );
  outputs.push(o);
  return o;
}

async function staleLock(name = DEAD_LOCK): Promise<void> {
  await writeFile(join(dir, name), "{}\n");
  const old = new Date(Date.now() - 10 * 60_000);
  await utimes(join(dir, name), old, old);
}

describe("RotatingFileOutput crash recovery", () => {
  it("recovers a dead instance's temp file (stale lock) under its .json name, cutting a torn line", async () => {
    // Prepare
    await writeFile(join(dir, DEAD_TEMP), '{"a":1}\n{"a":2}\n{"a":3,"tor');
    await staleLock();
    // Act
    await output().healthcheck();
    // Assess
    expect(await readFile(join(dir, DEAD_FINAL), "utf8")).toBe('{"a":1}\n{"a":2}\n');
    const names = await readdir(dir);
    expect(names).not.toContain(DEAD_TEMP);
    expect(names).not.toContain(DEAD_LOCK);
  });

  it("recovers a temp file whose owner left no lock at all", async () => {
    await writeFile(join(dir, DEAD_TEMP), '{"a":1}\n');
    await output().healthcheck();
    expect(await jsonFiles(dir)).toEqual([DEAD_FINAL]);
  });

  it("removes a dead instance's temp file that holds only a torn line", async () => {
    await writeFile(join(dir, DEAD_TEMP), '{"never":"acknowl');
    await output().healthcheck();
    expect((await readdir(dir)).sort()).toEqual([".canary-exporter-live-1.lock"]);
  });

  it("leaves alone the temp files of an instance with a fresh lock, and unrelated files", async () => {
    // Prepare
    await writeFile(join(dir, DEAD_TEMP), '{"a":1}\n{"a":2');
    await writeFile(join(dir, DEAD_LOCK), "{}\n");
    const unrelated = [".something.partial", "readme.txt", ".canary-exporter-x.partial"];
    for (const name of unrelated) await writeFile(join(dir, name), "x");
    // Act
    await output().healthcheck();
    // Assess
    expect(await readFile(join(dir, DEAD_TEMP), "utf8")).toBe('{"a":1}\n{"a":2');
    const names = await readdir(dir);
    for (const name of [DEAD_LOCK, ...unrelated]) expect(names).toContain(name);
    expect(await jsonFiles(dir)).toEqual([]);
  });

  it("recovers on first write when healthcheck was not called", async () => {
    await writeFile(join(dir, DEAD_TEMP), '{"a":1}\n');
    await staleLock();
    const out = output();
    await out.write(batch([record("w", 1)]));
    expect(await jsonFiles(dir)).toEqual([DEAD_FINAL]);
  });

  it("a running instance recovers a sibling that dies later, when it opens its next file", async () => {
    // Prepare
    const out = output("live-1", 300);
    await out.write(batch([record("w", 1, 200)]));
    await writeFile(join(dir, DEAD_TEMP), '{"late":1}\n');
    await staleLock();
    // Act: this record does not fit, so a new file opens
    await out.write(batch([record("w", 2, 200)]));
    // Assess
    expect(await jsonFiles(dir)).toContain(DEAD_FINAL);
    expect(await readdir(dir)).not.toContain(DEAD_LOCK);
  });

  it("a running instance recovers a crashed sibling's file on its own, with no new file here", async () => {
    // Prepare
    const out = new RotatingFileOutput(
      { directory: dir, max_size_bytes: 100_000 },
      { instanceId: "live-1", logger: silentLogger(), deadLetter: new MemoryDeadLetter() },
      "file[0]",
      { idleFlushMs: 0, lockStaleMs: 100 },
    );
    outputs.push(out);
    await out.healthcheck();
    // Act: a sibling dies after our start; its lock stops being refreshed
    await writeFile(join(dir, DEAD_TEMP), '{"late":1}\n');
    await staleLock();
    // Assess
    await vi.waitFor(async () => expect(await jsonFiles(dir)).toEqual([DEAD_FINAL]), {
      timeout: 5000,
    });
  });

  it("a new instance completes what a closed-without-flush instance left, exactly once", async () => {
    // Prepare: an instance that wrote (acknowledged) and then vanished without closing
    const first = output("gone-1");
    await first.write(batch([record("g", 1), record("g", 2)]));
    const leftover = (await readdir(dir)).find((f) => f.endsWith(".partial")) ?? "";
    await staleLock(".canary-exporter-gone-1.lock");
    // Act
    await output("live-2").healthcheck();
    // Assess
    const files = await jsonFiles(dir);
    expect(files).toEqual([leftover.slice(1, -".partial".length)]);
    const text = await readFile(join(dir, files[0] ?? ""), "utf8");
    expect(text).toBe(`${record("g", 1).raw}\n${record("g", 2).raw}\n`);
  });

  it("two outputs of one process sharing a directory share one lock until both close", async () => {
    const a = output("same-1");
    const b = output("same-1");
    await a.write(batch([record("a", 1)]));
    await b.write(batch([record("b", 1)]));
    await a.close();
    expect(await readdir(dir)).toContain(".canary-exporter-same-1.lock");
    await b.close();
    expect(await readdir(dir)).not.toContain(".canary-exporter-same-1.lock");
    expect(await jsonFiles(dir)).toHaveLength(2);
  });
});

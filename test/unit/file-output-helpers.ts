import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RecordBatch, TelemetryRecord } from "../../src/core/types.js";

/** Test helpers for the file output tests (not a test file itself). */

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "file-output-"));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A record of about `size` bytes; `tag` and `n` identify it. Non-ASCII text when `utf8`. */
export function record(tag: string, n: number, size = 100, utf8 = false): TelemetryRecord {
  const value = { tag, n, event_type_cd: "process_start", pad: "" };
  const base = JSON.stringify(value).length;
  value.pad = (utf8 ? "é" : "x").repeat(Math.max(0, size - base));
  return { raw: JSON.stringify(value), value };
}

export function batch(records: TelemetryRecord[], key = "k"): RecordBatch {
  const bytes = records.reduce((sum, r) => sum + Buffer.byteLength(r.raw) + 1, 0);
  return { source: { bucket: "b", key }, records, bytes };
}

export function linesOf(records: readonly TelemetryRecord[]): string {
  return records.map((r) => `${r.raw}\n`).join("");
}

/** Completed output files, oldest first (their names sort by time). */
export async function jsonFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith(".json")).sort();
}

export async function concatenated(dir: string, names?: string[]): Promise<string> {
  const parts: string[] = [];
  for (const name of names ?? (await jsonFiles(dir))) {
    parts.push(await readFile(join(dir, name), "utf8"));
  }
  return parts.join("");
}

/** A clock that advances one millisecond per call, so file names sort in opening order. */
export function steppingClock(start = Date.UTC(2025, 0, 2, 3, 4, 5, 6)): () => Date {
  let t = start;
  return () => new Date(t++);
}

/** A promise with its resolver exposed: gates an injected fsync. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

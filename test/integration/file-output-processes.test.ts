import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, stat, utimes } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RotatingFileOutput } from "../../src/outputs/file/rotating-file-output.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { MemoryDeadLetter } from "../helpers/fakes.js";

/**
 * Real processes sharing one output directory, through the compiled output in dist/ (`npm test`
 * builds it first). Waits on process outcomes, never on fixed sleeps.
 */

const WRITER = fileURLToPath(new URL("../fixtures/file-output-writer.mjs", import.meta.url));

let dir: string;
const children: ChildProcess[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "file-output-procs-"));
});

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
  await rm(dir, { recursive: true, force: true });
});

interface Writer {
  child: ChildProcess;
  /** Highest n such that every record 0..n was acknowledged. */
  acked: () => number;
  /** Resolves when stdout shows acked >= n. */
  waitAcked: (n: number) => Promise<void>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

function startWriter(
  instanceId: string,
  tag: string,
  count: number,
  maxSize: number,
  forever = false,
): Writer {
  const args = [WRITER, dir, instanceId, tag, String(count), String(maxSize)];
  if (forever) args.push("forever");
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let acked = -1;
  let stderr = "";
  const waiters: { n: number; resolve: () => void }[] = [];
  let buffered = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split("\n");
    buffered = lines.pop() ?? "";
    for (const line of lines) {
      const m = /^acked (-?\d+)$/.exec(line);
      if (m) acked = Math.max(acked, Number(m[1]));
    }
    for (const w of waiters.splice(0)) {
      if (acked >= w.n) w.resolve();
      else waiters.push(w);
    }
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>(
    (resolve) => child.on("exit", (code, signal) => resolve({ code, signal, stderr })),
  );
  return {
    child,
    acked: () => acked,
    waitAcked: (n) =>
      new Promise<void>((resolve, reject) => {
        if (acked >= n) resolve();
        else waiters.push({ n, resolve });
        exit.then((e) => reject(new Error(`writer exited early: ${JSON.stringify(e)}`)), reject);
      }),
    exit,
  };
}

async function readRecords(): Promise<{ file: string; tag: string; n: number }[]> {
  const out: { file: string; tag: string; n: number }[] = [];
  for (const file of (await readdir(dir)).filter((f) => f.endsWith(".json")).sort()) {
    const text = await readFile(join(dir, file), "utf8");
    expect(text.endsWith("\n")).toBe(true);
    for (const line of text.split("\n").filter(Boolean)) {
      const v = JSON.parse(line) as { tag: string; n: number };
      out.push({ file, tag: v.tag, n: v.n });
    }
  }
  return out;
}

describe("file output shared by several processes", () => {
  it("two exporters writing to one directory: every record exactly once, no temp files left", async () => {
    // Prepare
    const count = 4000;
    const maxSize = 8000;
    // Act
    const a = startWriter("host-a-101-aaaaaa", "A", count, maxSize);
    const b = startWriter("host-b-202-bbbbbb", "B", count, maxSize);
    const [ea, eb] = await Promise.all([a.exit, b.exit]);
    // Assess
    expect(ea).toMatchObject({ code: 0 });
    expect(eb).toMatchObject({ code: 0 });
    const names = await readdir(dir);
    expect(names.filter((f) => !f.endsWith(".json"))).toEqual([]);
    const records = await readRecords();
    for (const tag of ["A", "B"]) {
      const ns = records.filter((r) => r.tag === tag).map((r) => r.n);
      expect(ns).toHaveLength(count);
      expect(new Set(ns).size).toBe(count);
    }
    const owners = new Map<string, Set<string>>();
    for (const r of records) owners.set(r.file, (owners.get(r.file) ?? new Set()).add(r.tag));
    for (const [file, tags] of owners) {
      expect(tags.size).toBe(1);
      expect(file).toContain(tags.has("A") ? "host-a-101-aaaaaa" : "host-b-202-bbbbbb");
      expect((await stat(join(dir, file))).size).toBeLessThanOrEqual(maxSize);
    }
    expect(owners.size).toBeGreaterThan(20);
  });

  it("an exporter killed with SIGKILL mid-write: the next instance recovers its temp file", async () => {
    // Prepare
    const victim = startWriter("host-v-303-cccccc", "V", 0, 10_000_000, true);
    await victim.waitAcked(3000);
    // Act
    victim.child.kill("SIGKILL");
    const exit = await victim.exit;
    const acked = victim.acked();
    const lock = join(dir, ".canary-exporter-host-v-303-cccccc.lock");
    const temps = (await readdir(dir)).filter((f) => f.endsWith(".partial"));
    expect(exit.signal).toBe("SIGKILL");
    expect(temps).toHaveLength(1);
    // Its heartbeat stopped; make the lock look as old as it would after the stale threshold.
    const old = new Date(Date.now() - 120_000);
    await utimes(lock, old, old);
    const next = new RotatingFileOutput(
      { directory: dir, max_size_bytes: 10_000_000 },
      {
        instanceId: "host-n-404-dddddd",
        logger: silentLogger(),
        deadLetter: new MemoryDeadLetter(),
      },
      "file[0]",
    );
    await next.healthcheck();
    await next.close();
    // Assess: every acknowledged record is there, lines are whole, nothing else is left
    expect((await readdir(dir)).filter((f) => !f.endsWith(".json"))).toEqual([]);
    const seen = new Set((await readRecords()).map((r) => r.n));
    for (let n = 0; n <= acked; n++) expect(seen.has(n)).toBe(true);
  });
});

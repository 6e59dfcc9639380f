import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { ExporterError } from "../../src/core/errors.js";
import type { RecordBatch } from "../../src/core/types.js";
import { BatchingObjectOutput } from "../../src/outputs/common/batching-object-output.js";
import type { ObjectMeta, ObjectStore } from "../../src/outputs/common/object-store.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { MemoryDeadLetter } from "../helpers/fakes.js";

/** Objects kept in memory, behind our own ObjectStore interface. */
class MemoryStore implements ObjectStore {
  readonly location = "memory://bucket";
  readonly objects = new Map<string, { body: Buffer; meta: ObjectMeta }>();
  failures: ExporterError[] = [];
  gate: Promise<void> | undefined;
  puts = 0;

  async check(): Promise<void> {}

  async put(key: string, body: Buffer, meta: ObjectMeta): Promise<void> {
    this.puts++;
    await this.gate;
    const failure = this.failures.shift();
    if (failure) throw failure;
    this.objects.set(key, { body, meta });
  }

  lines(): string[] {
    return [...this.objects.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .flatMap(([, o]) => {
        const text = (o.meta.contentEncoding === "gzip" ? gunzipSync(o.body) : o.body).toString();
        return text.split("\n").filter(Boolean);
      });
  }
}

function batch(from: number, n: number): RecordBatch {
  const records = Array.from({ length: n }, (_, i) => {
    const raw = JSON.stringify({ i: from + i, pad: "x".repeat(40) });
    return { raw, value: JSON.parse(raw) as Record<string, unknown> };
  });
  const bytes = records.reduce((a, r) => a + Buffer.byteLength(r.raw) + 1, 0);
  return { source: { bucket: "b", key: "k" }, records, bytes };
}

function output(
  store: MemoryStore,
  over: Partial<ConstructorParameters<typeof BatchingObjectOutput>[1]> = {},
) {
  return new BatchingObjectOutput(
    store,
    {
      type: "s3",
      id: "s3[0]",
      prefix: "telemetry",
      maxSizeBytes: 2000,
      flushIntervalMs: 60_000,
      compression: "none",
      now: () => new Date("2026-12-03T16:58:19.123Z"),
      ...over,
    },
    { instanceId: "host-1-abc", logger: silentLogger(), deadLetter: new MemoryDeadLetter() },
  );
}

describe("BatchingObjectOutput", () => {
  it("fills objects up to max_size_bytes, names them by time, keeps every record in order", async () => {
    const store = new MemoryStore();
    const out = output(store);
    const writes = [];
    for (let i = 0; i < 10; i++) writes.push(out.write(batch(i * 10, 10)));
    await out.flush();
    await Promise.all(writes);
    const expected = Array.from({ length: 100 }, (_, i) =>
      JSON.stringify({ i, pad: "x".repeat(40) }),
    );
    expect(store.lines()).toEqual(expected);
    const keys = [...store.objects.keys()];
    expect(keys.length).toBeGreaterThan(2);
    for (const k of keys) {
      expect(k).toMatch(
        /^telemetry\/2026\/12\/03\/16\/canary-exporter-20261203T165819\.123Z-host-1-abc-\d{6}\.json$/,
      );
      expect(store.objects.get(k)?.body.length).toBeLessThanOrEqual(2000);
    }
  });

  it("gzip objects are one gzip stream ending in .gz with the gzip content encoding", async () => {
    const store = new MemoryStore();
    const out = output(store, { compression: "gzip", maxSizeBytes: 1_000_000 });
    await Promise.all([out.write(batch(0, 50)), out.write(batch(50, 50)), out.flush()]);
    expect(store.objects.size).toBe(1);
    const [key, obj] = [...store.objects.entries()][0] ?? [];
    expect(key).toMatch(/\.json\.gz$/);
    expect(obj?.meta).toEqual({ contentType: "application/x-ndjson", contentEncoding: "gzip" });
    expect(store.lines()).toHaveLength(100);
  });

  it("resolves a write only once the store has confirmed its object", async () => {
    const store = new MemoryStore();
    let open = () => {};
    store.gate = new Promise((r) => {
      open = r;
    });
    const out = output(store, { maxSizeBytes: 100 });
    let resolved = false;
    const w = out.write(batch(0, 5)).then(() => {
      resolved = true;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(store.puts).toBe(1);
    expect(resolved).toBe(false);
    open();
    await w;
    expect(resolved).toBe(true);
  });

  it("uploads after the flush interval when the object does not fill", async () => {
    const store = new MemoryStore();
    const out = output(store, { flushIntervalMs: 30 });
    await out.write(batch(0, 3));
    expect(store.lines()).toHaveLength(3);
  });

  it("retries transient upload errors, and rejects on permanent ones", async () => {
    const store = new MemoryStore();
    store.failures = [
      new ExporterError("http_503", "retryable", "slow down"),
      new ExporterError("http_500", "retryable", "oops"),
    ];
    const out = output(store, { maxSizeBytes: 10 });
    await out.write(batch(0, 2));
    expect(store.puts).toBe(3);
    expect(store.lines()).toHaveLength(2);

    store.failures = [new ExporterError("no_bucket", "permanent", "bucket does not exist")];
    await expect(out.write(batch(2, 2))).rejects.toMatchObject({ code: "no_bucket" });
  });

  it("never gives two outputs of one process the same object name", async () => {
    const store = new MemoryStore();
    const a = output(store);
    const b = output(store);
    await Promise.all([a.write(batch(0, 3)), b.write(batch(100, 3)), a.flush(), b.flush()]);
    expect(store.objects.size).toBe(2);
    expect(store.lines()).toHaveLength(6);
  });
});

import type { FileHandle } from "node:fs/promises";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FileDeadLetterSink } from "../../src/core/dead-letter.js";
import type { DeadLetterEntry } from "../../src/core/types.js";
import { gate, tempDir } from "./file-output-helpers.js";

let dir: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});

afterEach(async () => {
  await cleanup();
});

const source = { bucket: "rc-bucket", key: "telemetry/a.json.gz" };
const now = () => new Date("2025-03-04T05:06:07.089Z");

const invalid: DeadLetterEntry = {
  kind: "invalid_record",
  source,
  line: 7,
  reason: "not a JSON object",
  raw: "{oops",
};
const failedMessage: DeadLetterEntry = {
  kind: "failed_message",
  messageId: "m-1",
  receiveCount: 5,
  reason: "unparseable body",
  body: "<not json>",
};
const failedFile: DeadLetterEntry = {
  kind: "failed_file",
  source,
  messageId: "m-2",
  reason: "NoSuchKey",
};

async function readLines(path: string): Promise<unknown[]> {
  return (await readFile(path, "utf8"))
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

describe("FileDeadLetterSink", () => {
  it("writes one JSON line per entry into a per-kind, per-instance file in a new directory", async () => {
    // Prepare
    const target = join(dir, "dead", "letters");
    const sink = new FileDeadLetterSink(target, "host-1-aa", { now });
    // Act
    await sink.write(invalid);
    await sink.write(failedMessage);
    await sink.write(failedFile);
    await sink.write(invalid);
    await sink.close();
    // Assess
    expect((await readdir(target)).sort()).toEqual([
      "failed-files-host-1-aa.jsonl",
      "failed-messages-host-1-aa.jsonl",
      "invalid-records-host-1-aa.jsonl",
    ]);
    const invalidText = await readFile(join(target, "invalid-records-host-1-aa.jsonl"), "utf8");
    expect(invalidText.split("\n")[0]).toBe(
      '{"time":"2025-03-04T05:06:07.089Z","kind":"invalid_record","source":{"bucket":"rc-bucket","key":"telemetry/a.json.gz"},"line":7,"reason":"not a JSON object","raw":"{oops"}',
    );
    expect(await readLines(join(target, "invalid-records-host-1-aa.jsonl"))).toHaveLength(2);
    expect(await readLines(sink.pathFor("failed_message"))).toEqual([
      { time: "2025-03-04T05:06:07.089Z", ...failedMessage },
    ]);
    expect(await readLines(sink.pathFor("failed_file"))).toEqual([
      { time: "2025-03-04T05:06:07.089Z", ...failedFile },
    ]);
  });

  it("resolves a write only once the line is fsynced; concurrent writes share fsyncs", async () => {
    // Prepare
    const hold = gate();
    let calls = 0;
    const sync = async (file: FileHandle) => {
      calls += 1;
      if (calls === 1) await hold.promise;
      await file.sync();
    };
    const sink = new FileDeadLetterSink(dir, "i1", { sync });
    let done = 0;
    // Act
    const writes = Array.from({ length: 25 }, (_, i) =>
      sink.write({ ...invalid, line: i }).then(() => {
        done += 1;
      }),
    );
    await vi.waitFor(() => expect(calls).toBe(1));
    // Assess
    expect(done).toBe(0);
    hold.open();
    await Promise.all(writes);
    expect(calls).toBeLessThanOrEqual(3);
    const lines = (await readLines(sink.pathFor("invalid_record"))) as { line: number }[];
    expect(lines.map((l) => l.line).sort((a, b) => a - b)).toEqual([...Array(25).keys()]);
    await sink.close();
  });

  it("keeps exporters sharing the directory in separate files", async () => {
    const a = new FileDeadLetterSink(dir, "host-a");
    const b = new FileDeadLetterSink(dir, "host-b");
    await Promise.all([a.write(failedMessage), b.write(failedMessage)]);
    await Promise.all([a.close(), b.close()]);
    expect((await readdir(dir)).sort()).toEqual([
      "failed-messages-host-a.jsonl",
      "failed-messages-host-b.jsonl",
    ]);
  });

  it("rejects a write whose fsync fails, then writes whole lines to the reopened file", async () => {
    let fail = true;
    const sync = async (file: FileHandle) => {
      if (fail) {
        fail = false;
        throw Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" });
      }
      await file.sync();
    };
    const sink = new FileDeadLetterSink(dir, "i1", { sync });
    await expect(sink.write(invalid)).rejects.toMatchObject({ code: "EIO", kind: "retryable" });
    await sink.write({ ...invalid, line: 8 });
    await sink.close();
    const lines = (await readLines(sink.pathFor("invalid_record"))) as { line: number }[];
    expect(lines.map((l) => l.line)).toEqual([7, 8]);
  });

  it("rejects writes after close", async () => {
    const sink = new FileDeadLetterSink(dir, "i1");
    await sink.write(invalid);
    await sink.close();
    await expect(sink.write(invalid)).rejects.toMatchObject({ kind: "permanent" });
  });

  it("fails with a permanent error when the directory cannot be created", async () => {
    await writeFile(join(dir, "plain"), "");
    const sink = new FileDeadLetterSink(join(dir, "plain", "sub"), "i3");
    const write = sink.write(invalid);
    await expect(write).rejects.toMatchObject({ kind: "permanent", code: "ENOTDIR" });
    await expect(write).rejects.toThrow(/^dead-letter: cannot write .*plain\/sub.*ENOTDIR/);
    await sink.close();
  });
});

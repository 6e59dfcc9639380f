import { type FileHandle, open, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  cleanEndOffset,
  DurableAppender,
  fsErrorKind,
  toFsExporterError,
} from "../../src/core/durable-append.js";
import { gate, tempDir } from "./file-output-helpers.js";

let dir: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});

afterEach(async () => {
  await cleanup();
});

describe("DurableAppender", () => {
  it("shares one fsync among the callers that arrive while another fsync runs", async () => {
    // Prepare
    const first = gate();
    let calls = 0;
    const sync = async (file: FileHandle) => {
      calls += 1;
      if (calls === 1) await first.promise;
      await file.sync();
    };
    const appender = await DurableAppender.open(join(dir, "f"), "wx", { sync });
    await appender.append(Buffer.from("a\n"));
    const one = appender.sync();
    await vi.waitFor(() => expect(calls).toBe(1));
    // Act: ten writers append and wait while the first fsync is blocked
    const rest: Promise<void>[] = [];
    for (let i = 0; i < 10; i++) {
      await appender.append(Buffer.from(`${i}\n`));
      rest.push(appender.sync());
    }
    first.open();
    await Promise.all([one, ...rest]);
    // Assess
    expect(calls).toBe(2);
    expect(appender.durableSize).toBe(22);
    await appender.close();
  });

  it("a sync covers appends called before it even if they are still being written", async () => {
    const sizes: number[] = [];
    const sync = async (file: FileHandle) => {
      await file.sync();
      sizes.push((await file.stat()).size);
    };
    const appender = await DurableAppender.open(join(dir, "f"), "wx", { sync });
    const appends = [appender.append(Buffer.from("x\n")), appender.append(Buffer.from("yy\n"))];
    await appender.sync();
    expect(sizes).toEqual([5]);
    await Promise.all(appends);
    await appender.close();
  });

  it("rejects every waiter of a failed fsync, and stays failed", async () => {
    const hold = gate();
    const err = Object.assign(new Error("EIO: i/o error"), { code: "EIO" });
    let calls = 0;
    const sync = async () => {
      calls += 1;
      await hold.promise;
      throw err;
    };
    const appender = await DurableAppender.open(join(dir, "f"), "wx", { sync });
    await appender.append(Buffer.from("a\n"));
    const waiters = [appender.sync(), appender.sync(), appender.sync()];
    hold.open();
    for (const w of waiters) await expect(w).rejects.toBe(err);
    expect(calls).toBe(1);
    expect(appender.failed).toBe(true);
    await expect(appender.sync()).rejects.toBe(err);
    await expect(appender.append(Buffer.from("b\n"))).rejects.toBe(err);
    await appender.close();
  });

  it("continues a file at its end and cuts a torn tail when asked", async () => {
    await writeFile(join(dir, "f"), "one\ntwo\nthr");
    const appender = await DurableAppender.open(join(dir, "f"), "a+", { cutTornTail: true });
    expect(appender.size).toBe(8);
    await appender.append(Buffer.from("four\n"));
    await appender.sync();
    await appender.close();
    expect(await readFile(join(dir, "f"), "utf8")).toBe("one\ntwo\nfour\n");
    await expect(appender.append(Buffer.from("x"))).rejects.toThrow(/after close/);
    await expect(appender.sync()).resolves.toBeUndefined();
  });

  it("finds the last newline across read chunks", async () => {
    const long = `${"a".repeat(10)}\n${"b".repeat(200_000)}`;
    await writeFile(join(dir, "f"), long);
    const file = await open(join(dir, "f"), "r");
    expect(await cleanEndOffset(file, long.length)).toBe(11);
    expect(await cleanEndOffset(file, 5)).toBe(0);
    await file.close();
  });
});

describe("file system error classes", () => {
  it("treats permission and path errors as permanent, the rest as retryable", () => {
    for (const code of ["EACCES", "EPERM", "EROFS", "ENOTDIR"]) {
      expect(fsErrorKind(Object.assign(new Error(code), { code }))).toBe("permanent");
    }
    for (const code of ["ENOSPC", "EIO", "EMFILE", "EDQUOT", undefined]) {
      expect(fsErrorKind(Object.assign(new Error("x"), { code }))).toBe("retryable");
    }
    const wrapped = toFsExporterError(
      "output file[0]: cannot write",
      Object.assign(new Error("ENOSPC: no space"), { code: "ENOSPC" }),
    );
    expect(wrapped).toMatchObject({ code: "ENOSPC", kind: "retryable" });
    expect(wrapped.message).toBe("output file[0]: cannot write: ENOSPC: no space");
  });
});

import { type FileHandle, open } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { describeError, type ErrorKind, ExporterError } from "./errors.js";

/**
 * Group-commit appending to one open file. Used by the file output and the dead-letter sink.
 *
 * - `append(bytes)` writes the bytes at the end of the file; appends run one after another in
 *   call order, so two appends never interleave. It resolves when the bytes are written (in the
 *   page cache, not yet durable). A failed append is cut back off the file (truncate to the size
 *   before it), so the file never keeps half an append; if even that fails the appender is
 *   broken and every later call rejects.
 * - `sync()` resolves once every append called before it is fsynced. Callers arriving while an
 *   fsync runs share the next one (group commit): N concurrent writers cost about 2 fsyncs, not
 *   N. A failed fsync rejects every waiter of that fsync, and the appender stays failed: after a
 *   failed fsync the kernel may have dropped the dirty pages, so a later "successful" fsync
 *   proves nothing. The owner retires the file and starts another one.
 */

/** How a file is made durable; tests pass a spy, production uses `FileHandle.sync()`. */
export type SyncFn = (file: FileHandle) => Promise<void>;

export interface DurableAppenderOptions {
  /** Wait this long before each fsync so more writers join it. Default 0 (natural grouping). */
  syncDelayMs?: number;
  sync?: SyncFn;
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const defaultSync: SyncFn = (file) => file.sync();

export class DurableAppender {
  private readonly file: FileHandle;
  private readonly syncDelayMs: number;
  private readonly syncFn: SyncFn;
  /** Bytes successfully appended: the offset of the next append. */
  private end: number;
  private synced: number;
  /** Tail of the append queue; never rejects (each append's own promise does). */
  private writes: Promise<void> = Promise.resolve();
  /** The fsync that waiters arriving now will share (not started yet). */
  private pending: Deferred | undefined;
  private syncLoop: Promise<void> | undefined;
  private failure: unknown;
  private closed = false;

  constructor(file: FileHandle, size: number, opts: DurableAppenderOptions = {}) {
    this.file = file;
    this.end = size;
    this.synced = size;
    this.syncDelayMs = opts.syncDelayMs ?? 0;
    this.syncFn = opts.sync ?? defaultSync;
  }

  /**
   * Opens `path` (flags as for `fs.open`: "wx" for a new file, "a+" to continue one) and starts
   * appending at its current end. With `cutTornTail`, bytes after the last newline are cut
   * first (a line torn by an earlier crash or failed write).
   */
  static async open(
    path: string,
    flags: string,
    opts: DurableAppenderOptions & { cutTornTail?: boolean } = {},
  ): Promise<DurableAppender> {
    const file = await open(path, flags, 0o644);
    try {
      let size = (await file.stat()).size;
      if (opts.cutTornTail && size > 0) {
        const clean = await cleanEndOffset(file, size);
        if (clean < size) await file.truncate(clean);
        size = clean;
      }
      return new DurableAppender(file, size, opts);
    } catch (err) {
      await file.close().catch(() => undefined);
      throw err;
    }
  }

  /** Bytes appended so far (including not yet fsynced ones). */
  get size(): number {
    return this.end;
  }

  /** Bytes known to be fsynced. */
  get durableSize(): number {
    return this.synced;
  }

  /** Set once an append could not be undone or an fsync failed; the file must be retired. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  append(data: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new Error("append after close"));
    const run = this.writes.then(() => this.writeAll(data));
    this.writes = run.catch(() => undefined);
    return run;
  }

  sync(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closed) return this.syncAfterClose();
    if (!this.pending) this.pending = deferred();
    const { promise } = this.pending;
    if (!this.syncLoop) this.syncLoop = this.runSyncs();
    return promise;
  }

  /**
   * Waits for queued appends and fsyncs, then closes the descriptor. It does not fsync on its
   * own: call `sync()` first when the data must be durable. Never rejects on a failed fsync
   * (its waiters got that error); rejects only if closing the descriptor fails.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writes;
    await this.syncLoop;
    await this.file.close();
  }

  /** After close: fine if close's last fsync covered everything, otherwise an error. */
  private async syncAfterClose(): Promise<void> {
    await this.writes;
    await this.syncLoop;
    if (this.failure !== undefined) throw this.failure;
    if (this.synced < this.end) throw new Error("appender closed before its data was fsynced");
  }

  private async writeAll(data: Uint8Array): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    const start = this.end;
    let done = 0;
    try {
      while (done < data.length) {
        const { bytesWritten } = await this.file.write(
          data,
          done,
          data.length - done,
          start + done,
        );
        done += bytesWritten;
      }
      this.end = start + data.length;
    } catch (err) {
      // Even a write that reported no bytes may have left some: cut back to the last good end.
      try {
        await this.file.truncate(start);
      } catch (truncErr) {
        this.failure = truncErr;
      }
      throw err;
    }
  }

  /** Runs fsyncs while someone waits for one; exactly one loop at a time. Never rejects. */
  private async runSyncs(): Promise<void> {
    try {
      while (this.pending) {
        if (this.syncDelayMs > 0) await sleep(this.syncDelayMs);
        const batch = this.pending;
        this.pending = undefined;
        try {
          // Appends queued before any of these sync() calls are before this point in the queue.
          await this.writes;
          if (this.failure !== undefined) throw this.failure;
          const target = this.end;
          await this.syncFn(this.file);
          if (target > this.synced) this.synced = target;
          batch.resolve();
        } catch (err) {
          if (this.failure === undefined) this.failure = err;
          batch.reject(err);
        }
      }
    } finally {
      this.syncLoop = undefined;
    }
  }
}

/**
 * Offset just after the last newline in the first `size` bytes of `file` (0 when there is none):
 * everything after it is a torn line. Reads backwards in 64 KiB steps.
 */
export async function cleanEndOffset(file: FileHandle, size: number): Promise<number> {
  const chunk = Buffer.allocUnsafe(64 * 1024);
  let pos = size;
  while (pos > 0) {
    const len = Math.min(chunk.length, pos);
    pos -= len;
    const { bytesRead } = await file.read(chunk, 0, len, pos);
    const idx = chunk.subarray(0, bytesRead).lastIndexOf(0x0a);
    if (idx >= 0) return pos + idx + 1;
  }
  return 0;
}

/**
 * fsyncs a directory so a file created, renamed or deleted in it survives a crash. File systems
 * that cannot fsync a directory (EINVAL, EISDIR, EPERM on some platforms) are tolerated.
 */
export async function fsyncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, "r");
    await handle.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EINVAL" && code !== "EISDIR" && code !== "EPERM") throw err;
  } finally {
    await handle?.close();
  }
}

const PERMANENT_FS_CODES = new Set([
  "EACCES",
  "EPERM",
  "EROFS",
  "ENOTDIR",
  "EISDIR",
  "ENAMETOOLONG",
  "ELOOP",
]);

/**
 * Whether retrying a failed file system call can help: permissions, read-only file systems and
 * paths that are not directories stay wrong until an operator acts (`permanent`); a full disk,
 * I/O errors, too many open files and anything unknown may pass (`retryable`).
 */
export function fsErrorKind(err: unknown): ErrorKind {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && PERMANENT_FS_CODES.has(code) ? "permanent" : "retryable";
}

/** Wraps a file system error as an ExporterError: code = errno code, class from fsErrorKind. */
export function toFsExporterError(context: string, err: unknown): ExporterError {
  if (err instanceof ExporterError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? "EFS";
  return new ExporterError(code, fsErrorKind(err), `${context}: ${describeError(err)}`, {
    cause: err,
  });
}

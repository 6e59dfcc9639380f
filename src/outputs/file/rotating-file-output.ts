import { mkdir, rename, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import {
  DurableAppender,
  fsyncDirectory,
  type SyncFn,
  toFsExporterError,
} from "../../core/durable-append.js";
import { ExporterError } from "../../core/errors.js";
import type { Output, OutputContext, RecordBatch } from "../../core/types.js";
import { DirectoryHousekeeper } from "./housekeeper.js";
import { IdleTimer } from "./idle-timer.js";
import { acquireInstanceLock, type InstanceLock } from "./instance-lock.js";
import { finalName, nextSequence, tempNameOf } from "./naming.js";
import { probeWritableDirectory } from "./probe.js";
import { recoverTempFile } from "./recovery.js";
import { splitLines } from "./split-lines.js";

/** The config fields this output uses (the zod schema lives in config.ts). */
export interface FileOutputSettings {
  readonly directory: string;
  readonly max_size_bytes: number;
  readonly max_files?: number | undefined;
}

export interface RotatingFileOutputOptions {
  /** Extra wait before each fsync so more writes share it. Default 0. */
  syncDelayMs?: number;
  /** Clock for file names. */
  now?: () => Date;
  /** A file with data and no write for this long is completed. Default 60 000; 0 disables. */
  idleFlushMs?: number;
  /** Another instance's lock older than this means it is gone. Default 30 000. */
  lockStaleMs?: number;
  /** How often this instance refreshes its own lock. Default 5 000. */
  lockRefreshMs?: number;
  /** fsync of data files (tests inject a spy). */
  sync?: SyncFn;
}

interface OpenFile {
  readonly temp: string;
  readonly final: string;
  readonly appender: DurableAppender;
}

/**
 * The `file` output: JSON lines in size-bounded files (see naming.ts for names, recovery.ts for
 * crash recovery, retention.ts for `max_files`).
 *
 * - `write` appends the batch's lines (one batch never interleaves with another) and resolves
 *   once they are fsynced in the temp file; concurrent writes share fsyncs. Rejects with an
 *   ExporterError; the failed file is then completed at its last whole line and the next write
 *   starts a new file, so lines are never corrupted (a failed batch may be partly in the file:
 *   at least once).
 * - A file is completed (fsync, rename to `.json`, directory fsync) when the next record would
 *   take it past max_size_bytes, on `flush`/`close`, and after `idleFlushMs` without writes.
 * - Startup (`healthcheck`, or the first write if healthcheck was not called) takes the instance
 *   lock and recovers temp files of instances that stopped; every new file repeats the recovery
 *   and applies `max_files`.
 */
export class RotatingFileOutput implements Output {
  readonly type = "file";
  readonly id: string;
  private readonly dir: string;
  private readonly maxSize: number;
  private readonly ctx: OutputContext;
  private readonly now: () => Date;
  private readonly lockRefreshMs: number;
  private readonly appenderOptions: { syncDelayMs: number; sync?: SyncFn };
  private current: OpenFile | undefined;
  /** Serializes appends, rotation and completion. Never rejects. */
  private chain: Promise<unknown> = Promise.resolve();
  private started: Promise<void> | undefined;
  private lock: InstanceLock | undefined;
  private readonly housekeeper: DirectoryHousekeeper;
  /** Temp files of our own that could not be completed yet: temp name -> final name. */
  private readonly orphans = new Map<string, string>();
  private readonly idleTimer: IdleTimer;
  private idleRun: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    cfg: FileOutputSettings,
    ctx: OutputContext,
    id: string,
    opts: RotatingFileOutputOptions = {},
  ) {
    this.id = id;
    this.dir = cfg.directory;
    this.maxSize = cfg.max_size_bytes;
    this.ctx = ctx;
    this.now = opts.now ?? (() => new Date());
    this.idleTimer = new IdleTimer(opts.idleFlushMs ?? 60_000, () => {
      this.idleRun = this.serial(async () => {
        if (this.idleTimer.idle) await this.completeCurrent();
        else if (this.current) this.idleTimer.arm(); // a write came in meanwhile
      }).catch((err: unknown) => {
        this.ctx.logger.warn({ output: this.id, err: String(err) }, "idle flush failed");
      });
    });
    this.lockRefreshMs = opts.lockRefreshMs ?? 5_000;
    this.appenderOptions = { syncDelayMs: opts.syncDelayMs ?? 0, sync: opts.sync };
    this.housekeeper = new DirectoryHousekeeper(this.dir, ctx.instanceId, {
      staleMs: opts.lockStaleMs ?? 30_000,
      maxFiles: cfg.max_files === undefined ? undefined : Math.max(1, cfg.max_files),
      logger: ctx.logger,
    });
  }

  /** Creates the directory, proves it writable (create + fsync + remove a probe), then starts. */
  async healthcheck(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    try {
      await probeWritableDirectory(this.dir);
    } catch (err) {
      throw toFsExporterError(`output ${this.id}: directory ${this.dir} is not writable`, err);
    }
    signal?.throwIfAborted();
    await this.start();
  }

  async write(batch: RecordBatch): Promise<void> {
    if (this.closing !== undefined)
      throw new ExporterError("OUTPUT_CLOSED", "permanent", `output ${this.id}: closed`);
    if (batch.records.length === 0) return;
    const { file, durable } = await this.serial(() => this.appendBatch(batch));
    try {
      await durable;
    } catch (err) {
      await this.serial(() => this.abandonIfCurrent(file));
      throw toFsExporterError(`output ${this.id}: cannot fsync ${join(this.dir, file.temp)}`, err);
    }
  }

  /** Completes the current file so everything written is visible under a final name. */
  flush(): Promise<void> {
    return this.serial(() => this.completeCurrent());
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.idleTimer.cancel();
    let failure: unknown;
    await this.serial(() => this.completeCurrent()).catch((err: unknown) => {
      failure = err;
    });
    await this.idleRun;
    await this.retryOrphans();
    if (this.orphans.size > 0) {
      this.ctx.logger.error(
        { output: this.id, files: [...this.orphans.keys()] },
        "leaving temp files that could not be completed; the next exporter start recovers them",
      );
    }
    await this.started?.catch(() => undefined);
    await this.housekeeper.stop();
    await this.lock?.release();
    if (failure !== undefined) throw failure;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private start(): Promise<void> {
    this.started ??= this.takeLockAndRecover().catch((err: unknown) => {
      this.started = undefined;
      throw toFsExporterError(`output ${this.id}: cannot start in ${this.dir}`, err);
    });
    return this.started;
  }

  private async takeLockAndRecover(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const { instanceId, logger } = this.ctx;
    const lock = await acquireInstanceLock(this.dir, instanceId, this.lockRefreshMs, logger);
    try {
      await this.housekeeper.start();
    } catch (err) {
      await lock.release();
      throw err;
    }
    this.lock = lock;
  }

  /**
   * Appends the batch, rotating at record boundaries. Returns the file the batch ended in and
   * the promise of its fsync (registered here, inside the serialized section, so a later
   * rotation's fsync covers it).
   */
  private async appendBatch(
    batch: RecordBatch,
  ): Promise<{ file: OpenFile; durable: Promise<void> }> {
    await this.start();
    this.idleTimer.touch();
    try {
      const chunks = splitLines(batch.records, this.current?.appender.size ?? 0, this.maxSize);
      let file: OpenFile | undefined;
      for (const [i, chunk] of chunks.entries()) {
        if (i > 0) await this.completeCurrent();
        if (chunk.length === 0) continue;
        file = this.current ?? (await this.openNewFile());
        await file.appender.append(chunk);
      }
      if (!file) throw new Error("unreachable: a non-empty batch always ends in a file");
      if (file.appender.size >= this.maxSize) {
        await this.completeCurrent();
        return { file, durable: Promise.resolve() };
      }
      return { file, durable: file.appender.sync() };
    } catch (err) {
      const failed = this.current;
      if (failed) await this.abandonIfCurrent(failed);
      throw toFsExporterError(`output ${this.id}: cannot write in ${this.dir}`, err);
    }
  }

  private async openNewFile(): Promise<OpenFile> {
    await mkdir(this.dir, { recursive: true });
    const final = finalName(this.now(), this.ctx.instanceId, nextSequence());
    const temp = tempNameOf(final);
    const appender = await DurableAppender.open(join(this.dir, temp), "wx", this.appenderOptions);
    const file: OpenFile = { temp, final, appender };
    this.current = file;
    try {
      // The temp file's name must survive a crash: its content is acknowledged before the rename.
      await fsyncDirectory(this.dir);
    } catch (err) {
      await this.abandonIfCurrent(file);
      throw err;
    }
    await this.retryOrphans();
    await this.housekeeper.afterOpen();
    this.idleTimer.arm();
    return file;
  }

  /** Completes the current file: fsync, close, rename to its final name, fsync the directory. */
  private async completeCurrent(): Promise<void> {
    const file = this.current;
    if (!file) return;
    this.current = undefined;
    this.idleTimer.cancel();
    const tempPath = join(this.dir, file.temp);
    try {
      if (file.appender.size === 0) {
        await file.appender.close();
        await unlink(tempPath).catch((err: unknown) => {
          if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
        });
        return;
      }
      await file.appender.sync();
      await file.appender.close();
    } catch (err) {
      await this.abandon(file);
      throw toFsExporterError(`output ${this.id}: cannot complete ${tempPath}`, err);
    }
    try {
      await rename(tempPath, join(this.dir, file.final));
      await fsyncDirectory(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        const recovered = await stat(join(this.dir, file.final)).then(
          () => true,
          () => false,
        );
        this.ctx.logger[recovered ? "warn" : "error"](
          { output: this.id, file: file.temp },
          recovered
            ? "another exporter completed our temp file (our lock looked stale to it)"
            : "our temp file disappeared before completion (was the directory removed?)",
        );
        return;
      }
      this.orphans.set(file.temp, file.final);
      throw toFsExporterError(`output ${this.id}: cannot rename ${tempPath}`, err);
    }
  }

  private async abandonIfCurrent(file: OpenFile): Promise<void> {
    if (this.current !== file) return;
    this.current = undefined;
    this.idleTimer.cancel();
    await this.abandon(file);
  }

  /**
   * After a failure: close the file, cut any torn tail, and complete it under its final name,
   * keeping what earlier writes acknowledged. If even that fails, remember it as an orphan to
   * retry. Never rejects.
   */
  private async abandon(file: OpenFile): Promise<void> {
    await file.appender.close().catch(() => undefined);
    this.orphans.set(file.temp, file.final);
    await this.retryOrphans();
  }

  private async retryOrphans(): Promise<void> {
    for (const [temp, final] of this.orphans) {
      try {
        await recoverTempFile(this.dir, temp, final, this.ctx.logger);
        this.orphans.delete(temp);
      } catch (err) {
        this.ctx.logger.error(
          { output: this.id, file: temp, err: String(err) },
          "cannot complete a temp file",
        );
      }
    }
  }
}

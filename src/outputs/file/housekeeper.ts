import { readdir } from "node:fs/promises";
import type { Logger } from "pino";
import { recoverAbandonedFiles } from "./recovery.js";
import { pruneCompletedFiles } from "./retention.js";

export interface HousekeeperOptions {
  /** A lock older than this means its instance is gone (see instance-lock.ts). */
  readonly staleMs: number;
  readonly maxFiles: number | undefined;
  readonly logger: Logger;
}

/**
 * The directory chores of one file output, beyond its own files:
 * - `start()` recovers the temp files of stopped instances (awaited, so a healthcheck reports
 *   a directory it cannot work in), then repeats that every third of `staleMs` so a sibling
 *   that crashed while this one runs gets its last file completed within about 1.3 stale
 *   periods, even when no new file opens here.
 * - `afterOpen()` (after the output opened a new temp file) recovers again and applies
 *   `max_files`. Never rejects: failures are logged and retried next time.
 * - `stop()` ends the timer and waits for a running pass.
 */
export class DirectoryHousekeeper {
  private readonly dir: string;
  private readonly instanceId: string;
  private readonly opts: HousekeeperOptions;
  private timer: NodeJS.Timeout | undefined;
  private periodic: Promise<void> | undefined;

  constructor(dir: string, instanceId: string, opts: HousekeeperOptions) {
    this.dir = dir;
    this.instanceId = instanceId;
    this.opts = opts;
  }

  async start(): Promise<void> {
    await recoverAbandonedFiles(this.dir, this.instanceId, this.opts.staleMs, this.opts.logger);
    if (this.timer !== undefined) return;
    this.timer = setInterval(
      () => {
        if (this.periodic !== undefined) return;
        this.periodic = this.recoverQuietly().finally(() => {
          this.periodic = undefined;
        });
      },
      Math.max(1000, Math.floor(this.opts.staleMs / 3)),
    );
    this.timer.unref();
  }

  async afterOpen(): Promise<void> {
    try {
      let names = await readdir(this.dir);
      const { staleMs, logger, maxFiles } = this.opts;
      if (await recoverAbandonedFiles(this.dir, this.instanceId, staleMs, logger, names)) {
        names = await readdir(this.dir);
      }
      if (maxFiles !== undefined) await pruneCompletedFiles(this.dir, maxFiles, names, logger);
    } catch (err) {
      this.opts.logger.warn(
        { directory: this.dir, err: String(err) },
        "directory housekeeping failed",
      );
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.periodic;
  }

  private async recoverQuietly(): Promise<void> {
    try {
      await recoverAbandonedFiles(this.dir, this.instanceId, this.opts.staleMs, this.opts.logger);
    } catch (err) {
      this.opts.logger.warn({ directory: this.dir, err: String(err) }, "periodic recovery failed");
    }
  }
}

import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import {
  DurableAppender,
  fsyncDirectory,
  type SyncFn,
  toFsExporterError,
} from "./durable-append.js";
import { ExporterError } from "./errors.js";
import type { DeadLetterEntry, DeadLetterSink } from "./types.js";

/** One file per kind of entry, so an operator can find bad lines apart from failed messages. */
const FILE_GROUP: Record<DeadLetterEntry["kind"], string> = {
  invalid_record: "invalid-records",
  rejected_record: "rejected-records",
  failed_file: "failed-files",
  failed_message: "failed-messages",
};

export interface FileDeadLetterSinkOptions {
  /** Clock for the `time` field. */
  now?: () => Date;
  syncDelayMs?: number;
  /** fsync (tests inject a spy). */
  sync?: SyncFn;
}

/**
 * The local dead-letter place: JSON lines `{"time", "kind", ...entry}` appended to
 * `<directory>/<group>-<instanceId>.jsonl` where group is `invalid-records`, `failed-files` or
 * `failed-messages`. The instance id in the name keeps exporters sharing the directory off each
 * other's files. `write` resolves when the line is fsynced (concurrent writes share fsyncs).
 * Entries hold telemetry lines and SQS bodies, never credentials (the caller builds them from
 * data only). The directory is created on first use.
 */
export class FileDeadLetterSink implements DeadLetterSink {
  private readonly directory: string;
  private readonly instanceId: string;
  private readonly now: () => Date;
  private readonly appenderOptions: { syncDelayMs: number; sync?: SyncFn; cutTornTail: boolean };
  private readonly files = new Map<string, Promise<DurableAppender>>();
  private closing: Promise<void> | undefined;

  constructor(directory: string, instanceId: string, opts: FileDeadLetterSinkOptions = {}) {
    this.directory = directory;
    this.instanceId = instanceId;
    this.now = opts.now ?? (() => new Date());
    this.appenderOptions = {
      syncDelayMs: opts.syncDelayMs ?? 0,
      sync: opts.sync,
      cutTornTail: true,
    };
  }

  /** The file an entry of this kind goes to. */
  pathFor(kind: DeadLetterEntry["kind"]): string {
    return join(this.directory, `${FILE_GROUP[kind]}-${this.instanceId}.jsonl`);
  }

  async write(entry: DeadLetterEntry): Promise<void> {
    if (this.closing !== undefined)
      throw new ExporterError("DEAD_LETTER_CLOSED", "permanent", "dead-letter sink is closed");
    const path = this.pathFor(entry.kind);
    const { kind, ...fields } = entry;
    const line = Buffer.from(
      `${JSON.stringify({ time: this.now().toISOString(), kind, ...fields })}\n`,
    );
    const opening = this.appenderFor(path);
    try {
      const appender = await opening;
      try {
        await appender.append(line);
        await appender.sync();
      } catch (err) {
        // A broken file is reopened by the next write (a torn tail is cut then).
        if (appender.failed && this.files.get(path) === opening) {
          this.files.delete(path);
          await appender.close().catch(() => undefined);
        }
        throw err;
      }
    } catch (err) {
      throw toFsExporterError(`dead-letter: cannot write ${path}`, err);
    }
  }

  /** Makes pending entries durable and closes the files. No write may follow. */
  close(): Promise<void> {
    this.closing ??= this.closeAll();
    return this.closing;
  }

  private appenderFor(path: string): Promise<DurableAppender> {
    const cached = this.files.get(path);
    if (cached !== undefined) return cached;
    // A failed open is not cached: the next write tries again.
    const opening: Promise<DurableAppender> = this.open(path).catch((err: unknown) => {
      if (this.files.get(path) === opening) this.files.delete(path);
      throw err;
    });
    this.files.set(path, opening);
    return opening;
  }

  private async open(path: string): Promise<DurableAppender> {
    await mkdir(this.directory, { recursive: true });
    const appender = await DurableAppender.open(path, "a+", this.appenderOptions);
    try {
      await fsyncDirectory(this.directory);
    } catch (err) {
      await appender.close().catch(() => undefined);
      throw err;
    }
    return appender;
  }

  private async closeAll(): Promise<void> {
    const openings = [...this.files.values()];
    this.files.clear();
    for (const opening of openings) {
      const appender = await opening.catch(() => undefined);
      if (!appender) continue;
      await appender.sync().catch(() => undefined);
      await appender.close();
    }
  }
}

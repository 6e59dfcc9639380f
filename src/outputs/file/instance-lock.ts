import { stat, unlink, utimes, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import type { Logger } from "pino";
import { lockName } from "./naming.js";

/**
 * The heartbeat that tells other exporters sharing a directory "this instance is alive, leave
 * its temp files alone". Each running instance keeps `.canary-exporter-<instanceId>.lock` in the
 * directory and touches it every `refreshMs`; it is removed on close. A lock whose mtime is
 * older than the stale threshold (or a missing lock) means the owner is gone, and its temp files
 * may be recovered. Hosts sharing a network directory need clocks in sync (NTP) well within the
 * threshold.
 *
 * Several file outputs of one process may share a directory: the lock is reference-counted per
 * (directory, instanceId) and removed when the last of them releases it.
 */

interface HeldLock {
  refs: number;
  ready: Promise<void>;
  timer: NodeJS.Timeout | undefined;
  beat: Promise<void> | undefined;
}

const held = new Map<string, HeldLock>();

export interface InstanceLock {
  /** Drops this holder's reference; the last one stops the heartbeat and removes the file. */
  release(): Promise<void>;
}

export async function acquireInstanceLock(
  directory: string,
  instanceId: string,
  refreshMs: number,
  logger: Logger,
): Promise<InstanceLock> {
  const path = join(directory, lockName(instanceId));
  const key = `${resolve(directory)}\0${instanceId}`;
  let lock = held.get(key);
  if (lock) {
    lock.refs += 1;
  } else {
    const content = `${JSON.stringify({ instanceId, host: hostname(), pid: process.pid, started: new Date().toISOString() })}\n`;
    const created: HeldLock = {
      refs: 1,
      ready: writeFile(path, content),
      timer: undefined,
      beat: undefined,
    };
    lock = created;
    held.set(key, created);
    created.timer = setInterval(() => {
      if (created.beat !== undefined) return;
      created.beat = touch(path, content, logger).finally(() => {
        created.beat = undefined;
      });
    }, refreshMs);
    created.timer.unref();
  }
  const entry = lock;
  try {
    await entry.ready;
  } catch (err) {
    await releaseEntry(key, entry, path);
    throw err;
  }
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      await releaseEntry(key, entry, path);
    },
  };
}

async function releaseEntry(key: string, lock: HeldLock, path: string): Promise<void> {
  lock.refs -= 1;
  if (lock.refs > 0) return;
  held.delete(key);
  clearInterval(lock.timer);
  await lock.beat;
  await unlink(path).catch(() => undefined);
}

/** Refreshes the heartbeat; recreates a lock someone removed. Never rejects (logs instead). */
async function touch(path: string, content: string, logger: Logger): Promise<void> {
  const now = new Date();
  try {
    await utimes(path, now, now);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      logger.warn({ path, err: String(err) }, "cannot refresh instance lock");
      return;
    }
    logger.warn(
      { path },
      "instance lock was removed by someone else; recreating it (another exporter may have taken this instance for dead)",
    );
    await writeFile(path, content).catch((e: unknown) =>
      logger.warn({ path, err: String(e) }, "cannot recreate instance lock"),
    );
  }
}

/** True when `owner`'s lock exists and was refreshed less than `staleMs` ago. */
export async function isLockFresh(
  directory: string,
  owner: string,
  staleMs: number,
): Promise<boolean> {
  try {
    const s = await stat(join(directory, lockName(owner)));
    return Date.now() - s.mtimeMs < staleMs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}

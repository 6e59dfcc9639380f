import { type FileHandle, open, readdir, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { cleanEndOffset, fsyncDirectory } from "../../core/durable-append.js";
import { isLockFresh } from "./instance-lock.js";
import { lockName, parseLockName, parseTempName } from "./naming.js";

/**
 * Turning abandoned temp files into completed files.
 *
 * A temp file holds records whose writes were acknowledged (fsynced, so the pipeline deleted
 * their SQS messages): it must never be dropped. Bytes after its last newline are a line torn by
 * a crash; that record's write never resolved, so SQS redelivers it, and the torn bytes are cut
 * off (logged with their count). An empty result is removed. Everything else is renamed to the
 * file's final `.json` name.
 */

export type RecoveryOutcome = "recovered" | "empty" | "gone";

function isCode(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === code;
}

/** Completes one temp file. "gone": it no longer exists (someone else recovered it first). */
export async function recoverTempFile(
  directory: string,
  tempName: string,
  final: string,
  logger: Logger,
): Promise<RecoveryOutcome> {
  const path = join(directory, tempName);
  let file: FileHandle;
  try {
    file = await open(path, "r+");
  } catch (err) {
    if (isCode(err, "ENOENT")) return "gone";
    throw err;
  }
  let clean: number;
  try {
    const size = (await file.stat()).size;
    clean = await cleanEndOffset(file, size);
    if (clean < size) {
      await file.truncate(clean);
      logger.warn(
        { file: tempName, tornBytes: size - clean },
        "cut a torn last line off a temp file (its record was never acknowledged and will be redelivered)",
      );
    }
    if (clean > 0) await file.sync();
  } finally {
    await file.close();
  }
  try {
    if (clean === 0) {
      await unlink(path);
    } else {
      await rename(path, join(directory, final));
    }
  } catch (err) {
    if (isCode(err, "ENOENT")) return "gone";
    throw err;
  }
  await fsyncDirectory(directory);
  return clean === 0 ? "empty" : "recovered";
}

/**
 * Recovers the temp files of every other instance whose lock is missing or stale, then removes
 * stale locks (also those of instances that left no temp file). Files of `selfId` and of instances with a fresh lock are never touched, nor
 * are files that do not match our naming. A file that cannot be recovered is logged and left for
 * the next attempt; this never rejects because of one file. Returns how many were recovered.
 */
export async function recoverAbandonedFiles(
  directory: string,
  selfId: string,
  staleMs: number,
  logger: Logger,
  names?: readonly string[],
): Promise<number> {
  const entries = names ?? (await readdir(directory));
  const byOwner = new Map<string, { temp: string; final: string }[]>();
  for (const name of entries) {
    const lockOwner = parseLockName(name);
    if (lockOwner !== undefined && lockOwner !== selfId && !byOwner.has(lockOwner)) {
      byOwner.set(lockOwner, []);
    }
    const parsed = parseTempName(name);
    if (!parsed || parsed.owner === selfId) continue;
    const list = byOwner.get(parsed.owner) ?? [];
    list.push({ temp: name, final: parsed.final });
    byOwner.set(parsed.owner, list);
  }
  let recovered = 0;
  for (const [owner, files] of byOwner) {
    try {
      if (await isLockFresh(directory, owner, staleMs)) continue;
    } catch (err) {
      logger.warn(
        { owner, err: String(err) },
        "cannot read another instance's lock; leaving its files",
      );
      continue;
    }
    for (const f of files) {
      try {
        const outcome = await recoverTempFile(directory, f.temp, f.final, logger);
        if (outcome === "recovered") {
          recovered += 1;
          logger.info(
            { file: f.final, owner },
            "recovered a file left by an instance that stopped",
          );
        }
      } catch (err) {
        logger.error({ file: f.temp, err: String(err) }, "cannot recover an abandoned temp file");
      }
    }
    // Re-check before removing: the owner may have come back meanwhile.
    if (!(await isLockFresh(directory, owner, staleMs).catch(() => true))) {
      await unlink(join(directory, lockName(owner))).catch(() => undefined);
    }
  }
  return recovered;
}

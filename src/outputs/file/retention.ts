import { unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { isFinalName } from "./naming.js";

/**
 * `max_files`: called right after this output opened a new temp file. Deletes the oldest
 * completed files (by the time in their names) so that completed files + the open one <=
 * maxFiles. Only completed files of our naming pattern count and are deleted: temp files, locks
 * and unrelated files are never touched. Exporters sharing the directory share the bound (each
 * prunes the same oldest files); a file another one deleted first is not an error.
 * Returns the names deleted. Never rejects: a failed delete is logged and retried next time.
 */
export async function pruneCompletedFiles(
  directory: string,
  maxFiles: number,
  names: readonly string[],
  logger: Logger,
): Promise<string[]> {
  const completed = names.filter(isFinalName).sort();
  const keep = Math.max(0, maxFiles - 1);
  const victims = completed.slice(0, Math.max(0, completed.length - keep));
  const deleted: string[] = [];
  for (const name of victims) {
    try {
      await unlink(join(directory, name));
      deleted.push(name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      logger.warn({ file: name, err: String(err) }, "cannot delete an old file for max_files");
    }
  }
  if (deleted.length > 0) logger.debug({ deleted }, "deleted old files (max_files)");
  return deleted;
}

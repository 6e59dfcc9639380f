import { randomBytes } from "node:crypto";
import { mkdir, open, unlink } from "node:fs/promises";
import { join } from "node:path";

/**
 * Proves `directory` usable by the file output: creates it (recursively) when missing, then
 * creates, writes, fsyncs and removes a probe file (`.canary-exporter-probe-<random>`, a dot
 * file no other part of the exporter reads). Rejects with the file system error otherwise.
 */
export async function probeWritableDirectory(directory: string): Promise<void> {
  await mkdir(directory, { recursive: true });
  const probe = join(directory, `.canary-exporter-probe-${randomBytes(6).toString("hex")}`);
  const file = await open(probe, "wx");
  try {
    await file.write("probe\n");
    await file.sync();
  } finally {
    await file.close();
  }
  await unlink(probe);
}

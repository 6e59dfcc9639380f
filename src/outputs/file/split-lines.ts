import type { TelemetryRecord } from "../../core/types.js";

/**
 * Cuts a batch into JSON-lines chunks at record boundaries so no file passes `maxSize`.
 * Chunk 0 goes into the current file (which holds `currentSize` bytes; the chunk is empty when
 * not even the first record fits there); every further chunk starts a new file. A record bigger
 * than `maxSize` on its own gets a chunk (so a file) of its own.
 */
export function splitLines(
  records: readonly TelemetryRecord[],
  currentSize: number,
  maxSize: number,
): Buffer[] {
  const whole = Buffer.from(`${records.map((r) => r.raw).join("\n")}\n`);
  if (currentSize + whole.length <= maxSize) return [whole];
  const chunks: Buffer[] = [];
  let parts: string[] = [];
  let size = currentSize;
  let chunkBytes = 0;
  for (const record of records) {
    const len = Buffer.byteLength(record.raw) + 1;
    if (size > 0 && size + len > maxSize) {
      chunks.push(Buffer.from(parts.join("")));
      parts = [];
      size = 0;
      chunkBytes = 0;
    }
    parts.push(record.raw, "\n");
    size += len;
    chunkBytes += len;
  }
  if (chunkBytes > 0) chunks.push(Buffer.from(parts.join("")));
  return chunks;
}

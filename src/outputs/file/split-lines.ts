import type { TelemetryRecord } from "../../core/types.js";

/**
 * Cuts a batch into JSON-lines chunks at record boundaries so no file passes `maxSize`.
 * Chunk 0 goes into the current file (which holds `currentSize` bytes; the chunk is empty when
 * not even the first record fits there); every further chunk starts a new file. A record bigger
 * than `maxSize` on its own gets a chunk (so a file) of its own.
 *
 * Each record's text is encoded straight into one buffer per chunk (its UTF-8 length measured
 * first), instead of joining the batch into one string and encoding that: no batch-sized
 * intermediate string, and a third of the time on this hot path.
 */
export function splitLines(
  records: readonly TelemetryRecord[],
  currentSize: number,
  maxSize: number,
): Buffer[] {
  const lengths = new Array<number>(records.length);
  let total = 0;
  for (let i = 0; i < records.length; i++) {
    const len = Buffer.byteLength((records[i] as TelemetryRecord).raw) + 1;
    lengths[i] = len;
    total += len;
  }
  if (currentSize + total <= maxSize) return [encode(records, lengths, 0, records.length, total)];
  const chunks: Buffer[] = [];
  let size = currentSize;
  let start = 0;
  let chunkBytes = 0;
  for (let i = 0; i < records.length; i++) {
    const len = lengths[i] as number;
    if (size > 0 && size + len > maxSize) {
      chunks.push(encode(records, lengths, start, i, chunkBytes));
      start = i;
      size = 0;
      chunkBytes = 0;
    }
    size += len;
    chunkBytes += len;
  }
  if (chunkBytes > 0) chunks.push(encode(records, lengths, start, records.length, chunkBytes));
  return chunks;
}

/** Records [from, to) as JSON lines in one buffer of exactly `bytes` bytes. */
function encode(
  records: readonly TelemetryRecord[],
  lengths: readonly number[],
  from: number,
  to: number,
  bytes: number,
): Buffer {
  const buf = Buffer.allocUnsafe(bytes);
  let offset = 0;
  for (let i = from; i < to; i++) {
    const len = lengths[i] as number;
    buf.write((records[i] as TelemetryRecord).raw, offset, len - 1, "utf8");
    buf[offset + len - 1] = 0x0a;
    offset += len;
  }
  return buf;
}

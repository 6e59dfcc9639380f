import type { RecordBatch, SourceRef, TelemetryRecord } from "../core/types.js";

/**
 * The JSON-lines reader (SPEC.md section 3): decoded bytes in, batches of records out.
 *
 * Line rules: lines end at `\n`; one trailing `\r` is dropped (CRLF files); the last line needs
 * no newline; blank and whitespace-only lines are skipped without a trace; a UTF-8 BOM at the
 * start of the file is dropped. Lines are split on bytes and decoded whole, so a multi-byte
 * character cut across chunks decodes correctly. Line numbers are 1-based and count every
 * physical line, blank ones included.
 *
 * Each line must be a JSON object. Anything else becomes an InvalidLine (with the parser's
 * reason) and reading goes on. A line longer than `maxLineBytes` is invalid too; it is skipped
 * without being held in memory (only its first 4096 bytes are kept, for `raw`), so memory stays
 * bounded by `maxLineBytes` plus one batch whatever the input.
 */

export interface InvalidLine {
  readonly line: number;
  readonly reason: string;
  /** The line as read, cut to at most 4096 characters plus `…[truncated N bytes]`. */
  readonly raw: string;
}

/**
 * A batch is a RecordBatch (hand it to outputs as is) plus the lines that were not records.
 * Batches tile the file: `firstLine` is the previous batch's `lastLine + 1`, and `lastLine` is
 * the line of the last record or invalid line in the batch. Never empty.
 */
export interface LineBatch extends RecordBatch {
  readonly records: TelemetryRecord[];
  readonly invalid: InvalidLine[];
  readonly firstLine: number;
  readonly lastLine: number;
}

export interface ReadRecordsOptions {
  readonly source: SourceRef;
  /** Longest accepted line in bytes, without its newline. Default 16 MiB. */
  readonly maxLineBytes?: number;
  /** A batch closes at this many records plus invalid lines. Default 500. */
  readonly batchRecords?: number;
  /** A batch closes once its `bytes` reach this. Default 1 MiB. */
  readonly batchBytes?: number;
  /**
   * Lines 1 to `skipLines` are passed over without being decoded or parsed, and the first batch
   * starts at line `skipLines + 1`: what a read resumed after a failure already handed on.
   * Default 0.
   */
  readonly skipLines?: number;
}

export const DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024;
const RAW_KEEP = 4096;
const MAX_REASON_CHARS = 300;
const LF = 0x0a;
const CR = 0x0d;
const OPEN_BRACE = 0x7b;

/** Pulls decoded chunks and yields batches; the batch just yielded is the caller's to keep. */
export async function* readRecordBatches(
  decoded: AsyncIterable<Buffer>,
  opts: ReadRecordsOptions,
): AsyncGenerator<LineBatch, void, undefined> {
  const splitter = new LineSplitter(opts);
  for await (const chunk of decoded) {
    splitter.push(chunk);
    yield* splitter.drain();
  }
  splitter.end();
  yield* splitter.drain();
}

/**
 * The synchronous core: `push` chunks, `end` once, `drain` completed batches after each call.
 * Exported for callers that already hold the bytes and for tests.
 */
export class LineSplitter {
  private readonly source: SourceRef;
  private readonly maxLine: number;
  private readonly maxRecords: number;
  private readonly maxBytes: number;
  private readonly skipLines: number;

  /** Pieces of the line in progress (not yet terminated by \n); views into pushed chunks. */
  private pieces: Buffer[] = [];
  private pieceBytes = 0;
  /** Set while skipping an overlong line: its first bytes (a copy) and its length so far. */
  private skipHead: Buffer | null = null;
  private skipHeadLen = 0;
  private skipBytes = 0;

  /** Number of the line in progress (1-based). */
  private line = 1;
  private firstLine = 1;
  /** Line of the last record or invalid line seen. */
  private lastLine = 0;
  private records: TelemetryRecord[] = [];
  private invalid: InvalidLine[] = [];
  private bytes = 0;
  private ready: LineBatch[] = [];

  constructor(opts: ReadRecordsOptions) {
    this.source = opts.source;
    this.maxLine = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this.maxRecords = opts.batchRecords ?? 500;
    this.maxBytes = opts.batchBytes ?? 1024 * 1024;
    this.skipLines = Math.max(0, Math.floor(opts.skipLines ?? 0));
    this.firstLine = this.skipLines + 1;
  }

  push(chunk: Buffer): void {
    const len = chunk.length;
    let pos = 0;
    while (pos < len) {
      const nl = chunk.indexOf(LF, pos);
      if (this.line <= this.skipLines) {
        // Already handed on by an earlier read of this object: only counted.
        if (nl === -1) return;
        this.line++;
        pos = nl + 1;
        continue;
      }
      const end = nl === -1 ? len : nl;
      if (this.skipHead !== null) {
        this.keepHead(chunk, pos, end);
        this.skipBytes += end - pos;
        if (nl === -1) return;
        this.finishOverlong();
      } else if (nl === -1) {
        this.holdPartial(chunk, pos, len);
        return;
      } else if (this.pieceBytes === 0) {
        if (end - pos > this.maxLine) this.overlong(chunk.subarray(pos, end), end - pos);
        else this.onLine(chunk, pos, end);
      } else {
        const total = this.pieceBytes + (end - pos);
        this.pieces.push(chunk.subarray(pos, end));
        // Concat truncates to its length argument: an overlong line only needs its head.
        const whole = Buffer.concat(
          this.pieces,
          total > this.maxLine ? Math.min(total, RAW_KEEP) : total,
        );
        this.pieces = [];
        this.pieceBytes = 0;
        if (total > this.maxLine) this.overlong(whole, total);
        else this.onLine(whole, 0, total);
      }
      this.line++;
      pos = nl + 1;
    }
  }

  /** The input is over: the last line may lack its newline. */
  end(): void {
    if (this.line <= this.skipLines) {
      // The last skipped line had no newline: nothing is left to read.
    } else if (this.skipHead !== null) {
      this.finishOverlong();
    } else if (this.pieceBytes > 0) {
      const whole = Buffer.concat(this.pieces, this.pieceBytes);
      this.pieces = [];
      this.pieceBytes = 0;
      this.onLine(whole, 0, whole.length);
    }
    this.closeBatch();
  }

  /** Completed batches since the last call, oldest first. */
  drain(): readonly LineBatch[] {
    if (this.ready.length === 0) return EMPTY;
    const out = this.ready;
    this.ready = [];
    return out;
  }

  private holdPartial(chunk: Buffer, pos: number, len: number): void {
    const total = this.pieceBytes + (len - pos);
    if (total <= this.maxLine) {
      this.pieces.push(chunk.subarray(pos, len));
      this.pieceBytes = total;
      return;
    }
    // Too long: from now on keep only a copy of the head, so no chunk stays referenced.
    this.skipHead = Buffer.allocUnsafe(RAW_KEEP);
    this.skipHeadLen = 0;
    for (const piece of this.pieces) this.keepHead(piece, 0, piece.length);
    this.keepHead(chunk, pos, len);
    this.skipBytes = total;
    this.pieces = [];
    this.pieceBytes = 0;
  }

  private keepHead(chunk: Buffer, pos: number, end: number): void {
    const head = this.skipHead;
    if (head === null || this.skipHeadLen >= RAW_KEEP) return;
    this.skipHeadLen += chunk.copy(head, this.skipHeadLen, pos, Math.min(end, pos + RAW_KEEP));
  }

  private finishOverlong(): void {
    const head = (this.skipHead ?? EMPTY_BUFFER).subarray(0, this.skipHeadLen);
    this.skipHead = null;
    this.overlong(head, this.skipBytes);
    this.skipBytes = 0;
  }

  /** `head` holds at least the first min(total, 4096) bytes of the line. */
  private overlong(head: Buffer, total: number): void {
    const kept = total <= RAW_KEEP ? total : utf8Boundary(head, RAW_KEEP);
    const text = head.toString("utf8", 0, kept);
    this.addInvalid(
      `line longer than ${this.maxLine} bytes (${total} bytes)`,
      kept === total ? text : `${text}…[truncated ${total - kept} bytes]`,
    );
  }

  private onLine(buf: Buffer, start: number, end: number): void {
    if (end > start && buf[end - 1] === CR) end--;
    if (
      this.line === 1 &&
      buf[start] === 0xef &&
      buf[start + 1] === 0xbb &&
      buf[start + 2] === 0xbf
    ) {
      start += 3;
    }
    if (start === end) return;
    if (buf[start] !== OPEN_BRACE && isBlank(buf, start, end)) return;

    const text = buf.toString("utf8", start, end);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      this.addInvalid(clip(reason), cutRaw(text, end - start));
      return;
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      const what =
        value === null ? "null" : Array.isArray(value) ? "an array" : `a ${typeof value}`;
      this.addInvalid(`not a JSON object (${what})`, cutRaw(text, end - start));
      return;
    }
    this.records.push({ raw: text, value: value as Record<string, unknown> });
    this.lastLine = this.line;
    this.bytes += end - start + 1;
    if (
      this.records.length + this.invalid.length >= this.maxRecords ||
      this.bytes >= this.maxBytes
    ) {
      this.closeBatch();
    }
  }

  private addInvalid(reason: string, raw: string): void {
    this.invalid.push({ line: this.line, reason, raw });
    this.lastLine = this.line;
    if (this.records.length + this.invalid.length >= this.maxRecords) this.closeBatch();
  }

  private closeBatch(): void {
    if (this.records.length === 0 && this.invalid.length === 0) return;
    this.ready.push({
      source: this.source,
      records: this.records,
      bytes: this.bytes,
      invalid: this.invalid,
      firstLine: this.firstLine,
      lastLine: this.lastLine,
    });
    this.firstLine = this.lastLine + 1;
    this.records = [];
    this.invalid = [];
    this.bytes = 0;
  }
}

const EMPTY: readonly LineBatch[] = [];
const EMPTY_BUFFER = Buffer.alloc(0);

/** JSON whitespace plus \v and \f. */
function isBlank(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const b = buf[i];
    if (b !== 0x20 && b !== 0x09 && b !== CR && b !== 0x0b && b !== 0x0c) return false;
  }
  return true;
}

/** Largest n' <= n such that buf[0, n') does not end inside a UTF-8 sequence. */
function utf8Boundary(buf: Buffer, n: number): number {
  let lead = n - 1;
  while (lead > 0 && n - lead < 4 && ((buf[lead] ?? 0) & 0xc0) === 0x80) lead--;
  const b = buf[lead] ?? 0;
  const size = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
  return lead + size > n ? lead : n;
}

function cutRaw(text: string, byteLength: number): string {
  if (text.length <= RAW_KEEP) return text;
  let cut = RAW_KEEP;
  const code = text.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut--; // do not split a surrogate pair
  const kept = text.slice(0, cut);
  return `${kept}…[truncated ${byteLength - Buffer.byteLength(kept)} bytes]`;
}

function clip(text: string): string {
  return text.length <= MAX_REASON_CHARS ? text : `${text.slice(0, MAX_REASON_CHARS)}…`;
}

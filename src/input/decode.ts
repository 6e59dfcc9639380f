import { pipeline, Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { ExporterError } from "../core/errors.js";

/**
 * Turns an S3 object body into its plain bytes (SPEC.md section 3).
 *
 * Gzip is detected by the magic bytes `1f 8b` at the start of the body, never by the key or
 * Content-Encoding. Multi-member gzip (concatenated members) is decoded whole; zero padding
 * after the last member is tolerated, other trailing bytes are `corrupt_gzip`. Anything else is
 * passed through unchanged, chunk by chunk.
 *
 * Errors thrown while iterating (all ExporterError unless noted):
 * - `truncated_download` retryable: the body ended before `expectedBytes` arrived (checked for
 *   plain and gzip bodies, also when gunzip happened to succeed on what arrived).
 * - `download_failed` retryable: the body stream itself failed (socket reset, timeout).
 * - `corrupt_gzip` permanent: every expected byte arrived (or `expectedBytes` is unknown) and
 *   gunzip failed; the message gives the compressed byte offset.
 * - the abort reason, unwrapped, when `signal` is aborted.
 *
 * Returned as an async generator: the caller pulls chunks (back-pressure for free) and stops by
 * breaking out of its loop, which destroys the body so the HTTP connection is released.
 */
export interface DecodeOptions {
  /** The S3 ContentLength of the body; enables the truncated-download check. */
  readonly expectedBytes?: number;
  readonly signal?: AbortSignal;
  /** Size of decompressed chunks, 64 KiB by default: fewer, larger chunks for the line reader. */
  readonly chunkBytes?: number;
}

const GZIP_MAGIC_0 = 0x1f;
const GZIP_MAGIC_1 = 0x8b;

export async function* decodeObjectStream(
  body: AsyncIterable<Uint8Array>,
  opts: DecodeOptions = {},
): AsyncGenerator<Buffer, void, undefined> {
  const state = new SourceState(body, opts.signal);
  try {
    // Gather at least two bytes (the first chunks may be one byte long) to see the magic.
    const head: Buffer[] = [];
    let headBytes = 0;
    while (headBytes < 2) {
      const chunk = await state.next();
      if (chunk === undefined) break;
      head.push(chunk);
      headBytes += chunk.length;
    }
    const first = head.length === 1 ? head[0] : Buffer.concat(head, headBytes);
    if (first === undefined || headBytes === 0) {
      checkComplete(state.bytesIn, opts.expectedBytes);
      return;
    }
    if (first[0] === GZIP_MAGIC_0 && first[1] === GZIP_MAGIC_1) {
      yield* gunzip(first, state, opts);
    } else {
      yield first;
      for (let chunk = await state.next(); chunk !== undefined; chunk = await state.next()) {
        yield chunk;
      }
    }
    checkComplete(state.bytesIn, opts.expectedBytes);
  } finally {
    await state.close();
  }
}

async function* gunzip(
  first: Buffer,
  state: SourceState,
  opts: DecodeOptions,
): AsyncGenerator<Buffer, void, undefined> {
  const unzip = createGunzip({ chunkSize: opts.chunkBytes ?? 64 * 1024 });
  async function* compressed(): AsyncGenerator<Buffer, void, undefined> {
    yield first;
    for (let chunk = await state.next(); chunk !== undefined; chunk = await state.next()) {
      yield chunk;
    }
  }
  // Errors of either stage reach us through iterating `unzip`; the callback only has to exist.
  pipeline(Readable.from(compressed(), { objectMode: false }), unzip, () => {});
  try {
    for await (const chunk of unzip) {
      opts.signal?.throwIfAborted(); // the source may have been read ahead to its end
      yield chunk as Buffer;
    }
  } catch (err) {
    if (state.failed || isAbort(err, opts.signal)) throw err; // already classified
    throw classifyGunzipError(err, unzip.bytesWritten, state, opts.expectedBytes);
  } finally {
    unzip.destroy();
  }
}

function classifyGunzipError(
  err: unknown,
  offset: number,
  state: SourceState,
  expected: number | undefined,
): ExporterError {
  const reason = err instanceof Error ? err.message : String(err);
  if (state.ended && expected !== undefined && state.bytesIn < expected) {
    return truncated(state.bytesIn, expected, err);
  }
  const of = expected === undefined ? "" : ` of ${expected}`;
  return new ExporterError(
    "corrupt_gzip",
    "permanent",
    `gzip data is corrupt (${reason}) at compressed byte offset ${offset}` +
      ` (${state.bytesIn}${of} bytes received)`,
    { cause: err },
  );
}

function checkComplete(bytesIn: number, expected: number | undefined): void {
  if (expected !== undefined && bytesIn < expected) throw truncated(bytesIn, expected);
}

function truncated(got: number, expected: number, cause?: unknown): ExporterError {
  return new ExporterError(
    "truncated_download",
    "retryable",
    `object body ended after ${got} of ${expected} bytes (connection dropped?)`,
    cause === undefined ? undefined : { cause },
  );
}

function isAbort(err: unknown, signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true && (err === signal.reason || isAbortError(err));
}

function isAbortError(err: unknown): boolean {
  return err instanceof Error && err.name === "AbortError";
}

/** The body iterator plus what we know about it: bytes read, ended, failed. */
class SourceState {
  bytesIn = 0;
  ended = false;
  /** Set when the body stream threw: the error was already turned into `download_failed`. */
  failed = false;
  private readonly it: AsyncIterator<Uint8Array>;

  constructor(
    body: AsyncIterable<Uint8Array>,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.it = body[Symbol.asyncIterator]();
  }

  /** The next non-empty chunk as a Buffer (no copy), or undefined at the end. */
  async next(): Promise<Buffer | undefined> {
    for (;;) {
      if (this.ended) return undefined;
      this.signal?.throwIfAborted();
      let result: IteratorResult<Uint8Array>;
      try {
        result = await this.it.next();
      } catch (err) {
        this.failed = true;
        this.signal?.throwIfAborted();
        if (err instanceof ExporterError || isAbortError(err)) throw err;
        const reason = err instanceof Error ? err.message : String(err);
        throw new ExporterError(
          "download_failed",
          "retryable",
          `object body stream failed after ${this.bytesIn} bytes: ${reason}`,
          { cause: err },
        );
      }
      if (result.done) {
        this.ended = true;
        return undefined;
      }
      const v = result.value;
      if (v.length === 0) continue;
      this.bytesIn += v.length;
      return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    }
  }

  /** Releases the body when we stop early (error or consumer break). */
  async close(): Promise<void> {
    if (this.ended || this.failed) return;
    this.ended = true;
    try {
      await this.it.return?.();
    } catch {
      // Closing a failed body can throw again; the first error is the one that matters.
    }
  }
}

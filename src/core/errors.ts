/**
 * Errors carry a code and a class. `retryable`: the same work may succeed later (network,
 * throttling, 5xx). `permanent`: repeating it gives the same answer (bad body, missing object,
 * corrupt file), so it goes to the dead-letter place with its reason instead.
 */
export type ErrorKind = "retryable" | "permanent";

export class ExporterError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;

  constructor(code: string, kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ExporterError";
    this.code = code;
    this.kind = kind;
  }
}

export function isRetryable(err: unknown): boolean {
  return !(err instanceof ExporterError) || err.kind === "retryable";
}

/** A message safe to log: never the stack of a foreign error object with request details. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { Logger } from "pino";
import { backoffDelay, sleep } from "../core/backoff.js";
import { describeError } from "../core/errors.js";

interface Pending<T> {
  readonly item: T;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

/**
 * Groups single operations into SQS batch calls (up to 10 entries), waiting at most `lingerMs`
 * for company. Each caller's promise settles with its own entry's result; failed entries are
 * retried a few times, since a delete that never happens means the records come again.
 */
class Batcher<T> {
  private queue: Pending<T>[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly send: (items: T[]) => Promise<Array<{ index: number; message: string }>>,
    private readonly lingerMs: number,
  ) {}

  push(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.queue.length >= 10) this.fire();
      else this.timer ??= setTimeout(() => this.fire(), this.lingerMs);
    });
  }

  private fire(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.queue.length > 0) {
      const group = this.queue.splice(0, 10);
      void this.run(group);
    }
  }

  private async run(group: Pending<T>[]): Promise<void> {
    let todo = group;
    for (let attempt = 0; todo.length > 0; attempt++) {
      let failed: Array<{ index: number; message: string }>;
      try {
        failed = await this.send(todo.map((p) => p.item));
      } catch (err) {
        failed = todo.map((_, index) => ({ index, message: describeError(err) }));
      }
      const failedIdx = new Set(failed.map((f) => f.index));
      todo.forEach((p, i) => {
        if (!failedIdx.has(i)) p.resolve();
      });
      const retry = todo.filter((_, i) => failedIdx.has(i));
      if (retry.length === 0) return;
      if (attempt >= 4) {
        const why = failed[0]?.message ?? "unknown error";
        for (const p of retry) p.reject(new Error(why));
        return;
      }
      todo = retry;
      await sleep(backoffDelay(attempt, { baseMs: 200, maxMs: 5_000 }));
    }
  }
}

/** Deletes and visibility changes for one queue, batched. */
export class SqsMessageOps {
  private readonly deletes: Batcher<string>;
  private readonly visibility: Batcher<{ handle: string; seconds: number }>;

  constructor(
    sqs: SQSClient,
    queueUrl: string,
    private readonly logger: Logger,
    lingerMs = 20,
  ) {
    this.deletes = new Batcher(async (handles) => {
      const res = await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: handles.map((h, i) => ({ Id: String(i), ReceiptHandle: h })),
        }),
      );
      return (res.Failed ?? []).map((f) => ({
        index: Number(f.Id),
        message: `${f.Code}: ${f.Message}`,
      }));
    }, lingerMs);
    this.visibility = new Batcher(async (items) => {
      const res = await sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: queueUrl,
          Entries: items.map((it, i) => ({
            Id: String(i),
            ReceiptHandle: it.handle,
            VisibilityTimeout: it.seconds,
          })),
        }),
      );
      return (res.Failed ?? []).map((f) => ({
        index: Number(f.Id),
        message: `${f.Code}: ${f.Message}`,
      }));
    }, lingerMs);
  }

  delete(handle: string): Promise<void> {
    return this.deletes.push(handle);
  }

  changeVisibility(handle: string, seconds: number): Promise<void> {
    return this.visibility.push({ handle, seconds });
  }

  /** Visibility changes that fail are logged, not thrown: the queue's own timeout is the fallback. */
  async changeVisibilityQuietly(handle: string, seconds: number, messageId: string): Promise<void> {
    try {
      await this.changeVisibility(handle, seconds);
    } catch (err) {
      this.logger.warn(
        { message_id: messageId },
        `could not change the visibility of SQS message ${messageId}: ${describeError(err)}; it comes back when its visibility timeout ends`,
      );
    }
  }
}

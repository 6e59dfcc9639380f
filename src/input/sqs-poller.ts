import { type Message, ReceiveMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { Logger } from "pino";
import { backoffDelay, sleep } from "../core/backoff.js";
import { describeError } from "../core/errors.js";
import type { MessageHandler, ReceivedMessage } from "../core/message-handler.js";
import type { Metrics } from "../telemetry/metrics.js";
import { SqsMessageOps } from "./sqs-batcher.js";

export interface SqsPollerOptions {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  readonly handler: MessageHandler;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Messages whose files are being read at once; receiving pauses while this many are. */
  readonly maxReading: number;
  /**
   * Messages held at once, read or waiting for their outputs (an object output keeps records
   * until its object fills or its flush interval ends); receiving pauses at this many too.
   */
  readonly maxInFlight: number;
  readonly visibilityTimeoutSeconds: number;
  readonly waitTimeSeconds: number;
}

interface InFlight {
  readonly id: string;
  readonly handle: string;
}

/**
 * The receive loop. Long-polls for up to 10 messages while fewer than `maxReading` are being read
 * (and fewer than `maxInFlight` are held in all), and while fewer than `maxInFlight` are being
 * processed, hands each to the handler without waiting for it (no head-of-line blocking), and
 * keeps every in-flight message invisible with a heartbeat every visibility/2 until its handler
 * is done, however long that takes.
 */
export class SqsPoller {
  private readonly ops: SqsMessageOps;
  private readonly inFlight = new Map<string, InFlight>();
  private slotFreed: (() => void) | undefined;
  private reading = 0;

  constructor(private readonly opts: SqsPollerOptions) {
    this.ops = new SqsMessageOps(opts.sqs, opts.queueUrl, opts.logger);
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /**
   * Receives until `stop` aborts, then waits for the in-flight messages. `work` aborting tells
   * their handlers to give up; they release their messages, and `run` still waits for that.
   */
  async run(stop: AbortSignal, work: AbortSignal): Promise<void> {
    const { logger } = this.opts;
    const heartbeat = setInterval(
      () => void this.heartbeat(),
      (this.opts.visibilityTimeoutSeconds * 1000) / 2,
    );
    // Not unref'd on purpose: while messages wait on timers alone (an object output's flush
    // interval), this interval is what keeps the process alive until `run` returns.
    try {
      for (let failures = 0; !stop.aborted; ) {
        await this.waitForSlot(stop);
        if (stop.aborted) break;
        let messages: Message[];
        try {
          // Not aborted by `stop`: a receive cut off mid-way may still hand messages out on the
          // server, and they would stay invisible for the whole visibility timeout. It ends
          // within wait_time_seconds; what it brings after a stop is handed back at once.
          messages = await this.receive(work);
          failures = 0;
        } catch (err) {
          if (stop.aborted) break;
          const delay = backoffDelay(failures++, { baseMs: 500, maxMs: 30_000 });
          this.opts.metrics.errors.inc({ error_type: "sqs_receive_failed", stage: "receiving" });
          logger.warn(
            { retry_in_ms: delay },
            `receiving from SQS failed: ${describeError(err)}; retrying`,
          );
          await sleep(delay, stop).catch(() => undefined);
          continue;
        }
        if (stop.aborted) {
          await this.handBack(messages);
          break;
        }
        for (const m of messages) this.start(m, work);
        // Short polling (wait_time_seconds 0) on an empty queue would otherwise spin.
        if (messages.length === 0 && this.opts.waitTimeSeconds === 0) {
          await sleep(1000, stop).catch(() => undefined);
        }
      }
    } finally {
      while (this.inFlight.size > 0) await new Promise<void>((r) => this.onSlotFreed(r));
      clearInterval(heartbeat);
    }
  }

  /** Makes messages received after a stop visible again at once, unprocessed. */
  private async handBack(messages: Message[]): Promise<void> {
    await Promise.all(
      messages.map((m) =>
        m.ReceiptHandle
          ? this.ops.changeVisibilityQuietly(m.ReceiptHandle, 0, m.MessageId ?? "unknown")
          : undefined,
      ),
    );
  }

  private async receive(signal: AbortSignal): Promise<Message[]> {
    const room = Math.min(
      this.opts.maxReading - this.reading,
      this.opts.maxInFlight - this.inFlight.size,
    );
    const res = await this.opts.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: this.opts.queueUrl,
        MaxNumberOfMessages: Math.max(1, Math.min(10, room)),
        WaitTimeSeconds: this.opts.waitTimeSeconds,
        VisibilityTimeout: this.opts.visibilityTimeoutSeconds,
        MessageSystemAttributeNames: ["ApproximateReceiveCount"],
      }),
      { abortSignal: signal },
    );
    return res.Messages ?? [];
  }

  private start(m: Message, work: AbortSignal): void {
    const { metrics, logger } = this.opts;
    const handle = m.ReceiptHandle;
    const id = m.MessageId ?? "unknown";
    if (!handle) return;
    metrics.messagesReceived.inc();
    metrics.inFlightMessages.inc();
    this.inFlight.set(handle, { id, handle });
    const msg: ReceivedMessage = {
      id,
      body: m.Body ?? "",
      receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? "1") || 1,
    };
    const control = {
      delete: () => this.ops.delete(handle),
      release: (seconds: number) => this.ops.changeVisibilityQuietly(handle, seconds, id),
    };
    this.reading++;
    let read = false;
    const readComplete = () => {
      if (read) return;
      read = true;
      this.reading--;
      this.wake();
    };
    this.opts.handler
      .handle(msg, control, work, readComplete)
      .catch(async (err: unknown) => {
        // The handler settles every expected case itself; this is the unexpected (a failing
        // dead-letter disk, a delete that failed five times). The message comes back later.
        metrics.errors.inc({ error_type: "message_failed", stage: "processing" });
        logger.error(
          { message_id: id },
          `SQS message ${id} could not be completed: ${describeError(err)}; it will be delivered again`,
        );
        await this.ops.changeVisibilityQuietly(handle, 30, id);
      })
      .finally(() => {
        readComplete();
        this.inFlight.delete(handle);
        metrics.inFlightMessages.dec();
        this.wake();
      });
  }

  /** Wakes whoever waits for a free slot (the receive loop, or `run` draining). */
  private wake(): void {
    const freed = this.slotFreed;
    this.slotFreed = undefined;
    freed?.();
  }

  private onSlotFreed(resolve: () => void): void {
    const previous = this.slotFreed;
    this.slotFreed = () => {
      previous?.();
      resolve();
    };
  }

  private async waitForSlot(stop: AbortSignal): Promise<void> {
    while (
      (this.reading >= this.opts.maxReading || this.inFlight.size >= this.opts.maxInFlight) &&
      !stop.aborted
    ) {
      await new Promise<void>((resolve) => {
        const onAbort = () => resolve();
        stop.addEventListener("abort", onAbort, { once: true });
        this.onSlotFreed(() => {
          stop.removeEventListener("abort", onAbort);
          resolve();
        });
      });
    }
  }

  private async heartbeat(): Promise<void> {
    const seconds = this.opts.visibilityTimeoutSeconds;
    await Promise.all(
      [...this.inFlight.values()].map((m) =>
        this.ops.changeVisibilityQuietly(m.handle, seconds, m.id),
      ),
    );
  }
}

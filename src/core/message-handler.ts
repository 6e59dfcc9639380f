import type { Logger } from "pino";
import { parseNotification } from "../input/notification.js";
import type { Metrics } from "../telemetry/metrics.js";
import type { Budget } from "./budget.js";
import { describeError, ExporterError } from "./errors.js";
import type { FileOutcome, FileProcessor } from "./file-processor.js";
import type { DeadLetterSink } from "./types.js";

/** A queue message as the handler sees it; the queue itself stays behind `MessageControl`. */
export interface ReceivedMessage {
  readonly id: string;
  readonly body: string;
  /** How many times the queue has handed this message out, this time included. */
  readonly receiveCount: number;
}

/** What the handler may do with the message in the queue. */
export interface MessageControl {
  /** Removes the message for good: only once all of its work is durable or dead-lettered. */
  delete(): Promise<void>;
  /** Makes the message visible again after `seconds` (0: at once). */
  release(seconds: number): Promise<void>;
}

export type MessageOutcome =
  | "deleted"
  | "test_event"
  | "dead_lettered"
  | "retry_later"
  | "left_to_queue"
  | "released";

export interface MessageHandlerOptions {
  readonly files: FileProcessor;
  /** Files read at once across all messages. */
  readonly fileSlots: Budget;
  readonly deadLetter: DeadLetterSink;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** After this many receives, a message that still fails is dead-lettered (or left). */
  readonly maxReceives: number;
  readonly onMaxReceives: "dead_letter" | "leave_in_queue";
  /** Upper bound of the delay before a failed message comes back. */
  readonly maxRetryDelaySeconds: number;
}

/**
 * Decides the fate of one message: N files x M outputs must all be durable before the delete.
 * A file that can never be read (missing, corrupt) is dead-lettered and does not hold back the
 * others; a transient failure brings the whole message back later, with a growing delay, and
 * after `maxReceives` receives the message goes to the local dead letter with its reason.
 */
export class MessageHandler {
  constructor(private readonly opts: MessageHandlerOptions) {}

  /**
   * `onReadComplete` is called once every file of the message has been read (or at once when
   * there is nothing to read); the message may still wait for its outputs after that.
   */
  async handle(
    msg: ReceivedMessage,
    control: MessageControl,
    signal: AbortSignal,
    onReadComplete?: () => void,
  ) {
    let outcome: Awaited<ReturnType<MessageHandler["decide"]>>;
    try {
      outcome = await this.decide(msg, signal, onReadComplete);
    } finally {
      onReadComplete?.();
    }
    switch (outcome.action) {
      case "delete":
        await control.delete();
        this.opts.metrics.messagesDeleted.inc();
        return outcome.result;
      case "release":
        await control.release(0);
        this.opts.metrics.messagesReleased.inc({ reason: "shutdown" });
        return "released" as const;
      case "retry":
        return this.retry(msg, control, outcome.reason);
    }
  }

  private async decide(
    msg: ReceivedMessage,
    signal: AbortSignal,
    onReadComplete?: () => void,
  ): Promise<
    | { action: "delete"; result: MessageOutcome }
    | { action: "release" }
    | { action: "retry"; reason: string }
  > {
    const { logger, metrics } = this.opts;
    const log = logger.child({ message_id: msg.id });
    let parsed: ReturnType<typeof parseNotification>;
    try {
      parsed = parseNotification(msg.body);
    } catch (err) {
      const code = err instanceof ExporterError ? err.code : "bad_notification";
      metrics.errors.inc({ error_type: code, stage: "receiving" });
      await this.deadLetterMessage(msg, `${code}: ${describeError(err)}`);
      metrics.messagesDeadLettered.inc();
      log.error(
        { error_type: code },
        `SQS message ${msg.id} is not an S3 notification: ${describeError(err)}; written to the dead-letter directory and deleted`,
      );
      return { action: "delete", result: "dead_lettered" };
    }
    if (parsed.kind === "test_event") {
      metrics.testEvents.inc();
      log.info("S3 test event acknowledged and deleted");
      return { action: "delete", result: "test_event" };
    }
    for (const ignored of parsed.ignored) {
      log.info({ event_name: ignored.eventName }, `S3 event record skipped: ${ignored.reason}`);
    }
    let unread = parsed.objects.length;
    const fileRead = () => {
      if (--unread === 0) onReadComplete?.();
    };
    const outcomes = await Promise.all(
      parsed.objects.map((obj) =>
        this.processFile({ bucket: obj.bucket, key: obj.key }, msg.id, signal, fileRead),
      ),
    );
    if (signal.aborted || outcomes.some((o) => o.status === "aborted"))
      return { action: "release" };
    const retry = outcomes.find((o) => o.status === "retry");
    if (retry && retry.status === "retry")
      return { action: "retry", reason: describeError(retry.error) };
    return { action: "delete", result: "deleted" };
  }

  /** A file holds a read slot while it is read, not while its records wait for outputs. */
  private async processFile(
    ref: { bucket: string; key: string },
    messageId: string,
    signal: AbortSignal,
    onRead: () => void,
  ): Promise<FileOutcome> {
    try {
      await this.opts.fileSlots.acquire(1, signal);
    } catch {
      onRead();
      return { status: "aborted" };
    }
    this.opts.metrics.inFlightFiles.inc();
    let reading = true;
    const readDone = () => {
      if (!reading) return;
      reading = false;
      this.opts.metrics.inFlightFiles.dec();
      this.opts.fileSlots.release(1);
      onRead();
    };
    try {
      return await this.opts.files.process(ref, messageId, signal, readDone);
    } finally {
      readDone();
    }
  }

  private async retry(msg: ReceivedMessage, control: MessageControl, reason: string) {
    const { logger, metrics } = this.opts;
    if (msg.receiveCount >= this.opts.maxReceives) {
      if (this.opts.onMaxReceives === "leave_in_queue") {
        logger.error(
          { message_id: msg.id, receive_count: msg.receiveCount },
          `SQS message ${msg.id} failed ${msg.receiveCount} times (${reason}); left to the queue's redrive policy`,
        );
        await control.release(this.opts.maxRetryDelaySeconds);
        metrics.messagesReleased.inc({ reason: "max_receives" });
        return "left_to_queue" as const;
      }
      await this.deadLetterMessage(msg, `failed ${msg.receiveCount} times, last: ${reason}`);
      await control.delete();
      metrics.messagesDeadLettered.inc();
      logger.error(
        { message_id: msg.id, receive_count: msg.receiveCount },
        `SQS message ${msg.id} failed ${msg.receiveCount} times (${reason}); written to the dead-letter directory and deleted`,
      );
      return "dead_lettered" as const;
    }
    const delay = Math.min(this.opts.maxRetryDelaySeconds, 5 * 2 ** (msg.receiveCount - 1));
    await control.release(delay);
    metrics.messagesReleased.inc({ reason: "retry" });
    logger.warn(
      { message_id: msg.id, receive_count: msg.receiveCount, retry_in_s: delay },
      `SQS message ${msg.id} will be retried in ${delay} s (receive ${msg.receiveCount} of ${this.opts.maxReceives}): ${reason}`,
    );
    return "retry_later" as const;
  }

  private async deadLetterMessage(msg: ReceivedMessage, reason: string): Promise<void> {
    await this.opts.deadLetter.write({
      kind: "failed_message",
      messageId: msg.id,
      receiveCount: msg.receiveCount,
      reason,
      body: msg.body,
    });
  }
}

import type { Logger } from "pino";
import { ExporterError } from "../../core/errors.js";
import type { Output, OutputContext, RecordBatch } from "../../core/types.js";
import { toPubSubError } from "./errors.js";
import {
  ATTRIBUTE_FIELDS,
  encodeRecords,
  MAX_MESSAGE_BYTES,
  messageSize,
  type OutgoingMessage,
} from "./messages.js";
import type { TopicPublisher } from "./publisher.js";

export interface PubSubOutputSettings {
  readonly id: string;
  readonly compression: "none" | "gzip";
}

/**
 * The `google_cloud_pubsub` output: one message per record, published through the client's
 * batching (up to 1000 messages or 9 MiB per request). `write` resolves when Pub/Sub has
 * acknowledged every message of the batch. When some fail, it rejects, and remembers which
 * records were acknowledged: the pipeline retries the same batch object, and the retry
 * publishes only the others (fewer duplicates; a redelivered SQS message still republishes all).
 * A record too large for one message goes to the dead letter and counts as handled.
 */
export class PubSubOutput implements Output {
  /** Message attributes are read from the record (see messages.ts). */
  readonly recordFields = ATTRIBUTE_FIELDS;
  readonly type = "google_cloud_pubsub";
  readonly id: string;
  /** Per batch being written or retried: 1 for each record acknowledged (or dead-lettered). */
  private readonly handled = new WeakMap<RecordBatch, Uint8Array>();
  private readonly logger: Logger;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly publisher: TopicPublisher,
    private readonly settings: PubSubOutputSettings,
    private readonly ctx: OutputContext,
  ) {
    this.id = settings.id;
    this.logger = ctx.logger.child({ output: settings.id });
  }

  async healthcheck(signal?: AbortSignal): Promise<void> {
    await this.publisher.check(signal);
  }

  async write(batch: RecordBatch): Promise<void> {
    if (this.closing !== undefined) {
      throw new ExporterError("output_closed", "permanent", `output ${this.id} is closed`);
    }
    const { records } = batch;
    let handled = this.handled.get(batch);
    if (!handled) {
      handled = new Uint8Array(records.length);
      this.handled.set(batch, handled);
    }
    const todo: number[] = [];
    for (let i = 0; i < records.length; i++) if (handled[i] === 0) todo.push(i);
    if (todo.length === 0) return;

    const messages = await encodeRecords(
      todo.map((i) => records[i] as (typeof records)[number]),
      batch.source,
      this.settings.compression,
    );
    // Every publish starts here, in record order, before any is awaited: the client batches them.
    const outcomes = await Promise.allSettled(
      messages.map((message, j) => this.send(batch, todo[j] as number, message, handled)),
    );
    const failed = outcomes.flatMap((o) => (o.status === "rejected" ? [o.reason] : []));
    if (failed.length === 0) {
      this.handled.delete(batch);
      return;
    }
    const errors = failed.map((reason) => toPubSubError(reason, this.publisher.topicLabel));
    const first = errors.find((e) => e.kind === "permanent") ?? (errors[0] as ExporterError);
    const others =
      failed.length < todo.length ? " (the others were, and are not published again)" : "";
    throw new ExporterError(
      first.code,
      first.kind,
      `${failed.length} of ${todo.length} records were not acknowledged by Pub/Sub${others}: ${first.message}`,
      { cause: first },
    );
  }

  async flush(): Promise<void> {
    await this.publisher.flush();
  }

  close(): Promise<void> {
    this.closing ??= this.publisher.close();
    return this.closing;
  }

  /** Publishes one record's message, or dead-letters it when no message can hold it. */
  private async send(
    batch: RecordBatch,
    index: number,
    message: OutgoingMessage,
    handled: Uint8Array,
  ): Promise<void> {
    const size = messageSize(message);
    if (size > MAX_MESSAGE_BYTES) {
      await this.reject(batch, index, size);
    } else {
      await this.publisher.publish(message);
    }
    handled[index] = 1;
  }

  private async reject(batch: RecordBatch, index: number, size: number): Promise<void> {
    const record = batch.records[index];
    if (!record) return;
    const gzip = this.settings.compression === "gzip" ? " (gzip-compressed)" : "";
    const reason = `the record makes a Pub/Sub message of ${size} bytes${gzip}, over the ${MAX_MESSAGE_BYTES} bytes one message may hold`;
    await this.ctx.deadLetter.write({
      kind: "rejected_record",
      source: batch.source,
      output: this.id,
      reason,
      raw: record.raw,
    });
    this.logger.warn(
      { bucket: batch.source.bucket, object: batch.source.key, bytes: size },
      `record too large for Pub/Sub: ${reason}; kept in the dead letter (rejected-records)`,
    );
  }
}

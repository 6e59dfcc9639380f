import type { Logger } from "pino";
import { describeError } from "./errors.js";
import type { DeadLetterSink, Output } from "./types.js";

/** The part of the input the lifecycle drives (see input/sqs-poller.ts). */
export interface Receiver {
  /** Receives until `stop` aborts, then resolves once in-flight work has settled. */
  run(stop: AbortSignal, work: AbortSignal): Promise<void>;
  readonly inFlightCount: number;
}

export type ExporterState = "created" | "running" | "draining" | "stopped";

export interface ExporterOptions {
  readonly receiver: Receiver;
  readonly outputs: readonly Output[];
  readonly deadLetter: DeadLetterSink;
  readonly logger: Logger;
  /** How long in-flight work may go on after a stop before it is released to the queue. */
  readonly graceMs: number;
  /** Called once after the outputs closed: releases what the pipeline's stages hold. */
  readonly onStopped?: () => void;
}

/**
 * The lifecycle as an explicit state machine: created -> running -> draining -> stopped.
 * `stop()` stops receiving (the poll in progress ends, what it brings goes back to the queue); in-flight messages get `graceMs` to finish (outputs are
 * flushed every second meanwhile so buffered writes resolve); what is still running then is
 * aborted and its messages are made visible again at once. A second `stop()` skips the grace.
 * Finally every output is flushed and closed, then the dead letter.
 */
export class Exporter {
  private state: ExporterState = "created";
  private readonly stopCtl = new AbortController();
  private readonly workCtl = new AbortController();
  private graceTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: ExporterOptions) {}

  get currentState(): ExporterState {
    return this.state;
  }

  async run(): Promise<void> {
    if (this.state !== "created") throw new Error(`exporter already ${this.state}`);
    this.state = "running";
    const { logger } = this.opts;
    logger.info({ outputs: this.opts.outputs.map((o) => o.id) }, "exporter running");
    let flusher: NodeJS.Timeout | undefined;
    this.stopCtl.signal.addEventListener(
      "abort",
      () => {
        flusher = setInterval(() => void this.flushAll("drain"), 1000);
      },
      { once: true },
    );
    try {
      await this.opts.receiver.run(this.stopCtl.signal, this.workCtl.signal);
    } finally {
      clearInterval(flusher);
      clearTimeout(this.graceTimer);
      this.state = "draining";
      await this.closeAll();
      this.opts.onStopped?.();
      this.state = "stopped";
      logger.info("exporter stopped");
    }
  }

  stop(reason = "stop requested"): void {
    const { logger } = this.opts;
    if (this.stopCtl.signal.aborted) {
      logger.warn(`${reason} again: releasing in-flight messages now`);
      this.workCtl.abort(new Error("shutdown"));
      return;
    }
    if (this.state === "running") this.state = "draining";
    logger.info(
      { in_flight: this.opts.receiver.inFlightCount, grace_ms: this.opts.graceMs },
      `${reason}: no new messages; finishing in-flight work`,
    );
    this.stopCtl.abort(new Error("shutdown"));
    this.graceTimer = setTimeout(() => {
      if (this.opts.receiver.inFlightCount > 0) {
        logger.warn(
          { in_flight: this.opts.receiver.inFlightCount },
          "grace time over: releasing unfinished messages to the queue",
        );
      }
      this.workCtl.abort(new Error("shutdown"));
    }, this.opts.graceMs);
    this.graceTimer.unref();
  }

  private async flushAll(why: string): Promise<void> {
    await Promise.all(
      this.opts.outputs.map((o) =>
        o.flush().catch((err: unknown) => {
          this.opts.logger.warn({ output: o.id }, `flush (${why}) failed: ${describeError(err)}`);
        }),
      ),
    );
  }

  private async closeAll(): Promise<void> {
    for (const o of this.opts.outputs) {
      try {
        await o.close();
      } catch (err) {
        this.opts.logger.error(
          { output: o.id },
          `closing output ${o.id} failed: ${describeError(err)}`,
        );
      }
    }
    try {
      await this.opts.deadLetter.close();
    } catch (err) {
      this.opts.logger.error(`closing the dead-letter directory failed: ${describeError(err)}`);
    }
  }
}

import { describe, expect, it } from "vitest";
import { Budget } from "../../src/core/budget.js";
import { ExporterError } from "../../src/core/errors.js";
import { FileProcessor } from "../../src/core/file-processor.js";
import { MessageHandler } from "../../src/core/message-handler.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { Metrics } from "../../src/telemetry/metrics.js";
import { compileFilter } from "../../src/transforms/filter.js";
import {
  MemoryDeadLetter,
  MemoryOutput,
  MemorySource,
  RecordingControl,
  s3EventBody,
} from "../helpers/fakes.js";

function setup(
  opts: { maxReceives?: number; onMaxReceives?: "dead_letter" | "leave_in_queue" } = {},
) {
  const source = new MemorySource();
  const all = new MemoryOutput("file[0]");
  const starts = new MemoryOutput("file[1]");
  const deadLetter = new MemoryDeadLetter();
  const metrics = new Metrics();
  const logger = silentLogger();
  const files = new FileProcessor({
    source,
    routes: [
      { output: all, filter: null },
      { output: starts, filter: compileFilter({ event_type_cd: ["process_start"] }) },
    ],
    deadLetter,
    metrics,
    logger,
    bytesInFlight: new Budget(1024 * 1024),
    batchRecords: 7,
  });
  const handler = new MessageHandler({
    files,
    fileSlots: new Budget(2),
    deadLetter,
    metrics,
    logger,
    maxReceives: opts.maxReceives ?? 3,
    onMaxReceives: opts.onMaxReceives ?? "dead_letter",
    maxRetryDelaySeconds: 60,
  });
  return { source, all, starts, deadLetter, handler, metrics };
}

const types = ["process_start", "network_connection", "file_creation"];
function lines(n: number, tag: string): string[] {
  return Array.from({ length: n }, (_, i) =>
    JSON.stringify({ event_type_cd: types[i % 3], sensor_id: i, tag }),
  );
}

describe("MessageHandler", () => {
  it("delivers every record of every file to the outputs that want it, then deletes", async () => {
    const { source, all, starts, handler, deadLetter } = setup();
    const a = lines(50, "a");
    const b = lines(31, "b");
    source.put("bkt", "x/a.json.gz", a);
    source.put("bkt", "x/b c.json", b, { gzip: false });
    const control = new RecordingControl();

    const outcome = await handler.handle(
      { id: "m1", body: s3EventBody("bkt", ["x/a.json.gz", "x/b c.json"]), receiveCount: 1 },
      control,
      new AbortController().signal,
    );

    expect(outcome).toBe("deleted");
    expect(control.deleted).toBe(1);
    expect(all.lines.sort()).toEqual([...a, ...b].sort());
    expect(starts.lines.sort()).toEqual(
      [...a, ...b].filter((l) => l.includes('"process_start"')).sort(),
    );
    expect(deadLetter.entries).toEqual([]);
  });

  it("retries a failing output on its own without writing the other output twice", async () => {
    const { source, all, starts, handler } = setup();
    source.put("bkt", "k", lines(9, "r"));
    starts.failNext = 2;
    const control = new RecordingControl();

    await handler.handle(
      { id: "m2", body: s3EventBody("bkt", ["k"]), receiveCount: 1 },
      control,
      new AbortController().signal,
    );

    expect(control.deleted).toBe(1);
    expect(all.lines).toHaveLength(9);
    expect(starts.lines).toHaveLength(3);
    expect(all.writes).toBe(2);
  });

  it("dead-letters a body that is not a notification and deletes it", async () => {
    const { handler, deadLetter } = setup();
    const control = new RecordingControl();
    const outcome = await handler.handle(
      { id: "m3", body: "not json at all", receiveCount: 1 },
      control,
      new AbortController().signal,
    );
    expect(outcome).toBe("dead_lettered");
    expect(control.deleted).toBe(1);
    expect(deadLetter.entries[0]).toMatchObject({
      kind: "failed_message",
      messageId: "m3",
      body: "not json at all",
    });
  });

  it("records a missing object in the dead letter and still delivers the other file", async () => {
    const { source, all, handler, deadLetter } = setup();
    source.put("bkt", "present", lines(4, "p"));
    const control = new RecordingControl();
    const outcome = await handler.handle(
      { id: "m4", body: s3EventBody("bkt", ["missing", "present"]), receiveCount: 1 },
      control,
      new AbortController().signal,
    );
    expect(outcome).toBe("deleted");
    expect(all.lines).toHaveLength(4);
    expect(deadLetter.entries).toEqual([
      expect.objectContaining({ kind: "failed_file", source: { bucket: "bkt", key: "missing" } }),
    ]);
  });

  it("keeps invalid lines in the dead letter with their line numbers", async () => {
    const { source, all, handler, deadLetter } = setup();
    source.put("bkt", "k", ['{"a":1}', "{broken", '{"a":2}', "[1,2]"]);
    await handler.handle(
      { id: "m5", body: s3EventBody("bkt", ["k"]), receiveCount: 1 },
      new RecordingControl(),
      new AbortController().signal,
    );
    expect(all.lines).toEqual(['{"a":1}', '{"a":2}']);
    expect(deadLetter.entries.map((e) => (e.kind === "invalid_record" ? e.line : -1))).toEqual([
      2, 4,
    ]);
  });

  it("brings a transiently failing message back later, then dead-letters it at max receives", async () => {
    const { source, handler, deadLetter } = setup({ maxReceives: 2 });
    source.objects.set("bkt/k", new ExporterError("access_denied", "retryable", "access denied"));
    const first = new RecordingControl();
    expect(
      await handler.handle(
        { id: "m6", body: s3EventBody("bkt", ["k"]), receiveCount: 1 },
        first,
        new AbortController().signal,
      ),
    ).toBe("retry_later");
    expect(first.deleted).toBe(0);
    expect(first.releases).toEqual([5]);

    const second = new RecordingControl();
    expect(
      await handler.handle(
        { id: "m6", body: s3EventBody("bkt", ["k"]), receiveCount: 2 },
        second,
        new AbortController().signal,
      ),
    ).toBe("dead_lettered");
    expect(second.deleted).toBe(1);
    expect(deadLetter.entries[0]).toMatchObject({ kind: "failed_message", receiveCount: 2 });
  });

  it("leaves the message to the queue's redrive policy when asked to", async () => {
    const { source, handler, deadLetter } = setup({
      maxReceives: 1,
      onMaxReceives: "leave_in_queue",
    });
    source.objects.set("bkt/k", new ExporterError("access_denied", "retryable", "access denied"));
    const control = new RecordingControl();
    expect(
      await handler.handle(
        { id: "m7", body: s3EventBody("bkt", ["k"]), receiveCount: 1 },
        control,
        new AbortController().signal,
      ),
    ).toBe("left_to_queue");
    expect(control.deleted).toBe(0);
    expect(deadLetter.entries).toEqual([]);
  });

  it("acknowledges S3 test events and skips non-ObjectCreated records", async () => {
    const { handler, metrics } = setup();
    const control = new RecordingControl();
    const body = JSON.stringify({ Service: "Amazon S3", Event: "s3:TestEvent", Bucket: "bkt" });
    expect(
      await handler.handle(
        { id: "m8", body, receiveCount: 1 },
        control,
        new AbortController().signal,
      ),
    ).toBe("test_event");
    expect(control.deleted).toBe(1);
    expect((await metrics.testEvents.get()).values[0]?.value).toBe(1);
  });

  it("releases the message at once when shutdown aborts an output that keeps failing", async () => {
    const { source, all, handler } = setup();
    source.put("bkt", "k", lines(3, "s"));
    all.failNext = 1_000_000;
    const control = new RecordingControl();
    const ctl = new AbortController();
    const done = handler.handle(
      { id: "m9", body: s3EventBody("bkt", ["k"]), receiveCount: 1 },
      control,
      ctl.signal,
    );
    while (all.writes < 2) await new Promise((r) => setTimeout(r, 5));
    ctl.abort(new Error("shutdown"));
    expect(await done).toBe("released");
    expect(control.deleted).toBe(0);
    expect(control.releases).toEqual([0]);
  });

  it("says when a message's files are read, before its outputs are done with them", async () => {
    const { source, all, handler } = setup();
    source.put("bkt", "k1", lines(5, "a"));
    source.put("bkt", "k2", lines(5, "b"));
    let open = () => {};
    const gate = new Promise<void>((r) => {
      open = r;
    });
    const write = all.write.bind(all);
    all.write = async (batch) => {
      await gate;
      return write(batch);
    };
    let readCalls = 0;
    const control = new RecordingControl();
    const done = handler.handle(
      { id: "m10", body: s3EventBody("bkt", ["k1", "k2"]), receiveCount: 1 },
      control,
      new AbortController().signal,
      () => readCalls++,
    );
    while (readCalls === 0) await new Promise((r) => setTimeout(r, 5));
    expect(control.deleted).toBe(0);
    open();
    expect(await done).toBe("deleted");
    expect(all.lines).toHaveLength(10);
  });
});

import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { PublishCommand } from "@aws-sdk/client-sns";
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { s3EventFor, s3TestEvent, simulate } from "../../src/local/simulator.js";
import { type LocalStack, startLocalStack } from "../../src/local/stack.js";
import { compileFilter } from "../../src/transforms/filter.js";
import {
  readDeadLetters,
  readJsonLines,
  runUntilDrained,
  simTarget,
  simulatedLines,
  sorted,
  testConfig,
} from "../helpers/harness.js";

let stack: LocalStack;
let work: string;

beforeAll(async () => {
  stack = await startLocalStack({ port: 0 });
  work = await mkdtemp(join(tmpdir(), "ce-pipeline-"));
});

afterAll(async () => {
  await stack?.stop();
  await rm(work, { recursive: true, force: true });
});

function config(stream: string, dir: string, outputs: string, extra = ""): string {
  return testConfig({ stream, dir, outputs, maxReceives: 1, extra });
}

/** An S3 event put straight into a queue, as S3 -> SQS without SNS would deliver it. */
async function sendRawEvent(stream: string, keys: string[]) {
  await stack.sqs.send(
    new SendMessageCommand({
      QueueUrl: stack.queueUrl(stream),
      MessageBody: JSON.stringify(
        s3EventFor(
          stack.bucket,
          keys.map((key) => ({ key, size: 1 })),
          stack.region,
        ),
      ),
    }),
  );
}

async function publish(stream: string, keys: string[]) {
  await stack.sns.send(
    new PublishCommand({
      TopicArn: stack.topicArn(stream),
      Subject: "Amazon S3 Notification",
      Message: JSON.stringify(
        s3EventFor(
          stack.bucket,
          keys.map((key) => ({ key, size: 1 })),
          stack.region,
        ),
      ),
    }),
  );
}

describe("exporter end to end against the local SQS/SNS/S3", () => {
  it("delivers every record of every file to exactly the outputs that want it", async () => {
    const dir = join(work, "e2e");
    const sim = await simulate({
      target: simTarget(stack, "standardized"),
      format: "standardized",
      files: 6,
      recordsPerFile: 700,
      seed: 7,
      filesPerNotification: 2,
    });
    await runUntilDrained(
      stack,
      "standardized",
      config(
        "standardized",
        dir,
        `  - file:
      directory: ${join(dir, "all")}
      max_size_bytes: 10000000
  - file:
      directory: ${join(dir, "starts")}
      max_size_bytes: 10000000
      export_only_where:
        event_type_cd: [process_start, network_connection]
        sensor_id: ["529", 530, 531, 532, 533, 534, 535, 536, 537, 538, 539, 540]`,
      ),
    );
    const expected = await simulatedLines(stack, sim.files);
    expect(expected.length).toBe(4200);
    const keep = compileFilter({
      event_type_cd: ["process_start", "network_connection"],
      sensor_id: ["529", 530, 531, 532, 533, 534, 535, 536, 537, 538, 539, 540],
    });
    const expectedStarts = expected.filter((l) => keep?.(JSON.parse(l)));
    expect(expectedStarts.length).toBeGreaterThan(0);
    expect(sorted(await readJsonLines(join(dir, "all")))).toEqual(sorted(expected));
    expect(sorted(await readJsonLines(join(dir, "starts")))).toEqual(sorted(expectedStarts));
    expect(await readDeadLetters(join(dir, "dead-letter"))).toEqual([]);
  });

  it("reads plain and gzip (multi-member) files, CRLF, a last line without newline, URL-encoded keys", async () => {
    const dir = join(work, "formats");
    const crlf =
      '{"event_type_cd":"process_start","n":1}\r\n{"event_type_cd":"binary","n":2,"s":"ünïcødé ✓"}\r\n{"n":3}';
    const member1 = gzipSync(Buffer.from('{"n":"m1"}\n{"n":"m2"}\n'));
    const member2 = gzipSync(Buffer.from('{"n":"m3"}\n'));
    const keys = ["plain dir/crlf file=1.json", "gz/multi member+€.json.gz"];
    await stack.s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: keys[0], Body: crlf }));
    await stack.s3.send(
      new PutObjectCommand({
        Bucket: stack.bucket,
        Key: keys[1],
        Body: Buffer.concat([member1, member2]),
      }),
    );
    await publish("native", keys);
    await runUntilDrained(
      stack,
      "native",
      config(
        "native",
        dir,
        `  - file:\n      directory: ${join(dir, "out")}\n      max_size_bytes: 1000000`,
      ),
    );
    expect(sorted(await readJsonLines(join(dir, "out")))).toEqual(
      sorted([
        '{"event_type_cd":"process_start","n":1}',
        '{"event_type_cd":"binary","n":2,"s":"ünïcødé ✓"}',
        '{"n":3}',
        '{"n":"m1"}',
        '{"n":"m2"}',
        '{"n":"m3"}',
      ]),
    );
  });

  it("reads notifications delivered by SNS with raw message delivery on", async () => {
    const raw = await startLocalStack({ port: 0, rawDelivery: true });
    try {
      const dir = join(work, "raw");
      const sim = await simulate({
        target: simTarget(raw, "native"),
        format: "native",
        files: 3,
        recordsPerFile: 200,
        seed: 3,
        gzip: false,
      });
      await runUntilDrained(
        raw,
        "native",
        config(
          "native",
          dir,
          `  - file:\n      directory: ${join(dir, "out")}\n      max_size_bytes: 1000000\n      export_only_where:\n        type: [ingress.event.netconn]`,
        ),
      );
      const expected = (await simulatedLines(raw, sim.files)).filter((l) =>
        l.includes('"ingress.event.netconn"'),
      );
      expect(expected.length).toBeGreaterThan(0);
      expect(sorted(await readJsonLines(join(dir, "out")))).toEqual(sorted(expected));
    } finally {
      await raw.stop();
    }
  });

  it("acknowledges S3 test events and skips records that are not ObjectCreated", async () => {
    const dir = join(work, "test-events");
    await stack.sns.send(
      new PublishCommand({
        TopicArn: stack.topicArn("cf-flattened"),
        Message: JSON.stringify(s3TestEvent(stack.bucket)),
      }),
    );
    const removed = s3EventFor(stack.bucket, [{ key: "gone.json", size: 1 }], stack.region) as {
      Records: Array<{ eventName: string }>;
    };
    for (const r of removed.Records) r.eventName = "ObjectRemoved:Delete";
    await stack.sns.send(
      new PublishCommand({
        TopicArn: stack.topicArn("cf-flattened"),
        Message: JSON.stringify(removed),
      }),
    );
    await runUntilDrained(
      stack,
      "cf-flattened",
      config(
        "cf-flattened",
        dir,
        `  - file:\n      directory: ${join(dir, "out")}\n      max_size_bytes: 1000000`,
      ),
    );
    expect(await readJsonLines(join(dir, "out"))).toEqual([]);
    expect(await readDeadLetters(join(dir, "dead-letter"))).toEqual([]);
  });

  it("handles each kind of bad input with a dead-letter entry and goes on with the rest", async () => {
    const dir = join(work, "bad");
    const good = [
      '{"event_type_cd":"process_start","i":1}',
      '{"event_type_cd":"process_end","i":2}',
    ];
    await stack.s3.send(
      new PutObjectCommand({
        Bucket: stack.bucket,
        Key: "bad/good.json.gz",
        Body: gzipSync(good.join("\n")),
      }),
    );
    const whole = gzipSync(Buffer.from(`${'{"i":"before-corruption"}\n'}${"x".repeat(5000)}\n`));
    const corrupt = Buffer.concat([
      whole.subarray(0, 40),
      Buffer.from("garbage-not-deflate-data"),
      whole.subarray(60),
    ]);
    await stack.s3.send(
      new PutObjectCommand({ Bucket: stack.bucket, Key: "bad/corrupt.json.gz", Body: corrupt }),
    );
    const padding = Array.from({ length: 2000 }, (_, i) =>
      JSON.stringify({ pad: randomBytes(16).toString("hex"), i }),
    );
    const fullGzip = gzipSync(Buffer.from(`${good.join("\n")}\n${padding.join("\n")}\n`));
    const truncated = fullGzip.subarray(0, Math.floor(fullGzip.length / 2));
    await stack.s3.send(
      new PutObjectCommand({ Bucket: stack.bucket, Key: "bad/truncated.json.gz", Body: truncated }),
    );
    await stack.s3.send(
      new PutObjectCommand({
        Bucket: stack.bucket,
        Key: "bad/lines.json",
        Body: '{"ok":1}\nnot json\n[1,2]\n{"ok":2}\n',
      }),
    );
    // Straight into the -test queue: publishing on SNS would reach the standardized queue too.
    await sendRawEvent("standardized-test", ["bad/good.json.gz", "bad/missing.json.gz"]);
    await sendRawEvent("standardized-test", ["bad/corrupt.json.gz"]);
    await sendRawEvent("standardized-test", ["bad/truncated.json.gz"]);
    await sendRawEvent("standardized-test", ["bad/lines.json"]);
    await stack.sqs.send(
      new SendMessageCommand({
        QueueUrl: stack.queueUrl("standardized-test"),
        MessageBody: "this is not json",
      }),
    );
    await stack.sqs.send(
      new SendMessageCommand({
        QueueUrl: stack.queueUrl("standardized-test"),
        MessageBody: '{"Type":"Notification","Message":"{oops"}',
      }),
    );

    await runUntilDrained(
      stack,
      "standardized-test",
      config(
        "standardized-test",
        dir,
        `  - file:\n      directory: ${join(dir, "out")}\n      max_size_bytes: 1000000`,
      ),
    );

    const out = await readJsonLines(join(dir, "out"));
    expect(out).toEqual(expect.arrayContaining([...good, '{"ok":1}', '{"ok":2}']));
    const dead = await readDeadLetters(join(dir, "dead-letter"));
    const kinds = dead.map((d) => `${d.kind}`).sort();
    expect(kinds).toEqual(
      [
        "failed_file", // missing
        "failed_file", // corrupt
        "failed_file", // truncated object: all its bytes arrived, the gzip ends early
        "failed_message", // not json
        "failed_message", // envelope with bad Message
        "invalid_record",
        "invalid_record",
      ].sort(),
    );
    const invalid = dead.filter((d) => d.kind === "invalid_record");
    expect(invalid.map((d) => d.line).sort()).toEqual([2, 3]);
    const reasonFor = (key: string) =>
      String(dead.find((d) => JSON.stringify(d).includes(key))?.reason);
    expect(reasonFor("bad/missing.json.gz")).toContain("object_missing");
    expect(reasonFor("bad/corrupt.json.gz")).toContain("corrupt_gzip");
    expect(reasonFor("bad/truncated.json.gz")).toContain("corrupt_gzip");
    // The records before the damage in the truncated file were exported.
    expect(out.filter((l) => l.includes('"pad"')).length).toBeGreaterThan(0);
  });

  it("lets two exporters with the same config share the queue and the output directory", async () => {
    const dir = join(work, "two");
    const sim = await simulate({
      target: simTarget(stack, "cf-flattened"),
      format: "cf-flattened",
      files: 12,
      recordsPerFile: 500,
      seed: 12,
    });
    await runUntilDrained(
      stack,
      "cf-flattened",
      config(
        "cf-flattened",
        dir,
        `  - file:\n      directory: ${join(dir, "out")}\n      max_size_bytes: 50000\n      max_files: 1000`,
      ),
      2,
    );
    const expected = await simulatedLines(stack, sim.files);
    const names = await readdir(join(dir, "out"));
    expect(names.filter((n) => n.endsWith(".partial"))).toEqual([]);
    // Both instances wrote files (names carry the instance), and each record is there once.
    const instances = new Set(
      names.filter((n) => n.endsWith(".json")).map((n) => n.split("-").slice(3, -1).join("-")),
    );
    expect(instances.size).toBe(2);
    expect(sorted(await readJsonLines(join(dir, "out")))).toEqual(sorted(expected));
  });

  it("keeps every file within max_size_bytes and at most max_files files", async () => {
    const dir = join(work, "rotation");
    const sim = await simulate({
      target: simTarget(stack, "standardized"),
      format: "standardized",
      files: 2,
      recordsPerFile: 300,
      seed: 11,
    });
    const unbounded = join(dir, "unbounded");
    const bounded = join(dir, "bounded");
    await runUntilDrained(
      stack,
      "standardized",
      config(
        "standardized",
        dir,
        `  - file:\n      directory: ${unbounded}\n      max_size_bytes: 20000\n  - file:\n      directory: ${bounded}\n      max_size_bytes: 20000\n      max_files: 3`,
      ),
    );
    const expected = await simulatedLines(stack, sim.files);
    const names = (await readdir(unbounded)).filter((n) => n.endsWith(".json"));
    expect(names.length).toBeGreaterThan(3);
    for (const n of names) expect((await stat(join(unbounded, n))).size).toBeLessThanOrEqual(20000);
    expect(sorted(await readJsonLines(unbounded))).toEqual(sorted(expected));
    const kept = (await readdir(bounded)).filter((n) => n.endsWith(".json"));
    expect(kept.length).toBeLessThanOrEqual(3);
    expect(kept.length).toBeGreaterThan(0);
    const keptLines = await readJsonLines(bounded);
    expect(keptLines.length).toBeGreaterThan(0);
    expect(new Set(keptLines).size).toBe(keptLines.length);
    expect(keptLines.every((l) => expected.includes(l))).toBe(true);
    for (const n of kept) expect((await stat(join(bounded, n))).size).toBeLessThanOrEqual(20000);
  });
});

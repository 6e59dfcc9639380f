import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { type Message, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fileBody, generateFileLines } from "../../src/local/generators/index.js";
import {
  GENERATE_CHUNK_RECORDS,
  type S3Event,
  simulate,
  simulatedFileChunks,
  UPLOAD_PART_BYTES,
  uploadObject,
} from "../../src/local/simulator.js";
import { type LocalStack, startLocalStack } from "../../src/local/stack.js";

let stack: LocalStack;

beforeAll(async () => {
  stack = await startLocalStack({ port: 0 });
});

afterAll(async () => {
  await stack?.stop();
});

async function objectSha256(key: string): Promise<{ sha256: string; length: number }> {
  const res = await stack.s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: key }));
  const hash = createHash("sha256");
  let length = 0;
  for await (const chunk of res.Body as Readable) {
    hash.update(chunk as Buffer);
    length += (chunk as Buffer).length;
  }
  return { sha256: hash.digest("hex"), length };
}

describe("simulated files over the single-PUT limit", () => {
  it("generates a long file in chunks that tile it: distinct records, all types per chunk", () => {
    const records = GENERATE_CHUNK_RECORDS + 150;
    const chunks = [...simulatedFileChunks("native", 4, 2, records)];
    expect(chunks.map((c) => c.lines.length)).toEqual([GENERATE_CHUNK_RECORDS, 150]);
    expect(chunks[1]?.startMs).toBeGreaterThan(chunks[0]?.startMs ?? Infinity);
    expect(new Set(chunks.flatMap((c) => c.lines)).size).toBe(records);
    const [small] = [...simulatedFileChunks("native", 4, 2, 300)];
    expect(small?.lines).toEqual(generateFileLines("native", 4, 2, 300));
  });

  it("uploads a plain file in parts with multipart and announces its real size", async () => {
    // Two chunks of native records, about 12 MB: past one part and fauxqs's 11 MiB single PUT.
    const records = GENERATE_CHUNK_RECORDS + 4_000;
    const sim = await simulate({
      target: {
        s3: stack.s3,
        sns: stack.sns,
        bucket: stack.bucket,
        topicArn: stack.topicArn("native"),
        region: stack.region,
      },
      format: "native",
      files: 1,
      recordsPerFile: records,
      seed: 9,
      gzip: false,
    });
    const file = sim.files[0];
    expect(file?.bytes).toBe(file?.rawBytes);
    expect(file?.bytes).toBeGreaterThan(11 * 1024 * 1024);
    expect(file?.eTag).toMatch(/^[0-9a-f]{32}-2$/);

    const expected = createHash("sha256");
    for (const chunk of simulatedFileChunks("native", 9, 0, records)) {
      expected.update(fileBody(chunk.lines));
    }
    expect(await objectSha256(file?.key ?? "")).toEqual({
      sha256: expected.digest("hex"),
      length: file?.bytes,
    });

    let messages: Message[] = [];
    for (let i = 0; i < 10 && messages.length === 0; i++) {
      const res = await stack.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: stack.queueUrl("native"),
          WaitTimeSeconds: 1,
        }),
      );
      messages = res.Messages ?? [];
    }
    const event = JSON.parse(JSON.parse(messages[0]?.Body ?? "{}").Message) as S3Event;
    expect(event.Records[0]?.s3.object).toMatchObject({ size: file?.bytes, eTag: file?.eTag });
  });

  it("uploadObject gzips a stream on the way and fails cleanly when the stream fails", async () => {
    const put = await uploadObject(
      stack.s3,
      stack.bucket,
      "misc/hello.json.gz",
      Readable.from([Buffer.from('{"a":1}\n')]),
      { gzip: true },
    );
    const stored = await objectSha256("misc/hello.json.gz");
    expect(stored.length).toBe(put.bytes);

    async function* failing() {
      yield Buffer.alloc(UPLOAD_PART_BYTES + 1, 0x41);
      throw new Error("generator broke");
    }
    await expect(
      uploadObject(stack.s3, stack.bucket, "misc/broken.json", Readable.from(failing())),
    ).rejects.toThrow(/generator broke/);
  });
});

import { PassThrough } from "node:stream";
import { gunzipSync } from "node:zlib";
import { GetObjectCommand, HeadBucketCommand } from "@aws-sdk/client-s3";
import {
  GetSubscriptionAttributesCommand,
  ListSubscriptionsByTopicCommand,
  PublishCommand,
} from "@aws-sdk/client-sns";
import {
  GetQueueUrlCommand,
  ListQueuesCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localStackCommand } from "../../src/cli/local-stack.js";
import { simulateCommand } from "../../src/cli/simulate.js";
import { fileBody, generateFileLines } from "../../src/local/generators/index.js";
import { type S3Event, s3TestEvent, simulate } from "../../src/local/simulator.js";
import { type LocalStack, startLocalStack } from "../../src/local/stack.js";

let enveloped: LocalStack;
let raw: LocalStack;

beforeAll(async () => {
  [enveloped, raw] = await Promise.all([
    startLocalStack({ port: 0 }),
    startLocalStack({
      port: 0,
      rawDelivery: true,
      customerIdentifier: "acme",
      namespace: "acme-ns",
    }),
  ]);
});

afterAll(async () => {
  await Promise.all([enveloped?.stop(), raw?.stop()]);
});

const decodeKey = (k: string) => decodeURIComponent(k.replace(/\+/g, " "));
const target = (s: LocalStack, stream: string) => ({
  s3: s.s3,
  sns: s.sns,
  bucket: s.bucket,
  topicArn: s.topicArn(stream),
  region: s.region,
});

/** Receives (and leaves in flight) until `count` messages arrived or the deadline passed. */
async function receive(
  stack: LocalStack,
  stream: string,
  count: number,
  timeoutMs = 15_000,
): Promise<Message[]> {
  const got: Message[] = [];
  const deadline = Date.now() + timeoutMs;
  while (got.length < count && Date.now() < deadline) {
    const res = await stack.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: stack.queueUrl(stream),
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        VisibilityTimeout: 300,
      }),
    );
    got.push(...(res.Messages ?? []));
  }
  return got;
}

async function objectBytes(stack: LocalStack, key: string): Promise<Buffer> {
  const res = await stack.s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: key }));
  return Buffer.from((await res.Body?.transformToByteArray()) ?? []);
}

describe("local stack provisioning", () => {
  it("creates Red Canary's queues, topics, subscriptions and bucket", async () => {
    const listed = await enveloped.sqs.send(new ListQueuesCommand({}));
    const names = (listed.QueueUrls ?? []).map((u) => u.split("/").pop()).sort();
    expect(names).toEqual(
      ["native", "standardized", "cf-flattened"]
        .flatMap((s) => [
          `canaryexporter-${s}-file-added-demo`,
          `canaryexporter-${s}-test-file-added-demo`,
        ])
        .sort(),
    );
    for (const url of listed.QueueUrls ?? []) expect(new URL(url).hostname).toBe("127.0.0.1");
    const byName = await enveloped.sqs.send(
      new GetQueueUrlCommand({ QueueName: "canaryexporter-cf-flattened-test-file-added-demo" }),
    );
    expect(byName.QueueUrl).toBe(enveloped.queueUrl("cf-flattened-test"));
    expect(enveloped.topicArn("standardized")).toMatch(/:rc-standardizer-file-added-demo-ns$/);
    expect(raw.topicArn("cf-flattened")).toMatch(/:rc-cf-flattened-file-added-acme-ns$/);
    await expect(
      enveloped.s3.send(new HeadBucketCommand({ Bucket: enveloped.bucket })),
    ).resolves.toBeDefined();

    for (const [stack, rawFlag] of [
      [enveloped, "false"],
      [raw, "true"],
    ] as const) {
      const subs = await stack.sns.send(
        new ListSubscriptionsByTopicCommand({ TopicArn: stack.topicArn("native") }),
      );
      const endpoints = (subs.Subscriptions ?? []).map((s) => s.Endpoint?.split(":").pop()).sort();
      expect(endpoints).toEqual([
        `canaryexporter-native-file-added-${stack.customerIdentifier}`,
        `canaryexporter-native-test-file-added-${stack.customerIdentifier}`,
      ]);
      const arn = subs.Subscriptions?.[0]?.SubscriptionArn;
      const attrs = await stack.sns.send(
        new GetSubscriptionAttributesCommand({ SubscriptionArn: arn }),
      );
      expect(attrs.Attributes?.RawMessageDelivery).toBe(rawFlag);
    }
    expect(enveloped.env()).toMatchObject({
      AWS_ENDPOINT_URL: enveloped.endpoint,
      AWS_REGION: "us-east-2",
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
    });
    expect(enveloped.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });
});

describe("simulated files and their notifications", () => {
  it("delivers an SNS envelope to both standardized queues; the objects hold the generated lines", async () => {
    const sim = await simulate({
      target: target(enveloped, "standardized"),
      format: "standardized",
      files: 4,
      recordsPerFile: 120,
      seed: 21,
    });
    expect(sim.notifications).toBe(4);
    for (const stream of ["standardized", "standardized-test"]) {
      const messages = await receive(enveloped, stream, 4);
      expect(messages).toHaveLength(4);
      const seen = new Map<string, number>();
      for (const m of messages) {
        const body = JSON.parse(m.Body ?? "") as Record<string, unknown>;
        expect(body).toMatchObject({
          Type: "Notification",
          TopicArn: enveloped.topicArn("standardized"),
          Subject: "Amazon S3 Notification",
        });
        expect(body.Message).toBeTypeOf("string");
        const event = JSON.parse(body.Message as string) as S3Event;
        expect(event.Records).toHaveLength(1);
        const o = event.Records[0]?.s3.object;
        seen.set(decodeKey(o?.key ?? ""), o?.size ?? -1);
      }
      expect(seen).toEqual(new Map(sim.files.map((f) => [f.key, f.bytes])));
    }
    expect(sim.files.some((f) => /[ =]/.test(f.key))).toBe(true);
    expect(await enveloped.queueDepth("native")).toEqual({ visible: 0, inFlight: 0 });
    expect(await enveloped.queueDepth("standardized")).toEqual({ visible: 0, inFlight: 4 });

    for (const f of sim.files) {
      const bytes = await objectBytes(enveloped, f.key);
      expect([bytes[0], bytes[1]]).toEqual([0x1f, 0x8b]);
      expect(gunzipSync(bytes).toString("utf8")).toBe(
        fileBody(generateFileLines("standardized", 21, f.index, 120)),
      );
    }
  });

  it("delivers the raw S3 event with raw delivery on, several files per message, plain files too", async () => {
    const sim = await simulate({
      target: target(raw, "native"),
      format: "native",
      files: 5,
      recordsPerFile: 50,
      seed: 3,
      filesPerNotification: 3,
      gzip: false,
      testEventFirst: true,
    });
    expect(sim.notifications).toBe(3);
    const messages = await receive(raw, "native", 3);
    const bodies = messages.map((m) => JSON.parse(m.Body ?? "") as Record<string, unknown>);
    expect(bodies.filter((b) => b.Event === "s3:TestEvent")).toHaveLength(1);
    const events = bodies.filter((b) => "Records" in b) as unknown as S3Event[];
    expect(events.map((e) => e.Records.length).sort()).toEqual([2, 3]);
    const keys = events.flatMap((e) => e.Records.map((r) => decodeKey(r.s3.object.key))).sort();
    expect(keys).toEqual(sim.files.map((f) => f.key).sort());
    for (const f of sim.files) {
      expect(f.key).toMatch(/\.json$/);
      expect((await objectBytes(raw, f.key)).toString("utf8")).toBe(
        fileBody(generateFileLines("native", 3, f.index, 50)),
      );
    }
  });

  it("answers a default SQS client on the 127.0.0.1 queue URL and ends long polls on stop", async () => {
    const stack = await startLocalStack({ port: 0, queueAttributes: { VisibilityTimeout: "45" } });
    const plain = new SQSClient({
      region: stack.region,
      endpoint: stack.endpoint,
      credentials: { accessKeyId: "x", secretAccessKey: "y" },
    });
    try {
      await stack.sns.send(
        new PublishCommand({
          TopicArn: stack.topicArn("cf-flattened"),
          Message: JSON.stringify(s3TestEvent(stack.bucket)),
        }),
      );
      const res = await plain.send(
        new ReceiveMessageCommand({ QueueUrl: stack.queueUrl("cf-flattened"), WaitTimeSeconds: 5 }),
      );
      expect(JSON.parse(JSON.parse(res.Messages?.[0]?.Body ?? "{}").Message)).toMatchObject({
        Event: "s3:TestEvent",
      });
      const pending = plain.send(
        new ReceiveMessageCommand({ QueueUrl: stack.queueUrl("native"), WaitTimeSeconds: 20 }),
      );
      const settled = pending.then(
        () => Date.now(),
        () => Date.now(),
      );
      const stoppedAt = Date.now();
      await stack.stop();
      expect((await settled) - stoppedAt).toBeLessThan(5_000);
    } finally {
      plain.destroy();
      await stack.stop();
    }
  });
});

describe("CLI commands", () => {
  it("local-stack prints the exports and serves until stopped; simulate uploads to it", async () => {
    const out = new PassThrough();
    let text = "";
    out.on("data", (d: Buffer) => {
      text += d.toString();
    });
    const stop = new AbortController();
    const running = localStackCommand({ port: 0, customer: "cli", out, signal: stop.signal });
    const deadline = Date.now() + 15_000;
    while (!text.includes("Ctrl-C") && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    const endpoint = /^export AWS_ENDPOINT_URL=(http:\/\/127\.0\.0\.1:\d+)$/m.exec(text)?.[1];
    expect(endpoint).toBeDefined();
    expect(text).toContain("canaryexporter-cf-flattened-test-file-added-cli");
    // The Red Canary API stand-in answers with the key the output tells users to configure.
    const apiUrl =
      /endpoint_enrichment: \{api_url: "(http:\/\/127\.0\.0\.1:\d+\/openapi\/v3\/)"\}/.exec(
        text,
      )?.[1];
    const key = /red_canary_authentication_token: (\S+)/.exec(text)?.[1];
    expect(apiUrl).toBeDefined();
    const listed = await fetch(`${apiUrl}endpoints?page=1&per_page=5`, {
      headers: { "X-Api-Key": key ?? "" },
    });
    expect(listed.status).toBe(200);
    expect(((await listed.json()) as { data: unknown[] }).data).toHaveLength(5);

    const simOut = new PassThrough();
    let simText = "";
    simOut.on("data", (d: Buffer) => {
      simText += d.toString();
    });
    const err = new PassThrough();
    expect(
      await simulateCommand({
        endpoint,
        format: "cf-flattened",
        files: 2,
        records: 30,
        seed: 1,
        out: simOut,
        err,
      }),
    ).toBe(0);
    expect(simText).toContain("uploaded 2 files, 60 records");
    expect(await simulateCommand({ endpoint, format: "nope", out: simOut, err })).toBe(2);
    expect(
      await simulateCommand({ endpoint, namespace: "missing", files: 1, out: simOut, err }),
    ).toBe(1);
    stop.abort();
    expect(await running).toBe(0);
  });
});

import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { s3EventFor } from "../../src/local/simulator.js";
import { type LocalStack, startLocalStack } from "../../src/local/stack.js";
import { type FaultProxy, s3ErrorXml, startFaultProxy } from "../helpers/fault-proxy.js";
import {
  counterValue,
  readDeadLetters,
  readJsonLines,
  runUntilDrained,
  sorted,
  testConfig,
} from "../helpers/harness.js";

let stack: LocalStack;
let proxy: FaultProxy;
let work: string;

beforeAll(async () => {
  stack = await startLocalStack({ port: 0 });
  proxy = await startFaultProxy(stack.endpoint);
  // S3 reads go through the fault proxy; SQS and SNS talk to the server directly.
  process.env.AWS_ENDPOINT_URL_S3 = proxy.endpoint;
  work = await mkdtemp(join(tmpdir(), "ce-faults-"));
});

afterAll(async () => {
  delete process.env.AWS_ENDPOINT_URL_S3;
  await proxy?.close();
  await stack?.stop();
  await rm(work, { recursive: true, force: true });
});

function config(stream: string, dir: string, maxReceives: number, visibility = 30): string {
  const outputs = `  - file:\n      directory: ${join(dir, "out")}\n      max_size_bytes: 1000000`;
  return testConfig({ stream, dir, outputs, maxReceives, visibilitySeconds: visibility });
}

/**
 * Uploads an object and puts its S3 event straight into one queue. Each test uses its own
 * queue: a long poll aborted by an earlier test's shutdown may still catch a message on the
 * server side, which then only comes back after its visibility timeout.
 */
async function put(stream: string, key: string, lines: string[]) {
  await stack.s3.send(
    new PutObjectCommand({
      Bucket: stack.bucket,
      Key: key,
      Body: gzipSync(`${lines.join("\n")}\n`),
    }),
  );
  await stack.sqs.send(
    new SendMessageCommand({
      QueueUrl: stack.queueUrl(stream),
      MessageBody: JSON.stringify(s3EventFor(stack.bucket, [{ key, size: 1 }], stack.region)),
    }),
  );
}

describe("faults on the S3 side, injected by a proxy", () => {
  it("resumes a download cut short in place: every record once, the message never given back", async () => {
    const dir = join(work, "cut");
    // Random content: the gzip stays large, so the cut falls well inside the body, after the
    // SDK has handed the stream over (an early cut is retried by the SDK itself).
    const lines = Array.from({ length: 20_000 }, (_, i) =>
      JSON.stringify({ type: "ingress.event.procstart", i, md5: randomBytes(16).toString("hex") }),
    );
    proxy.rules.push({
      method: "GET",
      path: /faults\/cut\.json\.gz/,
      times: 1,
      fault: { kind: "cut", afterBytes: 300_000 },
    });
    await put("native", "faults/cut.json.gz", lines);
    const { metrics } = await runUntilDrained(stack, "native", config("native", dir, 3));
    expect(proxy.hits[proxy.rules.length - 1]).toBe(1);
    const out = await readJsonLines(join(dir, "out"));
    // The object is read again and the lines handed on before the cut are passed over.
    expect(out).toEqual(lines);
    expect(await counterValue(metrics.readResumes)).toBe(1);
    expect(await counterValue(metrics.messagesReleased)).toBe(0);
    expect(await counterValue(metrics.messagesReceived)).toBe(1);
    expect(await readDeadLetters(join(dir, "dead-letter"))).toEqual([]);
  });

  it("retries access denied, then dead-letters the message after max_receives", async () => {
    const dir = join(work, "denied");
    proxy.rules.push({
      method: "GET",
      path: /faults\/denied\.json\.gz/,
      fault: { kind: "status", status: 403, body: s3ErrorXml("AccessDenied", "Access Denied") },
    });
    await put("native-test", "faults/denied.json.gz", ['{"type":"ingress.event.netconn"}']);
    const { metrics } = await runUntilDrained(stack, "native-test", config("native-test", dir, 2));
    expect(proxy.hits[proxy.rules.length - 1]).toBeGreaterThanOrEqual(2);
    expect(await readJsonLines(join(dir, "out"))).toEqual([]);
    const dead = await readDeadLetters(join(dir, "dead-letter"));
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ kind: "failed_message", receiveCount: 2 });
    expect(String(dead[0]?.reason)).toContain("access denied");
    expect(await counterValue(metrics.messagesDeadLettered)).toBe(1);
  });

  it("keeps a slow message invisible with the heartbeat: it is received once, not twice", async () => {
    const dir = join(work, "slow");
    const lines = Array.from({ length: 100 }, (_, i) =>
      JSON.stringify({ type: "ingress.event.filemod", i }),
    );
    // The object takes 12 s to arrive; the visibility timeout is 5 s. Without the heartbeat
    // the message would be handed out again after 5 s and its records written twice.
    proxy.rules.push({
      method: "GET",
      path: /faults\/slow\.json\.gz/,
      times: 1,
      fault: { kind: "delay", ms: 12_000 },
    });
    await put("cf-flattened", "faults/slow.json.gz", lines);
    const { metrics } = await runUntilDrained(
      stack,
      "cf-flattened",
      config("cf-flattened", dir, 3, 5),
    );
    expect(proxy.hits[proxy.rules.length - 1]).toBe(1);
    expect(await counterValue(metrics.messagesReceived)).toBe(1);
    expect(sorted(await readJsonLines(join(dir, "out")))).toEqual(sorted(lines));
  });
});

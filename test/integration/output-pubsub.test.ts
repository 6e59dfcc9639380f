/**
 * The google_cloud_pubsub output against Google's Pub/Sub emulator (started once for this file),
 * alone and through the whole exporter on the local SQS/SNS/S3. Messages are read back with the
 * official client through a subscription and compared with the input records.
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { type Message, PubSub, type Subscription } from "@google-cloud/pubsub";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PubsubOutputConfig } from "../../src/config/index.js";
import { deliver } from "../../src/core/deliver.js";
import type { OutputContext, RecordBatch } from "../../src/core/types.js";
import { simulate } from "../../src/local/simulator.js";
import { type LocalStack, startLocalStack } from "../../src/local/stack.js";
import { createPubSubOutput, MAX_MESSAGE_BYTES } from "../../src/outputs/pubsub/index.js";
import { GoogleTopicPublisher } from "../../src/outputs/pubsub/publisher.js";
import { PubSubOutput } from "../../src/outputs/pubsub/pubsub-output.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { Metrics } from "../../src/telemetry/metrics.js";
import { compileFilter } from "../../src/transforms/filter.js";
import { MemoryDeadLetter } from "../helpers/fakes.js";
import {
  counterValue,
  readDeadLetters,
  runUntilDrained,
  simTarget,
  simulatedLines,
  sorted,
  waitFor,
} from "../helpers/harness.js";
import {
  EMULATOR_MISSING,
  emulatorAvailable,
  type PubSubEmulator,
  startPubSubEmulator,
  startTcpGate,
} from "../helpers/pubsub-emulator.js";

const PROJECT = "ce-test";
const available = emulatorAvailable();

let emulator: PubSubEmulator | undefined;
let stack: LocalStack | undefined;
let admin: PubSub;
let work: string;

interface Received {
  readonly text: string;
  readonly attributes: Record<string, string>;
}

/** A fresh topic with a subscription (made first: Pub/Sub keeps messages only for those). */
async function topicWithSubscription(id: string) {
  const [topic] = await admin.createTopic(id);
  const [subscription] = await topic.createSubscription(`${id}-sub`);
  return { name: `projects/${PROJECT}/topics/${id}`, subscription };
}

/** Receives until `count` messages arrived (acking each), then stops; data gunzipped if needed. */
async function receive(subscription: Subscription, count: number): Promise<Received[]> {
  const got: Received[] = [];
  let failure: unknown;
  const onMessage = (m: Message) => {
    const gzip = m.attributes["content-encoding"] === "gzip";
    got.push({
      text: (gzip ? gunzipSync(m.data) : m.data).toString("utf8"),
      attributes: { ...m.attributes },
    });
    m.ack();
  };
  subscription.on("message", onMessage);
  subscription.on("error", (err) => {
    failure = err;
  });
  try {
    await waitFor(
      () => {
        if (failure) throw failure;
        return got.length >= count;
      },
      `${count} messages (got ${got.length})`,
      60_000,
    );
  } finally {
    subscription.removeListener("message", onMessage);
    await subscription.close();
  }
  return got;
}

function context(deadLetter = new MemoryDeadLetter()): OutputContext {
  return { instanceId: "it-1", logger: silentLogger(), deadLetter };
}

function pubsubConfig(fields: Partial<PubsubOutputConfig> & { topic_name: string }) {
  return { compression_format: "none", ...fields } as PubsubOutputConfig;
}

function batchOf(values: Array<Record<string, unknown>>, key: string): RecordBatch {
  const records = values.map((value) => ({ raw: JSON.stringify(value), value }));
  return {
    source: { bucket: "rc-bucket", key },
    records,
    bytes: records.reduce((n, r) => n + Buffer.byteLength(r.raw) + 1, 0),
  };
}

const EVENT_TYPES = ["process_start", "network_connection", "file_modification", "child_process"];

function telemetry(from: number, n: number) {
  return Array.from({ length: n }, (_, i) => ({
    event_type_cd: EVENT_TYPES[(from + i) % EVENT_TYPES.length],
    sensor_id: 500 + ((from + i) % 7),
    event_id: `e-${from + i}`,
    command_line: `cmd.exe /c echo ${"ü".repeat((from + i) % 50)}`,
  }));
}

describe.skipIf(!available)(
  available
    ? "google_cloud_pubsub output against the Pub/Sub emulator"
    : `google_cloud_pubsub output (skipped: ${EMULATOR_MISSING})`,
  () => {
    beforeAll(async () => {
      const [started, local] = await Promise.all([
        startPubSubEmulator(),
        startLocalStack({ port: 0 }),
      ]);
      emulator = started;
      stack = local;
      // The client reads these itself, as a user's would. No GCE metadata server here:
      // without this, the client probes for one and warns.
      process.env.PUBSUB_EMULATOR_HOST = started.host;
      process.env.METADATA_SERVER_DETECTION = "none";
      admin = new PubSub({ projectId: PROJECT });
      work = await mkdtemp(join(tmpdir(), "ce-pubsub-"));
    });

    afterAll(async () => {
      await admin?.close();
      await Promise.all([emulator?.stop(), stack?.stop()]);
      if (work) await rm(work, { recursive: true, force: true });
    });

    for (const compression of ["none", "gzip"] as const) {
      it(`publishes every record once, with its attributes (compression_format: ${compression})`, async () => {
        const topic = await topicWithSubscription(`alone-${compression}`);
        const output = createPubSubOutput(
          pubsubConfig({ topic_name: topic.name, compression_format: compression }),
          context(),
          "google_cloud_pubsub[0]",
        );
        await output.healthcheck(AbortSignal.timeout(30_000));
        const batches = [0, 1, 2].map((b) =>
          batchOf(telemetry(b * 700, 700), `standardized/2026/12/03/f-${b}.json.gz`),
        );
        // Overlapping writes, as the pipeline makes them.
        await Promise.all(batches.map((b) => output.write(b)));
        await output.close();

        const received = await receive(topic.subscription, 2100);
        const expected = batches.flatMap((b) => b.records.map((r) => r.raw));
        expect(sorted(received.map((m) => m.text))).toEqual(sorted(expected));
        const keyOf = new Map(
          batches.flatMap((b) => b.records.map((r) => [r.raw, b.source.key] as const)),
        );
        for (const m of received) {
          const value = JSON.parse(m.text) as { event_type_cd: string; sensor_id: number };
          expect(m.attributes).toEqual({
            "content-type": "application/json",
            ...(compression === "gzip" ? { "content-encoding": "gzip" } : {}),
            event_type: value.event_type_cd,
            sensor_id: String(value.sensor_id),
            source_key: keyOf.get(m.text),
          });
        }
      });
    }

    it("fails its start-up check clearly for a missing topic", async () => {
      const output = createPubSubOutput(
        pubsubConfig({ topic_name: `projects/${PROJECT}/topics/no-such-topic` }),
        context(),
        "google_cloud_pubsub[0]",
      );
      const err = await output.healthcheck(AbortSignal.timeout(30_000)).catch((e: unknown) => e);
      expect(err).toMatchObject({ kind: "permanent", code: "pubsub_topic_not_found" });
      expect((err as Error).message).toMatch(
        /^Pub\/Sub topic projects\/ce-test\/topics\/no-such-topic does not exist; create it or correct topic_name/,
      );
      await output.close();
    });

    it("dead-letters a record too large for one message; one at the limit is published", async () => {
      const topic = await topicWithSubscription("sizes");
      const deadLetter = new MemoryDeadLetter();
      const output = createPubSubOutput(
        pubsubConfig({ topic_name: topic.name }),
        context(deadLetter),
        "google_cloud_pubsub[0]",
      );
      const key = "k.json";
      // Attributes count toward the limit: content-type and source_key here.
      const attributeBytes = "content-typeapplication/json".length + `source_key${key}`.length;
      const padFor = (messageBytes: number) =>
        "x".repeat(messageBytes - attributeBytes - JSON.stringify({ pad: "" }).length);
      const atLimit = { pad: padFor(MAX_MESSAGE_BYTES) };
      const over = { pad: padFor(MAX_MESSAGE_BYTES + 1) };
      const batch = batchOf([{ n: 1 }, over, atLimit, { n: 2 }], key);
      await output.write(batch);
      await output.close();

      const received = await receive(topic.subscription, 3);
      expect(sorted(received.map((m) => m.text))).toEqual(
        sorted([batch.records[0], batch.records[2], batch.records[3]].map((r) => r?.raw ?? "")),
      );
      expect(deadLetter.entries).toHaveLength(1);
      expect(deadLetter.entries[0]).toMatchObject({
        kind: "rejected_record",
        output: "google_cloud_pubsub[0]",
        source: { bucket: "rc-bucket", key },
        raw: batch.records[1]?.raw,
      });
    });

    it("rides out an outage (UNAVAILABLE) until Pub/Sub answers again: nothing lost, nothing doubled", async () => {
      const topic = await topicWithSubscription("outage");
      const gate = await startTcpGate(emulator?.host ?? "");
      const output = new PubSubOutput(
        new GoogleTopicPublisher({
          topicName: topic.name,
          apiEndpoint: gate.host,
          publishTimeoutMs: 1_000, // the client's own retries give up sooner than in production
        }),
        { id: "google_cloud_pubsub[0]", compression: "gzip" },
        context(),
      );
      try {
        await output.healthcheck(AbortSignal.timeout(30_000));
        gate.setOpen(false);
        const metrics = new Metrics();
        const batch = batchOf(telemetry(0, 300), "outage.json.gz");
        // The pipeline's own retry loop, as in production.
        const delivered = deliver(output, batch, {
          signal: AbortSignal.timeout(55_000),
          logger: silentLogger(),
          metrics,
          baseDelayMs: 50,
          maxDelayMs: 500,
        });
        await waitFor(
          async () => (await counterValue(metrics.errors)) >= 1,
          "a failed attempt while Pub/Sub is unreachable",
        );
        const failures = await metrics.errors.get();
        expect(failures.values.map((v) => v.labels.error_type)).toEqual(
          expect.arrayContaining([
            expect.stringMatching(/^pubsub_(unavailable|deadline_exceeded)$/),
          ]),
        );
        gate.setOpen(true);
        await delivered;
        await output.close();
        const received = await receive(topic.subscription, 300);
        expect(sorted(received.map((m) => m.text))).toEqual(
          sorted(batch.records.map((r) => r.raw)),
        );
      } finally {
        await output.close();
        await gate.close();
      }
    });

    it("through the whole exporter: each output gets exactly what its filter wants", async () => {
      const local = stack as LocalStack;
      const dir = join(work, "pipeline");
      const filtered = await topicWithSubscription("pipeline-starts");
      const everything = await topicWithSubscription("pipeline-all");
      const sim = await simulate({
        target: simTarget(local, "standardized"),
        format: "standardized",
        files: 4,
        recordsPerFile: 600,
        seed: 11,
        filesPerNotification: 2,
      });
      // A service-account key as a user would paste it: its project_id completes the topic id.
      const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
      const key = JSON.stringify({
        type: "service_account",
        project_id: PROJECT,
        private_key_id: "0123456789abcdef",
        private_key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
        client_email: `exporter@${PROJECT}.iam.gserviceaccount.com`,
        client_id: "1234567890",
      });
      await runUntilDrained(
        local,
        "standardized",
        `customer_identifier: demo
input:
  stream_name: standardized
  aws_region: us-east-2
  aws_access_key_id: test
  aws_secret_access_key: test
  visibility_timeout_seconds: 30
  wait_time_seconds: 1
outputs:
  - google_cloud_pubsub:
      topic_name: pipeline-starts
      credentials_json: ${JSON.stringify(key)}
      compression_format: none
      export_only_where:
        event_type_cd: [process_start, network_connection]
  - google_cloud_pubsub:
      topic_name: ${everything.name}
      compression_format: gzip
dead_letter:
  directory: ${join(dir, "dead-letter")}
  max_receives: 1
shutdown_grace_seconds: 5
`,
      );
      const expected = await simulatedLines(local, sim.files);
      expect(expected.length).toBe(2400);
      const keep = compileFilter({ event_type_cd: ["process_start", "network_connection"] });
      const expectedFiltered = expected.filter((l) => keep?.(JSON.parse(l)));
      expect(expectedFiltered.length).toBeGreaterThan(0);
      expect(expectedFiltered.length).toBeLessThan(expected.length);

      const all = await receive(everything.subscription, expected.length);
      expect(sorted(all.map((m) => m.text))).toEqual(sorted(expected));
      const some = await receive(filtered.subscription, expectedFiltered.length);
      expect(sorted(some.map((m) => m.text))).toEqual(sorted(expectedFiltered));
      for (const m of some) {
        expect(["process_start", "network_connection"]).toContain(m.attributes.event_type);
        expect(m.attributes["content-encoding"]).toBeUndefined();
      }
      expect(await readDeadLetters(join(dir, "dead-letter"))).toEqual([]);
    });
  },
);

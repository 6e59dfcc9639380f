import { gunzipSync } from "node:zlib";
import { describe, expect, it, vi } from "vitest";
import { ExporterError } from "../../src/core/errors.js";
import type { RecordBatch, TelemetryRecord } from "../../src/core/types.js";
import { parseCredentialsJson } from "../../src/outputs/pubsub/credentials.js";
import { GrpcStatus, toPubSubError } from "../../src/outputs/pubsub/errors.js";
import {
  ATTRIBUTES,
  MAX_MESSAGE_BYTES,
  type OutgoingMessage,
} from "../../src/outputs/pubsub/messages.js";
import { GoogleTopicPublisher, type TopicPublisher } from "../../src/outputs/pubsub/publisher.js";
import { PubSubOutput } from "../../src/outputs/pubsub/pubsub-output.js";
import { fullTopicName, parseTopicName } from "../../src/outputs/pubsub/topic-name.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { MemoryDeadLetter } from "../helpers/fakes.js";

/** Pub/Sub in memory, behind our own TopicPublisher interface; can fail chosen publishes. */
class FakePublisher implements TopicPublisher {
  readonly topicLabel = "projects/proj/topics/telemetry";
  readonly published: OutgoingMessage[] = [];
  /** Called for every publish: an error to throw, or undefined to accept the message. */
  failWith: ((message: OutgoingMessage, call: number) => unknown) | undefined;
  calls = 0;
  closes = 0;

  async check(): Promise<void> {}

  async publish(message: OutgoingMessage): Promise<void> {
    const call = this.calls++;
    const err = this.failWith?.(message, call);
    if (err) throw err;
    this.published.push(message);
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {
    this.closes++;
  }

  texts(): string[] {
    return this.published.map((m) =>
      (m.attributes[ATTRIBUTES.contentEncoding] === "gzip" ? gunzipSync(m.data) : m.data).toString(
        "utf8",
      ),
    );
  }
}

/** An error as Google's client reports it: a gRPC status code and the server's details. */
function grpcError(code: number, details: string): Error {
  return Object.assign(new Error(`${code} ${details}`), { code, details });
}

function rec(value: Record<string, unknown>): TelemetryRecord {
  return { raw: JSON.stringify(value), value };
}

function batchOf(values: Array<Record<string, unknown>>, key = "2026/12/03/file-1.json.gz") {
  const records = values.map(rec);
  return {
    source: { bucket: "rc-bucket", key },
    records,
    bytes: records.reduce((n, r) => n + Buffer.byteLength(r.raw) + 1, 0),
  } satisfies RecordBatch;
}

function numbered(n: number): Array<Record<string, unknown>> {
  return Array.from({ length: n }, (_, i) => ({
    event_type_cd: i % 2 ? "process_start" : "network_connection",
    sensor_id: 500 + i,
    n: i,
  }));
}

function setup(compression: "none" | "gzip" = "none") {
  const publisher = new FakePublisher();
  const deadLetter = new MemoryDeadLetter();
  const output = new PubSubOutput(
    publisher,
    { id: "google_cloud_pubsub[0]", compression },
    { instanceId: "test-1", logger: silentLogger(), deadLetter },
  );
  return { publisher, deadLetter, output };
}

describe("PubSubOutput: messages", () => {
  it("publishes one message per record: the JSON text as data, with attributes", async () => {
    const { publisher, output } = setup();
    const batch = batchOf([
      { event_type_cd: "process_start", sensor_id: 529, n: 1 },
      { type: "ingress.event.procstart", sensor_id: "530", n: 2 },
      { n: 3 },
    ]);
    await output.write(batch);
    expect(publisher.texts()).toEqual(batch.records.map((r) => r.raw));
    const key = "2026/12/03/file-1.json.gz";
    expect(publisher.published.map((m) => m.attributes)).toEqual([
      {
        "content-type": "application/json",
        event_type: "process_start",
        sensor_id: "529",
        source_key: key,
      },
      {
        "content-type": "application/json",
        event_type: "ingress.event.procstart",
        sensor_id: "530",
        source_key: key,
      },
      { "content-type": "application/json", source_key: key },
    ]);
  });

  it("gzip-compresses each message's data and says so in content-encoding", async () => {
    const { publisher, output } = setup("gzip");
    const batch = batchOf(numbered(5));
    await output.write(batch);
    expect(publisher.texts()).toEqual(batch.records.map((r) => r.raw));
    for (const m of publisher.published) {
      expect(m.data.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
      expect(m.attributes["content-encoding"]).toBe("gzip");
    }
  });

  it("leaves out attribute values Pub/Sub would refuse (over 1024 bytes, not text)", async () => {
    const { publisher, output } = setup();
    await output.write(
      batchOf(
        [{ event_type_cd: "x".repeat(1025), sensor_id: { nested: true } }, { sensor_id: "" }],
        `k/${"é".repeat(600)}`,
      ),
    );
    for (const m of publisher.published) {
      expect(m.attributes).toEqual({ "content-type": "application/json" });
    }
  });
});

describe("PubSubOutput: failures", () => {
  it("a transient failure rejects retryable; the retry publishes only what was not acknowledged", async () => {
    const { publisher, output } = setup();
    const batch = batchOf(numbered(10));
    publisher.failWith = (_m, call) =>
      call % 3 === 0 ? grpcError(GrpcStatus.UNAVAILABLE, "connection reset") : undefined;
    const err = await output.write(batch).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExporterError);
    expect(err).toMatchObject({ kind: "retryable", code: "pubsub_unavailable" });
    expect((err as Error).message).toMatch(/4 of 10 records were not acknowledged/);
    expect(publisher.published).toHaveLength(6);

    publisher.failWith = undefined;
    await output.write(batch); // what deliver() does: the same batch again
    expect(publisher.calls).toBe(14);
    expect(publisher.texts().sort()).toEqual(batch.records.map((r) => r.raw).sort());
  });

  it("a missing topic, a refused permission or credentials are permanent, with what to do", async () => {
    const cases: Array<[number, RegExp]> = [
      [GrpcStatus.NOT_FOUND, /topic projects\/proj\/topics\/telemetry does not exist/],
      [GrpcStatus.PERMISSION_DENIED, /grant them roles\/pubsub.publisher/],
      [GrpcStatus.UNAUTHENTICATED, /refused the credentials/],
      [GrpcStatus.INVALID_ARGUMENT, /refused the request/],
    ];
    for (const [code, message] of cases) {
      const { publisher, output } = setup();
      publisher.failWith = () => grpcError(code, "from the server");
      const err = await output.write(batchOf(numbered(2))).catch((e: unknown) => e);
      expect(err).toMatchObject({ kind: "permanent" });
      expect((err as Error).message).toMatch(message);
    }
  });

  it("classifies the client's statuses: transient ones retryable, the rest permanent", () => {
    const topic = "projects/p/topics/t";
    for (const code of [
      GrpcStatus.UNAVAILABLE,
      GrpcStatus.DEADLINE_EXCEEDED,
      GrpcStatus.RESOURCE_EXHAUSTED,
      GrpcStatus.INTERNAL,
      GrpcStatus.ABORTED,
      GrpcStatus.CANCELLED,
      GrpcStatus.UNKNOWN,
    ]) {
      expect(toPubSubError(grpcError(code, "x"), topic).kind).toBe("retryable");
    }
    for (const code of [
      GrpcStatus.NOT_FOUND,
      GrpcStatus.PERMISSION_DENIED,
      GrpcStatus.UNAUTHENTICATED,
      GrpcStatus.INVALID_ARGUMENT,
    ]) {
      expect(toPubSubError(grpcError(code, "x"), topic).kind).toBe("permanent");
    }
    // A failed token fetch surfaces as UNAVAILABLE, but no retry will fix bad credentials.
    const plugin = grpcError(
      GrpcStatus.UNAVAILABLE,
      "Getting metadata from plugin failed with error: invalid_grant",
    );
    expect(toPubSubError(plugin, topic)).toMatchObject({
      kind: "permanent",
      code: "pubsub_credentials",
    });
    expect(toPubSubError(new Error("socket hang up"), topic).kind).toBe("retryable");
  });

  it("dead-letters a record too large for one message and publishes the others", async () => {
    const { publisher, deadLetter, output } = setup();
    const big = { event_type_cd: "process_start", pad: "x".repeat(MAX_MESSAGE_BYTES) };
    const batch = batchOf([{ n: 1 }, big, { n: 3 }]);
    await output.write(batch);
    expect(publisher.texts()).toEqual([batch.records[0]?.raw, batch.records[2]?.raw]);
    expect(deadLetter.entries).toHaveLength(1);
    expect(deadLetter.entries[0]).toMatchObject({
      kind: "rejected_record",
      output: "google_cloud_pubsub[0]",
      source: batch.source,
      raw: batch.records[1]?.raw,
    });
    expect(deadLetter.entries[0]).toHaveProperty(
      "reason",
      expect.stringMatching(/over the 9437184 bytes one message may hold/),
    );
  });

  it("the same record fits once gzip-compressed", async () => {
    const { publisher, deadLetter, output } = setup("gzip");
    await output.write(batchOf([{ pad: "x".repeat(MAX_MESSAGE_BYTES) }]));
    expect(deadLetter.entries).toEqual([]);
    expect(publisher.published).toHaveLength(1);
  });

  it("refuses writes after close, and closes the client once", async () => {
    const { publisher, output } = setup();
    await Promise.all([output.close(), output.close()]);
    expect(publisher.closes).toBe(1);
    await expect(output.write(batchOf(numbered(1)))).rejects.toMatchObject({
      kind: "permanent",
      code: "output_closed",
    });
  });
});

describe("topic_name and credentials_json", () => {
  it("accepts a topic id or a full name", () => {
    expect(parseTopicName("telemetry")).toEqual({ form: "id", topic: "telemetry" });
    expect(parseTopicName("projects/my-proj/topics/rc.telemetry")).toEqual({
      form: "full",
      project: "my-proj",
      topic: "rc.telemetry",
    });
    expect(fullTopicName(parseTopicName("telemetry"), "p1")).toBe("projects/p1/topics/telemetry");
    expect(fullTopicName(parseTopicName("projects/p2/topics/t-1"), "p1")).toBe(
      "projects/p2/topics/t-1",
    );
  });

  it("refuses names Pub/Sub would refuse, saying what a valid one looks like", () => {
    for (const bad of ["ab", "1topic", "google-topic", "projects/p/topics", "a/b/c", "t opic"]) {
      expect(() => parseTopicName(bad)).toThrow(/is not a Pub\/Sub topic/);
    }
  });

  it("takes the project from the key, and never quotes the key in an error", () => {
    expect(parseCredentialsJson('{"type":"service_account","project_id":"p9"}').projectId).toBe(
      "p9",
    );
    expect(parseCredentialsJson('{"type":"authorized_user"}').projectId).toBeUndefined();
    try {
      parseCredentialsJson('{"private_key": "-----BEGIN SECRET-----');
      expect.unreachable();
    } catch (err) {
      expect(String(err)).not.toMatch(/SECRET/);
    }
  });

  it("an invalid topic_name fails the health check, not the constructor", async () => {
    const publisher = new GoogleTopicPublisher({ topicName: "projects/p/topics/x/y" });
    await expect(publisher.check()).rejects.toMatchObject({
      kind: "permanent",
      code: "invalid_topic_name",
    });
    await publisher.close();
  });

  it("a key the client cannot use fails the health check without quoting it", async () => {
    vi.stubEnv("PUBSUB_EMULATOR_HOST", ""); // Google's endpoint (never reached: no network here)
    const publisher = new GoogleTopicPublisher({
      topicName: "telemetry",
      credentialsJson: JSON.stringify({
        type: "service_account",
        project_id: "p1",
        private_key: "SECRET-KEY-TEXT",
      }),
    });
    const err = await publisher.check().catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: "permanent", code: "pubsub_credentials" });
    expect((err as Error).message).toMatch(/no usable Google credentials for Pub\/Sub topic/);
    expect((err as Error).message).not.toMatch(/SECRET-KEY-TEXT/);
    await publisher.close();
    vi.unstubAllEnvs();
  });

  it("names the topic in full when the project is known", async () => {
    const byId = new GoogleTopicPublisher({
      topicName: "telemetry",
      credentialsJson: '{"type":"service_account","project_id":"from-key"}',
    });
    expect(byId.topicLabel).toBe("projects/from-key/topics/telemetry");
    const full = new GoogleTopicPublisher({ topicName: "projects/other/topics/telemetry" });
    expect(full.topicLabel).toBe("projects/other/topics/telemetry");
    await Promise.all([byId.close(), full.close()]);
  });
});

import { describe, expect, it } from "vitest";
import { ExporterError } from "../../src/core/errors.js";
import { parseNotification } from "../../src/input/notification.js";

function s3Record(key: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    eventVersion: "2.1",
    eventSource: "aws:s3",
    awsRegion: "us-east-2",
    eventTime: "2024-05-01T12:00:00.000Z",
    eventName: "ObjectCreated:Put",
    s3: {
      s3SchemaVersion: "1.0",
      bucket: { name: "rc-telemetry", arn: "arn:aws:s3:::rc-telemetry" },
      object: { key, size: 1234, eTag: "abc", sequencer: "0055AED6DCD90281E5" },
    },
    ...over,
  };
}

function snsEnvelope(message: unknown): string {
  return JSON.stringify({
    Type: "Notification",
    MessageId: "11111111-2222-3333-4444-555555555555",
    TopicArn: "arn:aws:sns:us-east-2:123456789012:rc-standardizer-file-added-acme",
    Subject: "Amazon S3 Notification",
    Message: message,
    Timestamp: "2024-05-01T12:00:01.000Z",
    SignatureVersion: "1",
    Signature: "sig",
    SigningCertURL: "https://sns.us-east-2.amazonaws.com/cert.pem",
    UnsubscribeURL: "https://sns.us-east-2.amazonaws.com/?Action=Unsubscribe",
  });
}

const testEvent = {
  Service: "Amazon S3",
  Event: "s3:TestEvent",
  Time: "2024-05-01T12:00:00.000Z",
  Bucket: "rc-telemetry",
  RequestId: "X",
  HostId: "Y",
};

/** Asserts the call throws a permanent ExporterError and returns it. */
function failure(body: string, code = "bad_notification"): ExporterError {
  let caught: unknown;
  try {
    parseNotification(body);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ExporterError);
  const err = caught as ExporterError;
  expect(err.code).toBe(code);
  expect(err.kind).toBe("permanent");
  if (body.length > 40) expect(err.message).not.toContain(body);
  return err;
}

describe("parseNotification", () => {
  it("reads an SNS envelope whose Message is a JSON string", () => {
    const body = snsEnvelope(JSON.stringify({ Records: [s3Record("a/b.json.gz")] }));

    const parsed = parseNotification(body);

    expect(parsed).toEqual({
      kind: "objects",
      envelope: "sns",
      snsMessageId: "11111111-2222-3333-4444-555555555555",
      ignored: [],
      objects: [
        {
          bucket: "rc-telemetry",
          key: "a/b.json.gz",
          size: 1234,
          eventName: "ObjectCreated:Put",
          eventTime: "2024-05-01T12:00:00.000Z",
        },
      ],
    });
  });

  it("tolerates an SNS Message that is already an object", () => {
    const parsed = parseNotification(snsEnvelope({ Records: [s3Record("k")] }));
    expect(parsed.kind === "objects" && parsed.objects.map((o) => o.key)).toEqual(["k"]);
  });

  it("reads a raw S3 event (raw delivery or S3 -> SQS)", () => {
    const parsed = parseNotification(JSON.stringify({ Records: [s3Record("x.json.gz")] }));
    expect(parsed).toMatchObject({
      kind: "objects",
      envelope: "raw",
      objects: [{ key: "x.json.gz" }],
    });
    expect(parsed.kind === "objects" && parsed.snsMessageId).toBeUndefined();
  });

  it("keeps every ObjectCreated record of a multi-record event, in order", () => {
    const records = [
      s3Record("one"),
      s3Record("two", { eventName: "ObjectCreated:CompleteMultipartUpload" }),
      s3Record("gone", { eventName: "ObjectRemoved:Delete" }),
      s3Record("three", { eventName: "ObjectCreated:Copy", unknownField: { x: 1 } }),
    ];
    const parsed = parseNotification(snsEnvelope(JSON.stringify({ Records: records })));
    if (parsed.kind !== "objects") throw new Error("expected objects");
    expect(parsed.objects.map((o) => o.key)).toEqual(["one", "two", "three"]);
    expect(parsed.ignored).toEqual([
      { eventName: "ObjectRemoved:Delete", reason: "not an ObjectCreated event" },
    ]);
  });

  it("URL-decodes keys, + meaning space", () => {
    const parsed = parseNotification(
      JSON.stringify({ Records: [s3Record("a+b%3Dc%2Fd.json.gz")] }),
    );
    expect(parsed.kind === "objects" && parsed.objects[0]?.key).toBe("a b=c/d.json.gz");
  });

  it("accepts a message whose every record is ignored", () => {
    const body = JSON.stringify({
      Records: [
        s3Record("a", { eventName: "ObjectRemoved:Delete" }),
        s3Record("b", { eventSource: "aws:sqs", eventName: "ObjectCreated:Put" }),
      ],
    });
    const parsed = parseNotification(body);
    if (parsed.kind !== "objects") throw new Error("expected objects");
    expect(parsed.objects).toEqual([]);
    expect(parsed.ignored.map((i) => i.reason)).toEqual([
      "not an ObjectCreated event",
      'eventSource "aws:sqs" is not aws:s3',
    ]);
  });

  it("omits size and eventTime when absent or not usable", () => {
    const rec = s3Record("k", { eventTime: undefined });
    (rec.s3 as { object: Record<string, unknown> }).object.size = "12";
    const parsed = parseNotification(JSON.stringify({ Records: [rec] }));
    expect(parsed.kind === "objects" && parsed.objects[0]).toEqual({
      bucket: "rc-telemetry",
      key: "k",
      eventName: "ObjectCreated:Put",
    });
  });

  it("recognises the S3 test event, bare and in an SNS envelope", () => {
    expect(parseNotification(JSON.stringify(testEvent))).toEqual({
      kind: "test_event",
      envelope: "raw",
      bucket: "rc-telemetry",
    });
    expect(parseNotification(snsEnvelope(JSON.stringify(testEvent)))).toEqual({
      kind: "test_event",
      envelope: "sns",
      bucket: "rc-telemetry",
    });
  });

  it("accepts eventVersion 2.x and a missing eventVersion", () => {
    for (const eventVersion of ["2.0", "2.1", "2.2", 2, undefined]) {
      const parsed = parseNotification(
        JSON.stringify({ Records: [s3Record("k", { eventVersion })] }),
      );
      expect(parsed.kind).toBe("objects");
    }
  });

  describe("rejects bad bodies as permanent, saying what and where", () => {
    it("not JSON", () => {
      const body = `this is not json at all ${"x".repeat(500)}`;
      const err = failure(body);
      expect(err.message).toMatch(/^SQS message body is not JSON: /);
      expect(err.message.length).toBeLessThan(300);
    });

    it("JSON that is not an object", () => {
      expect(failure("[1,2,3]").message).toContain("not an object (array)");
      expect(failure('"hello"').message).toContain("not an object (string)");
    });

    it("JSON that is neither an S3 event nor a test event", () => {
      const err = failure(JSON.stringify({ hello: "world", padding: "p".repeat(100) }));
      expect(err.message).toBe(
        'SQS message body is neither an S3 event (no "Records" array) nor an S3 test event',
      );
    });

    it("SNS Message that is not JSON", () => {
      const err = failure(snsEnvelope(`not json ${"y".repeat(1000)}`));
      expect(err.message).toMatch(/^SNS envelope field "Message" is not JSON: Unexpected token/);
      expect(err.message.length).toBeLessThan(300);
    });

    it("SNS Message that is JSON but not an S3 event", () => {
      const err = failure(snsEnvelope(JSON.stringify({ foo: 1 })));
      expect(err.message).toContain('SNS envelope field "Message" is neither an S3 event');
    });

    it("SNS Message that is not an object, or missing", () => {
      expect(failure(snsEnvelope("42")).message).toContain("not a JSON object (number)");
      const noMessage = JSON.stringify({ Type: "Notification", TopicArn: "arn", MessageId: "m" });
      expect(failure(noMessage).message).toBe('SNS envelope has no "Message" field');
    });

    it("SNS envelope of another Type", () => {
      const body = JSON.stringify({
        Type: "SubscriptionConfirmation",
        TopicArn: "arn",
        Message: "x",
      });
      expect(failure(body).message).toContain('Type "SubscriptionConfirmation"');
    });

    it("record missing bucket or key", () => {
      const noKey = s3Record("k");
      delete (noKey.s3 as { object: Record<string, unknown> }).object.key;
      const err = failure(snsEnvelope(JSON.stringify({ Records: [s3Record("ok"), noKey] })));
      expect(err.message).toBe(
        'SNS envelope field "Message" Records[1] (ObjectCreated:Put) has no s3.object.key',
      );

      const noBucket = s3Record("k", { s3: { object: { key: "k" } } });
      expect(failure(JSON.stringify({ Records: [noBucket] })).message).toBe(
        "SQS message body Records[0] (ObjectCreated:Put) has no s3.bucket.name",
      );
    });

    it("record that is not an object or has no eventName", () => {
      expect(failure(JSON.stringify({ Records: ["x"] })).message).toContain(
        "Records[0] is not an object (string)",
      );
      const rec = s3Record("k", { eventName: undefined });
      expect(failure(JSON.stringify({ Records: [rec] })).message).toContain(
        'no string "eventName"',
      );
    });

    it("unsupported eventVersion major", () => {
      const body = JSON.stringify({ Records: [s3Record("k", { eventVersion: "3.0" })] });
      const err = failure(body, "unsupported_event_version");
      expect(err.message).toContain('Records[0].eventVersion "3.0" is not supported');
      failure(
        JSON.stringify({ Records: [s3Record("k", { eventVersion: "1.0" })] }),
        "unsupported_event_version",
      );
    });

    it("malformed %-sequence in a key names the key", () => {
      const body = JSON.stringify({ Records: [s3Record("bad%E0%A4%A.json.gz")] });
      const err = failure(body, "bad_object_key");
      expect(err.message).toContain('"bad%E0%A4%A.json.gz"');
    });
  });
});

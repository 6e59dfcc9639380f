import type { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import {
  PutObjectCommand,
  S3Client,
  SelectObjectContentCommand,
  type SelectObjectContentCommandInput,
} from "@aws-sdk/client-s3";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExporterError } from "../../src/core/errors.js";
import type { SourceRef } from "../../src/core/types.js";
import { S3SelectSource, selectUnavailable } from "../../src/input/s3-select-source.js";
import { S3ObjectSource } from "../../src/input/s3-source.js";
import { type S3SelectStandIn, startS3SelectStandIn } from "../../src/local/s3-select-standin.js";
import { type LocalStack, localClientConfig, startLocalStack } from "../../src/local/stack.js";
import { compileWhere } from "../../src/select/where.js";
import { Metrics } from "../../src/telemetry/metrics.js";
import { type FaultProxy, startFaultProxy } from "../helpers/fault-proxy.js";
import { counterValue } from "../helpers/harness.js";

/**
 * S3SelectSource against fauxqs, with the project's S3 Select stand-in in front of it (fauxqs
 * has no Select: it answers the request as if it were DeleteObjects, 200 with XML, which the SDK
 * reports as "Truncated event message received"). The SDK's own event-stream decoder reads the
 * stand-in's answers, so every passing read also checks the framing and CRCs.
 */

const NESTED_CLAUSE =
  "S3Object.data.data.entries[0].event_type_full IN ('process_event', 'image_load_event')";
const FLAT_CLAUSE = "s.event_type_cd = 'process_start' AND s.sensor_id <> 529";

let stack: LocalStack;
let standIn: S3SelectStandIn;
/** Talks to the stand-in (Select answered there, everything else passed to fauxqs). */
let viaStandIn: S3Client;
/** Talks to fauxqs directly. */
let direct: S3Client;

beforeAll(async () => {
  stack = await startLocalStack();
  standIn = await startS3SelectStandIn({ upstream: stack.endpoint });
  viaStandIn = new S3Client(localClientConfig(standIn.endpoint, stack.region));
  direct = new S3Client(localClientConfig(stack.endpoint, stack.region));
});

afterAll(async () => {
  viaStandIn?.destroy();
  direct?.destroy();
  await standIn?.close();
  await stack?.stop();
});

/** A small deterministic generator (tests must not depend on Math.random). */
function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const NESTED_TYPES = ["process_event", "image_load_event", "netconn_event", "filemod_event"];

function nestedLines(count: number, seed = 1): string[] {
  const rnd = prng(seed);
  return Array.from({ length: count }, (_, i) => {
    const type = NESTED_TYPES[Math.floor(rnd() * NESTED_TYPES.length)];
    if (i % 17 === 5) return JSON.stringify({ id: i, data: { data: { entries: [] } } });
    if (i % 23 === 7) return JSON.stringify({ id: i, note: "no data at all" });
    return JSON.stringify({
      id: i,
      data: {
        data: {
          entries: [{ event_type_full: type, path: `C:\\Windows\\prog-${i}.exe`, é: "ü😀" }],
        },
      },
    });
  });
}

const FLAT_TYPES = ["process_start", "process_end", "network_connection", "file_write"];

function flatLines(count: number, seed = 2): string[] {
  const rnd = prng(seed);
  return Array.from({ length: count }, (_, i) =>
    JSON.stringify({
      event_type_cd: FLAT_TYPES[Math.floor(rnd() * FLAT_TYPES.length)],
      sensor_id: 525 + Math.floor(rnd() * 8),
      event_id: `e-${i}`,
      process: { cmdline: `cmd.exe /c echo ${"x".repeat(Math.floor(rnd() * 40))}` },
    }),
  );
}

const text = (lines: readonly string[]) => `${lines.join("\n")}\n`;

async function put(key: string, body: string | Uint8Array): Promise<SourceRef> {
  await stack.s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: key, Body: body }));
  return { bucket: stack.bucket, key };
}

function filtered(lines: readonly string[], clause: string): unknown[] {
  const predicate = compileWhere(clause);
  return lines.map((l) => JSON.parse(l) as unknown).filter((r) => predicate(r));
}

async function readAll(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks).toString("utf8");
}

const parsedLines = (s: string) =>
  s
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as unknown);

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

function capturingLogger() {
  const lines: LogLine[] = [];
  const logger = pino(
    { level: "debug" },
    { write: (s: string) => lines.push(JSON.parse(s) as LogLine) },
  );
  return { logger, lines };
}

function source(
  s3: S3Client,
  clause: string,
  mode: "auto" | "s3",
  extra: { metrics?: Metrics } = {},
) {
  const { logger, lines } = capturingLogger();
  const src = new S3SelectSource({
    s3,
    clause,
    mode,
    fallback: new S3ObjectSource(s3),
    logger,
    ...extra,
  });
  return { src, logs: lines };
}

const signal = () => new AbortController().signal;

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

function selectInput(
  ref: SourceRef,
  expression: string,
  compression: "NONE" | "GZIP",
): SelectObjectContentCommandInput {
  return {
    Bucket: ref.bucket,
    Key: ref.key,
    Expression: expression,
    ExpressionType: "SQL",
    InputSerialization: { CompressionType: compression, JSON: { Type: "LINES" } },
    OutputSerialization: { JSON: { RecordDelimiter: "\n" } },
  };
}

describe("S3SelectSource through the S3 Select stand-in", () => {
  it("selects nested records of a plain object as compileWhere does, in order", async () => {
    const lines = nestedLines(500);
    const ref = await put("select/nested-plain.json", text(lines));
    const { src, logs } = source(viaStandIn, NESTED_CLAUSE, "s3");
    const before = standIn.selectRequests;
    const passedBefore = standIn.passthroughRequests;

    const opened = await src.open(ref, signal());
    const got = parsedLines(await readAll(opened.body));

    const want = filtered(lines, NESTED_CLAUSE);
    expect(want.length).toBeGreaterThan(100);
    expect(want.length).toBeLessThan(lines.length);
    expect(got).toEqual(want);
    expect(opened.preselected).toBe(true);
    expect(standIn.selectRequests).toBe(before + 1);
    // The ranged GetObject that detects the compression went through to fauxqs.
    expect(standIn.passthroughRequests).toBe(passedBefore + 1);
    expect(logs.filter((l) => l.msg.startsWith("reading objects with S3 Select"))).toHaveLength(1);
  });

  it("selects from a gzip object (compression detected from its bytes, not its name)", async () => {
    const lines = nestedLines(400, 7);
    const ref = await put("select/nested-gzip.json", gzipSync(text(lines)));
    const { src, logs } = source(viaStandIn, NESTED_CLAUSE, "s3");

    const openedFirst = await src.open(ref, signal());
    const first = parsedLines(await readAll(openedFirst.body));
    const openedSecond = await src.open(ref, signal());
    const second = parsedLines(await readAll(openedSecond.body));

    expect(first).toEqual(filtered(lines, NESTED_CLAUSE));
    expect(second).toEqual(first);
    // Both reads name the same version, so a failed read may resume on the second.
    expect(openedFirst.version).toMatch(/^S3 Select "[0-9a-f]{32}"$/);
    expect(openedSecond.version).toBe(openedFirst.version);
    const direct = await new S3ObjectSource(stack.s3).open(ref, signal());
    direct.body.destroy();
    expect(direct.version).toBe(openedFirst.version?.replace("S3 Select", "GetObject"));
    expect(logs.filter((l) => l.msg.startsWith("reading objects with"))).toHaveLength(1);
  });

  it("selects flat records from a multi-member gzip object and from a plain one", async () => {
    const lines = flatLines(900);
    const members = Buffer.concat([
      gzipSync(text(lines.slice(0, 300))),
      gzipSync(text(lines.slice(300, 650))),
      gzipSync(text(lines.slice(650))),
    ]);
    const gz = await put("select/flat-multi.gz", members);
    const plain = await put("select/flat-plain.json.gz", text(lines)); // misleading name on purpose
    const { src } = source(viaStandIn, FLAT_CLAUSE, "s3");
    const want = filtered(lines, FLAT_CLAUSE);
    expect(want.length).toBeGreaterThan(50);

    expect(parsedLines(await readAll((await src.open(gz, signal())).body))).toEqual(want);
    expect(parsedLines(await readAll((await src.open(plain, signal())).body))).toEqual(want);
  });

  it("streams a multi-MB object and counts S3's BytesScanned as bytes read", async () => {
    const lines = flatLines(40_000, 11);
    const body = text(lines);
    expect(body.length).toBeGreaterThan(5_000_000);
    const ref = await put("select/large.json", body);
    const metrics = new Metrics();
    const { src } = source(viaStandIn, FLAT_CLAUSE, "s3", { metrics });

    const opened = await src.open(ref, signal());
    let chunks = 0;
    const parts: Buffer[] = [];
    for await (const chunk of opened.body) {
      chunks++;
      parts.push(Buffer.from(chunk as Uint8Array));
    }

    expect(parsedLines(Buffer.concat(parts).toString("utf8"))).toEqual(
      filtered(lines, FLAT_CLAUSE),
    );
    expect(chunks).toBeGreaterThan(3);
    expect(await counterValue(metrics.bytesRead)).toBe(Buffer.byteLength(body));
  });

  it("reads an empty object without a Select request", async () => {
    const ref = await put("select/empty.json", new Uint8Array());
    const { src } = source(viaStandIn, FLAT_CLAUSE, "s3");
    const before = standIn.selectRequests;

    const opened = await src.open(ref, signal());

    expect(await readAll(opened.body)).toBe("");
    expect(standIn.selectRequests).toBe(before);
  });

  it("a missing key is object_missing (permanent)", async () => {
    const { src } = source(viaStandIn, FLAT_CLAUSE, "s3");

    const err = await rejection(src.open({ bucket: stack.bucket, key: "select/nope" }, signal()));

    expect(err).toBeInstanceOf(ExporterError);
    expect((err as ExporterError).code).toBe("object_missing");
    expect((err as ExporterError).kind).toBe("permanent");
  });
});

describe("the stand-in's wire format, read by the SDK's own decoder", () => {
  it("sends Records, then Stats with the byte counts, then End", async () => {
    const lines = flatLines(300, 5);
    const raw = gzipSync(text(lines));
    const ref = await put("wire/flat.gz", raw);

    const res = await viaStandIn.send(
      new SelectObjectContentCommand(
        selectInput(ref, `SELECT * FROM S3Object s WHERE ${FLAT_CLAUSE}`, "GZIP"),
      ),
    );
    const kinds: string[] = [];
    let records = "";
    let stats: { BytesScanned?: number; BytesProcessed?: number; BytesReturned?: number } = {};
    for await (const event of res.Payload ?? []) {
      if (event.Records) {
        kinds.push("Records");
        records += Buffer.from(event.Records.Payload ?? []).toString("utf8");
      } else if (event.Stats) {
        kinds.push("Stats");
        stats = event.Stats.Details ?? {};
      } else if (event.End) kinds.push("End");
    }

    expect(kinds.at(-2)).toBe("Stats");
    expect(kinds.at(-1)).toBe("End");
    expect(kinds.slice(0, -2).every((k) => k === "Records")).toBe(true);
    expect(records.endsWith("\n")).toBe(true);
    expect(parsedLines(records)).toEqual(filtered(lines, FLAT_CLAUSE));
    expect(stats.BytesScanned).toBe(raw.length);
    expect(stats.BytesProcessed).toBe(Buffer.byteLength(text(lines)));
    expect(stats.BytesReturned).toBe(Buffer.byteLength(records));
  });

  it("answers a statement that does not parse with 400 ParseUnexpectedToken", async () => {
    const ref = await put("wire/bad-sql.json", text(flatLines(3)));

    const err = await rejection(
      viaStandIn.send(
        new SelectObjectContentCommand(
          selectInput(ref, "SELECT * FROM S3Object s WHERE s.a = = 'x'", "NONE"),
        ),
      ),
    );

    expect((err as Error).name).toBe("ParseUnexpectedToken");
    expect((err as { $metadata: { httpStatusCode: number } }).$metadata.httpStatusCode).toBe(400);
  });

  it("answers a wrong CompressionType with 400, as S3 does", async () => {
    const plain = await put("wire/plain.json", text(flatLines(3)));
    const gz = await put("wire/zipped.json", gzipSync(text(flatLines(3))));
    const stmt = "SELECT * FROM S3Object s";

    const e1 = await rejection(
      viaStandIn.send(new SelectObjectContentCommand(selectInput(plain, stmt, "GZIP"))),
    );
    const e2 = await rejection(
      viaStandIn.send(new SelectObjectContentCommand(selectInput(gz, stmt, "NONE"))),
    );

    expect((e1 as Error).name).toBe("TruncatedInput");
    expect((e2 as Error).name).toBe("JSONParsingError");
  });

  it("passes the upstream's NoSuchKey on for a Select of a missing key", async () => {
    const ref = { bucket: stack.bucket, key: "wire/missing.json" };

    const err = await rejection(
      viaStandIn.send(
        new SelectObjectContentCommand(selectInput(ref, "SELECT * FROM S3Object s", "NONE")),
      ),
    );

    expect((err as Error).name).toBe("NoSuchKey");
  });
});

describe("failures while records stream", () => {
  let failing: S3SelectStandIn;
  let client: S3Client;
  let proxy: FaultProxy;
  let cutClient: S3Client;

  beforeAll(async () => {
    failing = await startS3SelectStandIn({
      upstream: stack.endpoint,
      failAfterRecords: 40,
      recordsEventBytes: 1024,
    });
    client = new S3Client(localClientConfig(failing.endpoint, stack.region));
    // The fault proxy cuts the Select answer after some bytes: no error event, no End.
    proxy = await startFaultProxy(standIn.endpoint, [
      { method: "POST", path: /\?select/, fault: { kind: "cut", afterBytes: 3000 } },
    ]);
    cutClient = new S3Client(localClientConfig(proxy.endpoint, stack.region));
  });

  afterAll(async () => {
    client?.destroy();
    cutClient?.destroy();
    await proxy?.close();
    await failing?.close();
  });

  it("an error event makes the body fail with a retryable s3_select_failed", async () => {
    const lines = flatLines(3000, 3);
    const ref = await put("fail/error-event.json", text(lines));
    const { src } = source(client, FLAT_CLAUSE, "s3");

    const opened = await src.open(ref, signal());
    const received: string[] = [];
    const err = await rejection(
      (async () => {
        for await (const chunk of opened.body) received.push(Buffer.from(chunk).toString("utf8"));
      })(),
    );

    expect(err).toBeInstanceOf(ExporterError);
    expect((err as ExporterError).code).toBe("s3_select_failed");
    expect((err as ExporterError).kind).toBe("retryable");
    expect((err as ExporterError).message).toContain("InternalError");
    expect(parsedLines(received.join(""))).toEqual(filtered(lines, FLAT_CLAUSE).slice(0, 40));
  });

  it("a stream cut before End makes the body fail with a retryable error", async () => {
    const lines = flatLines(3000, 4);
    const ref = await put("fail/cut.json", text(lines));
    const { src } = source(cutClient, FLAT_CLAUSE, "s3");

    const err = await rejection(
      (async () => {
        const opened = await src.open(ref, signal());
        await readAll(opened.body);
      })(),
    );

    expect(err).toBeInstanceOf(ExporterError);
    expect((err as ExporterError).kind).toBe("retryable");
    expect((err as ExporterError).code).toBe("s3_select_failed");
    expect(proxy.hits[0]).toBeGreaterThan(0);
  });
});

describe("where S3 Select is not available", () => {
  let refusing: S3SelectStandIn;
  let refusingClient: S3Client;

  beforeAll(async () => {
    refusing = await startS3SelectStandIn({ upstream: stack.endpoint, unsupported: true });
    refusingClient = new S3Client(localClientConfig(refusing.endpoint, stack.region));
  });

  afterAll(async () => {
    refusingClient?.destroy();
    await refusing?.close();
  });

  it("fauxqs answers Select with 200 and XML, which the SDK cannot decode", async () => {
    const ref = await put("na/fauxqs-probe.json", text(flatLines(5)));

    const err = await rejection(
      direct.send(
        new SelectObjectContentCommand(selectInput(ref, "SELECT * FROM S3Object s", "NONE")),
      ),
    );

    expect((err as Error).message).toMatch(/Truncated event message received/);
    expect((err as { $metadata: { httpStatusCode: number } }).$metadata.httpStatusCode).toBe(200);
    expect(selectUnavailable(err)).toBe(true);
  });

  for (const target of ["fauxqs", "stand-in answering 405"] as const) {
    it(`auto mode against ${target}: falls back to GetObject for good, warning once`, async () => {
      const s3 = target === "fauxqs" ? direct : refusingClient;
      const lines = nestedLines(200, 9);
      const a = await put(`na/${target}/a.json`, text(lines));
      const b = await put(`na/${target}/b.json`, gzipSync(text(lines)));
      const { src, logs } = source(s3, NESTED_CLAUSE, "auto");
      const refusedBefore = refusing.selectRequests;

      const first = await src.open(a, signal());
      const second = await src.open(b, signal());

      expect(first.preselected ?? false).toBe(false);
      expect(second.preselected ?? false).toBe(false);
      // Every record, as GetObject reads it: the pipeline filters them itself.
      expect(await readAll(first.body)).toBe(text(lines));
      expect((await readAll(second.body)).length).toBeGreaterThan(0);
      const warnings = logs.filter((l) => l.level === 40);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.msg).toMatch(
        /^S3 Select is not available for this bucket\/account \(.+\): evaluating input\.s3_select_where locally from now on$/,
      );
      if (target !== "fauxqs") {
        expect(warnings[0]?.msg).toContain("(MethodNotAllowed)");
        expect(refusing.selectRequests).toBe(refusedBefore + 1);
      }
      expect(logs.filter((l) => l.msg.startsWith("reading objects with"))).toHaveLength(1);
    });

    it(`s3 mode against ${target}: a retryable s3_select_unavailable`, async () => {
      const s3 = target === "fauxqs" ? direct : refusingClient;
      const ref = await put(`na/${target}/s3-mode.json`, text(flatLines(10)));
      const { src } = source(s3, FLAT_CLAUSE, "s3");

      const err = await rejection(src.open(ref, signal()));

      expect(err).toBeInstanceOf(ExporterError);
      expect((err as ExporterError).code).toBe("s3_select_unavailable");
      expect((err as ExporterError).kind).toBe("retryable");
      expect((err as ExporterError).message).toContain("input.s3_select_mode: auto");
    });
  }

  it("after falling back, a missing key is still object_missing", async () => {
    const { src } = source(refusingClient, FLAT_CLAUSE, "auto");
    await src.open(await put("na/present.json", text(flatLines(2))), signal());

    const err = await rejection(src.open({ bucket: stack.bucket, key: "na/missing" }, signal()));

    expect((err as ExporterError).code).toBe("object_missing");
    expect((err as ExporterError).kind).toBe("permanent");
  });
});

describe("selectUnavailable", () => {
  const withStatus = (name: string, status: number, message = "x", contentType?: string) =>
    Object.assign(new Error(message), {
      name,
      $metadata: { httpStatusCode: status },
      $response: {
        statusCode: status,
        headers: contentType ? { "content-type": contentType } : {},
      },
    });
  const truncated = "Truncated event message received.";

  it("recognises the answers of services without Select", () => {
    expect(selectUnavailable(withStatus("MethodNotAllowed", 405))).toBe(true);
    expect(selectUnavailable(withStatus("NotImplemented", 501))).toBe(true);
    // fauxqs: a 200 answer in XML where an event stream was expected.
    expect(selectUnavailable(withStatus("Error", 200, truncated, "application/xml"))).toBe(true);
  });

  it("leaves ordinary failures to the usual classification", () => {
    expect(selectUnavailable(withStatus("NoSuchKey", 404))).toBe(false);
    expect(selectUnavailable(withStatus("AccessDenied", 403))).toBe(false);
    expect(selectUnavailable(withStatus("InternalError", 500))).toBe(false);
    expect(selectUnavailable(withStatus("ParseUnexpectedToken", 400))).toBe(false);
    expect(selectUnavailable(new Error("socket hang up"))).toBe(false);
    expect(selectUnavailable(undefined)).toBe(false);
    // A real event stream cut early stays a retryable failure of this object.
    expect(selectUnavailable(withStatus("Error", 200, truncated, "application/octet-stream"))).toBe(
      false,
    );
    expect(selectUnavailable(withStatus("Error", 200, truncated))).toBe(false);
  });
});

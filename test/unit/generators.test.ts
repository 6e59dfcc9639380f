import { describe, expect, it } from "vitest";
import { buildFleet, DEFAULT_FLEET_SIZE, EXAMPLE_SENSOR_ID } from "../../src/local/fleet.js";
import { CF_FLATTENED_TYPES } from "../../src/local/generators/cf-flattened.js";
import {
  eventTypesOf,
  FILE_SPAN_MS,
  fileBody,
  fileStartMs,
  generateFile,
  generateFileLines,
} from "../../src/local/generators/index.js";
import { NATIVE_TYPES } from "../../src/local/generators/native.js";
import { STANDARDIZED_TYPES } from "../../src/local/generators/standardized.js";
import { deriveSeed, Rng } from "../../src/local/random.js";
import { encodeS3EventKey, s3EventFor, s3TestEvent } from "../../src/local/s3-events.js";
import { objectKeyFor } from "../../src/local/simulator.js";

type Rec = Record<string, unknown>;
const parse = (lines: string[]) => lines.map((l) => JSON.parse(l) as Rec);
const fleet = buildFleet();
const byId = new Map(fleet.map((s) => [s.sensor_id, s]));
const NON_ASCII = /[\u0080-\uffff]/;
const decodeKey = (k: string) => decodeURIComponent(k.replace(/\+/g, " "));
const hasNestedArray = (v: unknown): boolean =>
  Array.isArray(v)
    ? v.some((x) => Array.isArray(x) || hasNestedArray(x))
    : typeof v === "object" && v !== null && Object.values(v).some(hasNestedArray);

describe("seeded random and fleet", () => {
  it("repeats the same sequence for the same seed and stays in range", () => {
    const a = new Rng(deriveSeed(1, 2));
    const b = new Rng(deriveSeed(1, 2));
    const xs = Array.from({ length: 1000 }, () => a.int(3, 7));
    expect(xs).toEqual(Array.from({ length: 1000 }, () => b.int(3, 7)));
    expect(new Set(xs)).toEqual(new Set([3, 4, 5, 6, 7]));
    expect(deriveSeed(1, 2)).not.toBe(deriveSeed(2, 1));
    expect(new Rng(5).uuid()).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });

  it("builds the same fleet every time, with unique ids, every platform and sensor 529", () => {
    expect(buildFleet()).toEqual(fleet);
    expect(fleet).toHaveLength(DEFAULT_FLEET_SIZE);
    expect(new Set(fleet.map((s) => s.sensor_id)).size).toBe(fleet.length);
    expect(new Set(fleet.map((s) => s.hostname)).size).toBe(fleet.length);
    expect(byId.has(EXAMPLE_SENSOR_ID)).toBe(true);
    const count = (p: string) => fleet.filter((s) => s.platform === p).length;
    expect(count("Windows")).toBeGreaterThan(count("MacOS"));
    expect(count("Windows")).toBeGreaterThan(count("Linux"));
    expect(count("Linux")).toBeGreaterThan(0);
    for (const s of fleet) {
      expect(Number.isInteger(s.sensor_id)).toBe(true);
      expect(s.ip_address).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      expect(s.mac_address).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    }
    expect(
      buildFleet({ count: 3 })
        .map((s) => s.platform)
        .sort(),
    ).toEqual(["Linux", "MacOS", "Windows"]);
  });
});

describe("telemetry files", () => {
  it("are a pure function of format, seed, file index and size", () => {
    for (const format of ["native", "standardized", "cf-flattened"] as const) {
      const a = generateFileLines(format, 7, 3, 300);
      expect(generateFileLines(format, 7, 3, 300)).toEqual(a);
      expect(generateFileLines(format, 8, 3, 300)).not.toEqual(a);
      expect(generateFileLines(format, 7, 4, 300)).not.toEqual(a);
      expect(a).toHaveLength(300);
    }
  });

  it("hold one valid JSON object per line, counted by event type", () => {
    for (const format of ["native", "standardized", "cf-flattened"] as const) {
      const { lines, eventTypes } = generateFile(format, 11, 0, 500);
      const field = format === "native" ? "type" : "event_type_cd";
      const counted: Record<string, number> = {};
      for (const line of lines) {
        expect(line).not.toMatch(/[\n\r]/);
        const rec = JSON.parse(line) as Rec;
        expect(typeof rec).toBe("object");
        const t = String(rec[field]);
        counted[t] = (counted[t] ?? 0) + 1;
      }
      expect(counted).toEqual(eventTypes);
      expect(fileBody(lines)).toBe(`${lines.join("\n")}\n`);
    }
  });

  it("standardized: all 18 event types in a 1000-record file, common ones most frequent", () => {
    expect(STANDARDIZED_TYPES).toHaveLength(18);
    const { eventTypes, lines } = generateFile("standardized", 1, 0, 1000);
    expect(Object.keys(eventTypes).sort()).toEqual([...STANDARDIZED_TYPES].sort());
    expect(eventTypes.network_connection).toBeGreaterThan(eventTypes.model_attributes ?? 0);
    expect(eventTypes.process_start).toBeGreaterThan(eventTypes.endpoint ?? 0);
    // Even an 18-line file has each type once.
    expect(Object.keys(generateFile("standardized", 2, 0, 18).eventTypes)).toHaveLength(18);
    for (const r of parse(lines)) {
      expect(byId.has(r.sensor_id as number)).toBe(true);
      expect(Date.parse(r.event_time as string)).not.toBeNaN();
      if (r.event_type_cd === "process_start") {
        const p = r.process as Rec;
        expect(p).toMatchObject({
          pid: expect.any(Number),
          guid: expect.any(String),
          command_line: expect.any(String),
        });
        expect((p.image as Rec).md5).toMatch(/^[0-9A-F]{32}$/);
        expect(r.parent).toBeTypeOf("object");
      }
      if (r.event_type_cd === "network_connection")
        expect(r.network_connection).toBeTypeOf("object");
      if (String(r.event_type_cd).startsWith("registry_"))
        expect((r.registry as Rec).key).toBeTypeOf("string");
    }
  });

  it("native: Carbon Black EDR raw events with their per-type fields", () => {
    const { lines, eventTypes } = generateFile("native", 3, 1, 800);
    expect(Object.keys(eventTypes).sort()).toEqual([...NATIVE_TYPES].sort());
    for (const r of parse(lines)) {
      const sensor = byId.get(r.sensor_id as number);
      expect(sensor?.hostname).toBe(r.computer_name);
      expect(r.timestamp).toBeTypeOf("number");
      expect(r.timestamp as number).toBeGreaterThan(1.7e9);
      expect(r.process_guid).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
      );
      expect(Number.isInteger(r.pid)).toBe(true);
      expect(r.md5).toMatch(/^[0-9A-F]{32}$/);
      expect(r.sha256).toMatch(/^[0-9A-F]{64}$/);
      switch (r.type) {
        case "ingress.event.procstart":
          expect(r).toMatchObject({
            command_line: expect.any(String),
            parent_path: expect.any(String),
            username: expect.any(String),
          });
          break;
        case "ingress.event.netconn":
          expect(r).toMatchObject({
            remote_ip: expect.any(String),
            remote_port: expect.any(Number),
            local_ip: sensor?.ip_address,
            local_port: expect.any(Number),
            domain: expect.any(String),
          });
          expect([6, 17]).toContain(r.protocol);
          expect(["inbound", "outbound"]).toContain(r.direction);
          break;
        case "ingress.event.filemod":
        case "ingress.event.regmod":
          expect(r).toMatchObject({ path: expect.any(String), action: expect.any(String) });
          if (r.type === "ingress.event.regmod") expect(sensor?.platform).toBe("Windows");
          break;
      }
    }
  });

  it("cf-flattened: standardized records from Linux sensors with flat context fields on top", () => {
    const { lines, eventTypes } = generateFile("cf-flattened", 4, 0, 600);
    expect(Object.keys(eventTypes).sort()).toEqual([...CF_FLATTENED_TYPES].sort());
    expect(eventTypesOf("cf-flattened").some((t) => t.startsWith("registry_"))).toBe(false);
    for (const r of parse(lines)) {
      const sensor = byId.get(r.sensor_id as number);
      expect(sensor?.platform).toBe("Linux");
      expect(r).toMatchObject({
        host_name: sensor?.hostname,
        os_platform: "linux",
        user_name: expect.any(String),
      });
      if (r.event_type_cd === "process_start") {
        const p = r.process as Rec;
        expect(r.process_md5).toBe((p.image as Rec).md5);
        expect(r.process_command_line).toBe(p.command_line);
        expect(r.process_md5).toMatch(/^[0-9A-F]{32}$/);
      }
      if (r.event_type_cd === "network_connection") {
        expect(r.remote_ip_address).toBe((r.network_connection as Rec).remote_ip_address);
      }
    }
  });

  it("include non-ASCII text, \\u-escaped lines and nested arrays in every format", () => {
    for (const format of ["native", "standardized", "cf-flattened"] as const) {
      const lines = generateFileLines(format, 5, 0, 1000);
      expect(lines.filter((l) => NON_ASCII.test(l)).length).toBeGreaterThan(5);
      const escaped = lines.filter((l) => /\\u[0-9a-f]{4}/.test(l));
      expect(escaped.length).toBeGreaterThan(0);
      // Escaped text parses to non-ASCII: a re-serialising exporter would change these bytes.
      expect(escaped.some((l) => JSON.stringify(JSON.parse(l)) !== l)).toBe(true);
      if (format !== "native")
        expect(parse(lines).filter(hasNestedArray).length).toBeGreaterThan(5);
    }
  });

  it("spread their records over five minutes from a seed-chosen start", () => {
    const start = fileStartMs(9, 2);
    expect(fileStartMs(9, 3) - start).toBe(FILE_SPAN_MS);
    const times = parse(generateFileLines("native", 9, 2, 400)).map(
      (r) => (r.timestamp as number) * 1000,
    );
    expect(Math.min(...times)).toBeGreaterThanOrEqual(start);
    expect(Math.max(...times)).toBeLessThan(start + FILE_SPAN_MS);
  });
});

describe("S3 notifications", () => {
  it("encode keys as S3 does and decode back with the documented rule", () => {
    const keys = ["a/b c/d=e.json.gz", "x/y (retry+1) é.json.gz", "plain/key.json", "p/q~r!'*.gz"];
    for (const key of keys) expect(decodeKey(encodeS3EventKey(key))).toBe(key);
    expect(encodeS3EventKey("a/b c/d=e+f")).toBe("a/b+c/d%3De%2Bf");
    const prefixed = Array.from({ length: 8 }, (_, i) =>
      objectKeyFor("standardized/ns", 1, i, fileStartMs(1, i), true),
    );
    expect(prefixed.some((k) => k.includes(" ") && k.includes("="))).toBe(true);
    expect(prefixed.some((k) => k.includes("+") && NON_ASCII.test(k))).toBe(true);
    for (const k of prefixed)
      expect(k).toMatch(/^standardized\/ns\/\d{4}\/\d{2}\/\d{2}\/\d{2}\/.+\.json\.gz$/);
  });

  it("build ObjectCreated:Put events and the S3 test event", () => {
    const ev = s3EventFor(
      "bkt",
      [
        { key: "k 1", size: 10, eTag: "abc" },
        { key: "k2", size: 20 },
      ],
      "us-east-2",
    );
    expect(ev.Records).toHaveLength(2);
    expect(ev.Records[0]).toMatchObject({
      eventVersion: "2.1",
      eventSource: "aws:s3",
      awsRegion: "us-east-2",
      eventName: "ObjectCreated:Put",
      s3: {
        s3SchemaVersion: "1.0",
        bucket: { name: "bkt", arn: "arn:aws:s3:::bkt" },
        object: { key: "k+1", size: 10, eTag: "abc" },
      },
    });
    const [a, b] = ev.Records.map((r) => r.s3.object.sequencer);
    expect(a).toMatch(/^[0-9A-F]+$/);
    expect(b && a && b > a).toBe(true);
    expect(s3TestEvent("bkt")).toMatchObject({
      Service: "Amazon S3",
      Event: "s3:TestEvent",
      Bucket: "bkt",
    });
  });
});

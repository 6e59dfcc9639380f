import { createHash, randomBytes } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import { Storage } from "@google-cloud/storage";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type GcsStandIn, startGcsStandIn } from "../../src/local/gcs-standin.js";
import { crc32cBase64 } from "../../src/local/gcs-standin-wire.js";
import { startFaultProxy } from "../helpers/fault-proxy.js";

/**
 * The project's GCS stand-in (src/local/gcs-standin.ts) spoken to over loopback HTTP by the
 * unmodified official client, in both ways the client can be pointed at it: the `apiEndpoint`
 * option (paths under /storage/v1) and STORAGE_EMULATOR_HOST (paths without it).
 */

let standIn: GcsStandIn;
const savedEmulatorHost = process.env.STORAGE_EMULATOR_HOST;

beforeAll(async () => {
  standIn = await startGcsStandIn();
  standIn.createBucket("standin-test");
});

afterAll(async () => {
  await standIn?.close();
});

afterEach(() => {
  if (savedEmulatorHost === undefined) delete process.env.STORAGE_EMULATOR_HOST;
  else process.env.STORAGE_EMULATOR_HOST = savedEmulatorHost;
});

function clientFor(mode: "apiEndpoint" | "STORAGE_EMULATOR_HOST", endpoint = standIn.endpoint) {
  if (mode === "apiEndpoint") {
    delete process.env.STORAGE_EMULATOR_HOST;
    return new Storage({ apiEndpoint: endpoint, projectId: "test-project" });
  }
  process.env.STORAGE_EMULATOR_HOST = endpoint;
  return new Storage({ projectId: "test-project" });
}

function md5(data: Buffer): string {
  return createHash("md5").update(data).digest("base64");
}

describe.each(["apiEndpoint", "STORAGE_EMULATOR_HOST"] as const)(
  "GCS stand-in with the official client (%s)",
  (mode) => {
    it("answers bucket metadata, and 404 in GCS's envelope for a missing bucket", async () => {
      const storage = clientFor(mode);
      const [meta] = await storage.bucket("standin-test").getMetadata();
      expect(meta.name).toBe("standin-test");
      expect(meta.kind).toBe("storage#bucket");
      const [exists] = await storage.bucket("no-such-bucket").exists();
      expect(exists).toBe(false);
      const err = await storage
        .bucket("no-such-bucket")
        .getMetadata()
        .then(
          () => undefined,
          (e: unknown) => e as { code?: number; message?: string; errors?: unknown[] },
        );
      expect(err?.code).toBe(404);
      expect(err?.message).toMatch(/bucket does not exist/);
      expect(err?.errors).toEqual([expect.objectContaining({ reason: "notFound" })]);
    });

    it("takes a multipart upload and serves it back with its metadata and hashes", async () => {
      const storage = clientFor(mode);
      const name = `multipart/${mode}/a b+c/ünï.json`;
      const data = Buffer.from('{"a":1}\n{"b":"ünïcødé ✓"}\n');
      const file = storage.bucket("standin-test").file(name);
      await file.save(data, {
        resumable: false,
        contentType: "application/x-ndjson",
        metadata: { metadata: { origin: "test" } },
        validation: "crc32c",
      });
      const [meta] = await file.getMetadata();
      expect(meta).toMatchObject({
        name,
        bucket: "standin-test",
        size: String(data.length),
        contentType: "application/x-ndjson",
        md5Hash: md5(data),
        crc32c: crc32cBase64(data),
        metadata: { origin: "test" },
      });
      const [downloaded] = await file.download({ validation: "md5" });
      expect(downloaded).toEqual(data);
      expect(standIn.uploads.at(-1)).toMatchObject({ name, uploadType: "multipart" });
    });

    it("takes a resumable upload, in one request and in 256 KiB chunks (308 Resume Incomplete)", async () => {
      const storage = clientFor(mode);
      const data = randomBytes(3 * 1024 * 1024 + 123);
      const whole = storage.bucket("standin-test").file(`resumable/${mode}/whole.bin`);
      await whole.save(data, { resumable: true, validation: "crc32c" });
      expect((await whole.download())[0].equals(data)).toBe(true);
      const chunked = storage.bucket("standin-test").file(`resumable/${mode}/chunked.bin`);
      await chunked.save(data, { resumable: true, chunkSize: 256 * 1024, validation: "md5" });
      expect((await chunked.download())[0].equals(data)).toBe(true);
      const [meta] = await chunked.getMetadata();
      expect(meta.crc32c).toBe(crc32cBase64(data));
      expect(standIn.uploads.filter((u) => u.name.startsWith(`resumable/${mode}/`))).toEqual([
        expect.objectContaining({ uploadType: "resumable", bytes: data.length }),
        expect.objectContaining({ uploadType: "resumable", bytes: data.length }),
      ]);
    });

    it("lists with prefix, delimiter and pages", async () => {
      const storage = clientFor(mode);
      const bucket = storage.bucket("standin-test");
      const names = ["list/a/1", "list/a/2", "list/b/1", "list/c", "list/d", "other/x"];
      for (const n of names) await bucket.file(`${mode}/${n}`).save(n, { resumable: false });
      const [all] = await bucket.getFiles({ prefix: `${mode}/list/`, maxResults: 2 });
      expect(all.map((f) => f.name)).toEqual(names.slice(0, 2).map((n) => `${mode}/${n}`));
      const [paged] = await bucket.getFiles({ prefix: `${mode}/list/`, autoPaginate: true });
      expect(paged.map((f) => f.name)).toEqual(names.slice(0, 5).map((n) => `${mode}/${n}`));
      const [, , apiResponse] = await bucket.getFiles({
        prefix: `${mode}/list/`,
        delimiter: "/",
        autoPaginate: false,
      });
      expect((apiResponse as { prefixes?: string[] }).prefixes).toEqual([
        `${mode}/list/a/`,
        `${mode}/list/b/`,
      ]);
      let pages = 0;
      let query: Record<string, unknown> | null = { prefix: `${mode}/list/`, maxResults: 2 };
      const seen: string[] = [];
      while (query) {
        const [files, next] = await bucket.getFiles({ ...query, autoPaginate: false });
        seen.push(...files.map((f) => f.name));
        pages++;
        query = next as Record<string, unknown> | null;
      }
      expect(pages).toBe(3);
      expect(seen).toEqual(names.slice(0, 5).map((n) => `${mode}/${n}`));
    });

    it("serves a gzip-encoded object as stored to the client, which gunzips it", async () => {
      const storage = clientFor(mode);
      const plain = Buffer.from('{"n":1}\n{"n":2}\n'.repeat(100));
      const gz = gzipSync(plain);
      const file = storage.bucket("standin-test").file(`${mode}/gz/records.json.gz`);
      await file.save(gz, {
        resumable: false,
        contentType: "application/x-ndjson",
        metadata: { contentEncoding: "gzip" },
      });
      const [meta] = await file.getMetadata();
      expect(meta.contentEncoding).toBe("gzip");
      expect(meta.size).toBe(String(gz.length));
      expect((await file.download())[0]).toEqual(plain);
      const [raw] = await file.download({ decompress: false });
      expect(gunzipSync(raw)).toEqual(plain);
    });

    it("deletes objects and answers 404 for missing ones", async () => {
      const storage = clientFor(mode);
      const file = storage.bucket("standin-test").file(`${mode}/to-delete`);
      await file.save("x", { resumable: false });
      await file.delete();
      const [exists] = await file.exists();
      expect(exists).toBe(false);
      const err = await file.download().then(
        () => undefined,
        (e: unknown) => e as { code?: number },
      );
      expect(err?.code).toBe(404);
      const del = await file.delete().then(
        () => undefined,
        (e: unknown) => e as { code?: number },
      );
      expect(del?.code).toBe(404);
    });
  },
);

describe("GCS stand-in protocol details", () => {
  it("speaks the resumable protocol: session URI, 308 with Range, status query, hash check", async () => {
    const base = `${standIn.endpoint}/upload/storage/v1/b/standin-test/o`;
    const start = await fetch(`${base}?uploadType=resumable&name=raw%2Fsession.bin`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-upload-content-type": "text/plain" },
      body: JSON.stringify({ metadata: { k: "v" } }),
    });
    expect(start.status).toBe(200);
    const session = start.headers.get("location") ?? "";
    expect(session).toMatch(/upload_id=/);
    const data = Buffer.from("0123456789abcdefghij");
    const first = await fetch(session, {
      method: "PUT",
      headers: { "content-range": "bytes 0-9/*" },
      body: data.subarray(0, 10),
    });
    expect(first.status).toBe(308);
    expect(first.headers.get("range")).toBe("bytes=0-9");
    const status = await fetch(session, {
      method: "PUT",
      headers: { "content-range": "bytes */*" },
    });
    expect(status.status).toBe(308);
    expect(status.headers.get("range")).toBe("bytes=0-9");
    const badHash = await fetch(session, {
      method: "PUT",
      headers: { "content-range": "bytes 10-19/20", "x-goog-hash": `md5=${md5(Buffer.from("x"))}` },
      body: data.subarray(10),
    });
    expect(badHash.status).toBe(400);
    expect(await badHash.json()).toMatchObject({ error: { code: 400 } });
    // The bytes of that request are kept; sending them again (overlapping) is fine.
    const last = await fetch(session, {
      method: "PUT",
      headers: { "content-range": "bytes 5-19/20", "x-goog-hash": `md5=${md5(data)}` },
      body: data.subarray(5),
    });
    expect(last.status).toBe(200);
    expect(await last.json()).toMatchObject({
      name: "raw/session.bin",
      size: "20",
      contentType: "text/plain",
      md5Hash: md5(data),
      metadata: { k: "v" },
    });
    expect(standIn.object("standin-test", "raw/session.bin")?.data).toEqual(data);
  });

  it("takes uploadType=media", async () => {
    const res = await fetch(
      `${standIn.endpoint}/upload/storage/v1/b/standin-test/o?uploadType=media&name=raw%2Fmedia.txt`,
      { method: "POST", headers: { "content-type": "text/plain" }, body: "hello" },
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ name: "raw/media.txt", size: "5" });
    const down = await fetch(
      `${standIn.endpoint}/storage/v1/b/standin-test/o/raw%2Fmedia.txt?alt=media`,
      { headers: { range: "bytes=1-3" } },
    );
    expect(down.status).toBe(206);
    expect(await down.text()).toBe("ell");
  });

  it("resumes a resumable upload after a 503 on its data request", async () => {
    const proxy = await startFaultProxy(standIn.endpoint, [
      { method: "PUT", path: /upload_id=/, times: 1, fault: { kind: "status", status: 503 } },
    ]);
    try {
      const storage = clientFor("STORAGE_EMULATOR_HOST", proxy.endpoint);
      const data = randomBytes(1024 * 1024);
      const file = storage.bucket("standin-test").file("resumed/after-503.bin");
      // With a precondition the client counts the upload as idempotent and retries it.
      await file.save(data, { resumable: true, preconditionOpts: { ifGenerationMatch: 0 } });
      expect(proxy.hits[0]).toBe(1);
      expect((await file.download())[0].equals(data)).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  it("answers 401 without a bearer token when started with requireAuth", async () => {
    const strict = await startGcsStandIn({ requireAuth: true });
    try {
      strict.createBucket("locked");
      const storage = clientFor("apiEndpoint", strict.endpoint);
      // Against a custom endpoint the client sends no credentials at all.
      const err = await storage
        .bucket("locked")
        .getMetadata()
        .then(
          () => undefined,
          (e: unknown) => e as { code?: number },
        );
      expect(err?.code).toBe(401);
      const ok = await fetch(`${strict.endpoint}/storage/v1/b/locked`, {
        headers: { authorization: "Bearer test-token" },
      });
      expect(ok.status).toBe(200);
    } finally {
      await strict.close();
    }
  });

  it("answers 403 and testPermissions for a caller with only some permissions", async () => {
    const narrow = await startGcsStandIn({ grantedPermissions: ["storage.objects.create"] });
    try {
      narrow.createBucket("writer-only");
      const storage = clientFor("apiEndpoint", narrow.endpoint);
      const bucket = storage.bucket("writer-only");
      const err = await bucket.getMetadata().then(
        () => undefined,
        (e: unknown) => e as { code?: number },
      );
      expect(err?.code).toBe(403);
      const [granted] = await bucket.iam.testPermissions([
        "storage.objects.create",
        "storage.objects.get",
      ]);
      expect(granted).toEqual({ "storage.objects.create": true, "storage.objects.get": false });
      await bucket.file("w").save("x", { resumable: false });
      const read = await bucket
        .file("w")
        .download()
        .then(
          () => undefined,
          (e: unknown) => e as { code?: number },
        );
      expect(read?.code).toBe(403);
    } finally {
      await narrow.close();
    }
  });
});

/**
 * The GCS stand-in's in-memory state (see gcs-standin.ts): buckets, objects with the hashes GCS
 * reports, the resource JSON the JSON API answers with, listing, preconditions, and the optional
 * auth and permission checks. Errors are HttpErrors with GCS's reasons.
 */
import {
  checkHashes,
  crc32cBase64,
  HttpError,
  md5Base64,
  stringField,
} from "./gcs-standin-wire.js";

export interface StandInObject {
  readonly bucket: string;
  readonly name: string;
  readonly data: Buffer;
  readonly contentType: string;
  readonly contentEncoding: string | undefined;
  readonly metadata: Readonly<Record<string, string>> | undefined;
  readonly generation: string;
  readonly created: Date;
  readonly md5Hash: string;
  readonly crc32c: string;
}

/** One completed upload, for tests that check how an object was sent. */
export interface StandInUpload {
  readonly bucket: string;
  readonly name: string;
  readonly uploadType: "multipart" | "media" | "resumable";
  readonly bytes: number;
}

export interface Bucket {
  readonly name: string;
  readonly created: Date;
  readonly objects: Map<string, StandInObject>;
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/;

export class GcsModel {
  readonly buckets = new Map<string, Bucket>();
  readonly uploads: StandInUpload[] = [];
  private readonly granted: ReadonlySet<string> | undefined;
  private lastGeneration = 0;

  constructor(
    private readonly requireAuth: boolean,
    grantedPermissions: readonly string[] | undefined,
  ) {
    this.granted = grantedPermissions ? new Set(grantedPermissions) : undefined;
  }

  static validBucketName(name: string): boolean {
    return BUCKET_NAME.test(name);
  }

  createBucket(name: string): Bucket {
    if (!BUCKET_NAME.test(name)) throw new Error(`invalid bucket name ${JSON.stringify(name)}`);
    let bucket = this.buckets.get(name);
    if (!bucket) {
      bucket = { name, created: new Date(), objects: new Map() };
      this.buckets.set(name, bucket);
    }
    return bucket;
  }

  bucket(name: string): Bucket {
    const bucket = this.buckets.get(name);
    if (!bucket) throw new HttpError(404, "notFound", "The specified bucket does not exist.");
    return bucket;
  }

  object(bucketName: string, name: string, generation: string | null): StandInObject {
    const obj = this.bucket(bucketName).objects.get(name);
    if (!obj || (generation !== null && generation !== obj.generation)) {
      throw new HttpError(404, "notFound", `No such object: ${bucketName}/${name}`);
    }
    return obj;
  }

  /** Stores a completed upload (checking its preconditions and any hashes in `meta`). */
  store(
    bucketName: string,
    name: string,
    data: Buffer,
    meta: Record<string, unknown>,
    ifGenerationMatch: string | undefined,
    uploadType: StandInUpload["uploadType"],
  ): StandInObject {
    const bucket = this.bucket(bucketName);
    const existing = bucket.objects.get(name);
    if (ifGenerationMatch !== undefined && ifGenerationMatch !== (existing?.generation ?? "0")) {
      throw new HttpError(
        412,
        "conditionNotMet",
        "At least one of the pre-conditions you specified did not hold.",
      );
    }
    checkHashes(data, stringField(meta, "crc32c"), stringField(meta, "md5Hash"));
    const custom = meta.metadata;
    const obj: StandInObject = {
      bucket: bucketName,
      name,
      data,
      contentType: stringField(meta, "contentType") ?? "application/octet-stream",
      contentEncoding: stringField(meta, "contentEncoding"),
      metadata:
        custom && typeof custom === "object" ? (custom as Record<string, string>) : undefined,
      generation: String(this.nextGeneration()),
      created: new Date(),
      md5Hash: md5Base64(data),
      crc32c: crc32cBase64(data),
    };
    bucket.objects.set(name, obj);
    this.uploads.push({ bucket: bucketName, name, uploadType, bytes: data.length });
    return obj;
  }

  /** `objects.list`: prefix, delimiter, maxResults, pageToken, startOffset, endOffset. */
  list(bucketName: string, q: URLSearchParams): Record<string, unknown> {
    const bucket = this.bucket(bucketName);
    const prefix = q.get("prefix") ?? "";
    const delimiter = q.get("delimiter") ?? "";
    const max = Math.max(1, Math.min(Number(q.get("maxResults") ?? 1000) || 1000, 1000));
    const token = q.get("pageToken");
    const after = token ? Buffer.from(token, "base64url").toString("utf8") : undefined;
    const start = q.get("startOffset") ?? undefined;
    const end = q.get("endOffset") ?? undefined;
    const names = [...bucket.objects.keys()]
      .filter((n) => n.startsWith(prefix))
      .filter((n) => (start === undefined || n >= start) && (end === undefined || n < end))
      .sort();
    const items: StandInObject[] = [];
    const prefixes = new Set<string>();
    let lastEntry = "";
    let nextPageToken: string | undefined;
    for (const n of names) {
      // With a delimiter, the names below a "folder" are listed once, as that prefix.
      const folderEnd = delimiter ? n.indexOf(delimiter, prefix.length) : -1;
      const entry = folderEnd < 0 ? n : n.slice(0, folderEnd + delimiter.length);
      if ((after !== undefined && entry <= after) || prefixes.has(entry)) continue;
      if (items.length + prefixes.size >= max) {
        nextPageToken = Buffer.from(lastEntry).toString("base64url");
        break;
      }
      if (entry !== n) prefixes.add(entry);
      else items.push(bucket.objects.get(n) as StandInObject);
      lastEntry = entry;
    }
    const body: Record<string, unknown> = { kind: "storage#objects" };
    if (prefixes.size > 0) body.prefixes = [...prefixes];
    if (items.length > 0) body.items = items.map(objectResource);
    if (nextPageToken) body.nextPageToken = nextPageToken;
    return body;
  }

  /** With `requireAuth`: 401 without `Authorization: Bearer <something>` (never verified). */
  authorize(authorization: string | undefined): void {
    if (!this.requireAuth) return;
    if (!/^Bearer\s+\S+/i.test(authorization ?? "")) {
      throw new HttpError(
        401,
        "required",
        "Anonymous caller does not have access to the Google Cloud Storage resource. Login Required.",
      );
    }
  }

  /** With `grantedPermissions`: 403 for a permission not in the list. */
  permit(permission: string, bucket: string | undefined): void {
    if (this.granted && !this.granted.has(permission)) {
      const on = bucket === undefined ? "the project" : `the Google Cloud Storage bucket ${bucket}`;
      throw new HttpError(
        403,
        "forbidden",
        `stand-in-caller does not have ${permission} access to ${on}. Permission '${permission}' denied on resource (or it may not exist).`,
      );
    }
  }

  /** `iam/testPermissions`: the asked permissions the caller holds. */
  heldPermissions(asked: readonly string[]): string[] {
    return asked.filter((p) => !this.granted || this.granted.has(p));
  }

  private nextGeneration(): number {
    this.lastGeneration = Math.max(this.lastGeneration + 1, Date.now() * 1000);
    return this.lastGeneration;
  }
}

export function bucketResource(b: Bucket) {
  const time = b.created.toISOString();
  return {
    kind: "storage#bucket",
    id: b.name,
    name: b.name,
    projectNumber: "0",
    metageneration: "1",
    location: "US",
    locationType: "multi-region",
    storageClass: "STANDARD",
    timeCreated: time,
    updated: time,
    etag: "CAE=",
  };
}

export function objectResource(o: StandInObject) {
  const time = o.created.toISOString();
  const path = `b/${encodeURIComponent(o.bucket)}/o/${encodeURIComponent(o.name)}`;
  return {
    kind: "storage#object",
    id: `${o.bucket}/${o.name}/${o.generation}`,
    selfLink: `http://127.0.0.1/storage/v1/${path}`,
    mediaLink: `http://127.0.0.1/download/storage/v1/${path}?generation=${o.generation}&alt=media`,
    name: o.name,
    bucket: o.bucket,
    generation: o.generation,
    metageneration: "1",
    contentType: o.contentType,
    ...(o.contentEncoding ? { contentEncoding: o.contentEncoding } : {}),
    ...(o.metadata ? { metadata: o.metadata } : {}),
    storageClass: "STANDARD",
    size: String(o.data.length),
    md5Hash: o.md5Hash,
    crc32c: o.crc32c,
    etag: Buffer.from(o.generation).toString("base64"),
    timeCreated: time,
    updated: time,
    timeStorageClassUpdated: time,
  };
}

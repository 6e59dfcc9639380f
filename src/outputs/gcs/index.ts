import type { Output, OutputContext } from "../../core/types.js";
import { BatchingObjectOutput, objectOutputSettings } from "../common/batching-object-output.js";
import type { GcsOutputConfig } from "./config.js";
import { createGcsClient } from "./gcs-client.js";
import { GcsObjectStore } from "./gcs-object-store.js";

export { createGcsClient, parseCredentialsJson } from "./gcs-client.js";
export { GcsObjectStore, RESUMABLE_ABOVE_BYTES } from "./gcs-object-store.js";

/**
 * The `google_cloud_storage` output: records batched into JSON-lines objects (gzip optional) by
 * the shared engine, named `<object_key_prefix>/YYYY/MM/DD/HH/canary-exporter-...json[.gz]`,
 * uploaded to `bucket_name` with the official client. The registry's factory:
 * `google_cloud_storage: (cfg, ctx, id) => createGcsOutput(cfg, ctx, id)`.
 */
export function createGcsOutput(cfg: GcsOutputConfig, ctx: OutputContext, id: string): Output {
  const { storage, secrets } = createGcsClient(cfg);
  const store = new GcsObjectStore(storage, {
    bucket: cfg.bucket_name,
    prefix: cfg.object_key_prefix,
    secrets,
  });
  return new BatchingObjectOutput(
    store,
    objectOutputSettings("google_cloud_storage", id, cfg.object_key_prefix, cfg),
    ctx,
  );
}

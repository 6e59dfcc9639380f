import type { Output, OutputContext } from "../../core/types.js";
import { BatchingObjectOutput, objectOutputSettings } from "../common/batching-object-output.js";
import { AzureBlobStore, type AzureBlobStoreOptions } from "./azure-blob-store.js";
import type { AzureBlobOutputConfig } from "./config.js";
import type { AzureEnv } from "./credentials.js";

export { AzureBlobStore, type AzureBlobStoreOptions } from "./azure-blob-store.js";

/**
 * The `azure_blob` output: JSON-lines block blobs (gzip when `compression_format: gzip`) named
 * `<blob_name_prefix>/YYYY/MM/DD/HH/canary-exporter-<time>-<instance>-<seq>.json[.gz]`, uploaded
 * when they reach `max_size_bytes` or `flush_interval_seconds` after their first record.
 * `env` (default process.env) supplies the credentials and endpoint the config leaves out;
 * `store` overrides upload tuning (tests).
 */
export function createAzureBlobOutput(
  cfg: AzureBlobOutputConfig,
  ctx: OutputContext,
  id: string,
  env: AzureEnv = process.env,
  store: Partial<AzureBlobStoreOptions> = {},
): Output {
  const blobStore = new AzureBlobStore({
    account: cfg.storage_account_name,
    container: cfg.container_name,
    prefix: cfg.blob_name_prefix,
    accessKey: cfg.storage_access_key,
    env,
    logger: ctx.logger.child({ output: id }),
    ...store,
  });
  return new BatchingObjectOutput(
    blobStore,
    objectOutputSettings("azure_blob", id, cfg.blob_name_prefix, cfg),
    ctx,
  );
}

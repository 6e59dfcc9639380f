import type { S3Client } from "@aws-sdk/client-s3";
import type { Output, OutputContext } from "../../core/types.js";
import { BatchingObjectOutput, objectOutputSettings } from "../common/batching-object-output.js";
import type { S3OutputConfig } from "./config.js";
import { createS3OutputClient } from "./s3-client.js";
import { S3ObjectStore } from "./s3-object-store.js";

export { createS3OutputClient, s3OutputRegion } from "./s3-client.js";
export { S3ObjectStore } from "./s3-object-store.js";

/**
 * The `s3` output: records batched into JSON-lines objects (gzip optional) by the shared engine,
 * uploaded to the user's bucket. Closing it flushes, then releases the client's sockets.
 */
export class S3Output extends BatchingObjectOutput {
  constructor(
    private readonly client: S3Client,
    cfg: S3OutputConfig,
    ctx: OutputContext,
    id: string,
  ) {
    const secrets = [cfg.aws_access_key_id, cfg.aws_secret_access_key].filter(
      (s): s is string => typeof s === "string" && s !== "",
    );
    super(
      new S3ObjectStore(client, {
        bucket: cfg.bucket_name,
        prefix: cfg.object_key_prefix,
        secrets,
      }),
      objectOutputSettings("s3", id, cfg.object_key_prefix, cfg),
      ctx,
    );
  }

  override async close(): Promise<void> {
    try {
      await super.close();
    } finally {
      this.client.destroy();
    }
  }
}

/** The registry's factory: `s3: (cfg, ctx, id) => createS3Output(cfg, ctx, id)`. */
export function createS3Output(cfg: S3OutputConfig, ctx: OutputContext, id: string): Output {
  return new S3Output(createS3OutputClient(cfg), cfg, ctx, id);
}

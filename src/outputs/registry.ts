import type { OutputConfig } from "../config/index.js";
import type { Output, OutputContext } from "../core/types.js";
import { createAzureBlobOutput } from "./azure-blob/index.js";
import { RotatingFileOutput } from "./file/rotating-file-output.js";
import { createGcsOutput } from "./gcs/index.js";
import { createKinesisOutput } from "./kinesis/index.js";
import { createPubSubOutput } from "./pubsub/index.js";
import { createS3Output } from "./s3/index.js";

/**
 * One line per output type: the only place that constructs outputs. Keep it in step with
 * IMPLEMENTED_OUTPUTS (config/outputs.ts), which makes the config loader refuse the others.
 */
const factories: Partial<{
  [K in OutputConfig["type"]]: (
    cfg: Extract<OutputConfig, { type: K }>["config"],
    ctx: OutputContext,
    id: string,
  ) => Output;
}> = {
  file: (cfg, ctx, id) => new RotatingFileOutput(cfg, ctx, id),
  kinesis: (cfg, ctx, id) => createKinesisOutput(cfg, ctx, id),
  s3: (cfg, ctx, id) => createS3Output(cfg, ctx, id),
  azure_blob: (cfg, ctx, id) => createAzureBlobOutput(cfg, ctx, id),
  google_cloud_pubsub: (cfg, ctx, id) => createPubSubOutput(cfg, ctx, id),
  google_cloud_storage: (cfg, ctx, id) => createGcsOutput(cfg, ctx, id),
};

export function outputId(o: OutputConfig): string {
  return `${o.type}[${o.index}]`;
}

export function createOutput(o: OutputConfig, ctx: OutputContext): Output {
  const factory = factories[o.type] as
    | ((cfg: unknown, ctx: OutputContext, id: string) => Output)
    | undefined;
  if (!factory) {
    throw new Error(`the ${o.type} output is not supported yet in this version`);
  }
  return factory(o.config, ctx, outputId(o));
}

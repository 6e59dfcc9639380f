/**
 * The output registry: YAML key -> settings schema. Adding an output type means one line here,
 * one in OutputConfigByType, and a folder under src/outputs/.
 */
import type { z } from "zod";
import { azureBlobOutputSchema } from "../outputs/azure-blob/config.js";
import { fileOutputSchema } from "../outputs/file/config.js";
import { gcsOutputSchema } from "../outputs/gcs/config.js";
import { kinesisOutputSchema } from "../outputs/kinesis/config.js";
import { pubsubOutputSchema } from "../outputs/pubsub/config.js";
import { s3OutputSchema } from "../outputs/s3/config.js";

export type { AzureBlobOutputConfig } from "../outputs/azure-blob/config.js";
export type { FileOutputConfig } from "../outputs/file/config.js";
export type { GcsOutputConfig } from "../outputs/gcs/config.js";
export type { KinesisOutputConfig } from "../outputs/kinesis/config.js";
export type { PubsubOutputConfig } from "../outputs/pubsub/config.js";
export type { S3OutputConfig } from "../outputs/s3/config.js";

/** In the order of the guide's template (also the order `validate` lists them in). */
export const OUTPUT_SCHEMAS = {
  file: fileOutputSchema,
  kinesis: kinesisOutputSchema,
  s3: s3OutputSchema,
  azure_blob: azureBlobOutputSchema,
  google_cloud_storage: gcsOutputSchema,
  google_cloud_pubsub: pubsubOutputSchema,
} as const;

export type OutputType = keyof typeof OUTPUT_SCHEMAS;

export const OUTPUT_TYPES = Object.keys(OUTPUT_SCHEMAS) as OutputType[];

export function isOutputType(name: string): name is OutputType {
  return Object.hasOwn(OUTPUT_SCHEMAS, name);
}

/**
 * Output types this build can run. The config accepts every type of the guide; `validate` and
 * `run` refuse the others with a clear message instead of starting without them.
 */
export const IMPLEMENTED_OUTPUTS: ReadonlySet<string> = new Set<OutputType>([
  "file",
  "kinesis",
  "azure_blob",
  "s3",
  "google_cloud_pubsub",
  "google_cloud_storage",
]);

export type OutputConfigByType = {
  [K in OutputType]: z.output<(typeof OUTPUT_SCHEMAS)[K]>;
};

/** One configured output; `index` is its position in `outputs:` (names it in logs: `file[0]`). */
export type OutputConfig = {
  [K in OutputType]: { type: K; index: number; config: OutputConfigByType[K] };
}[OutputType];

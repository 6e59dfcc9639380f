/** `outputs: - kinesis:` settings. Keys exactly as in the guide's template. */
import { z } from "zod";
import {
  awsRegion,
  exportOnlyWhere,
  integer,
  matching,
  optional,
  secret,
  withDefault,
} from "../../config/fields.js";

export const kinesisOutputSchema = z.strictObject({
  /** A Kinesis Data Streams stream name (not an ARN). */
  stream_name: matching(
    /^[A-Za-z0-9_.-]{1,128}$/,
    "expected a Kinesis stream name (letters, digits, _ . -, at most 128)",
  ),
  /** Records per PutRecords call; the API takes at most 500. */
  max_records_to_buffer_before_sending: withDefault(integer({ min: 1, max: 500 }), 500),
  /** Both or neither, as for s3 (checked in config/normalize.ts). */
  aws_access_key_id: optional(secret),
  aws_secret_access_key: optional(secret),
  /** Absent: AWS_REGION, then AWS_DEFAULT_REGION, then us-east-1. */
  aws_region: optional(awsRegion),
  export_only_where: exportOnlyWhere,
});

export type KinesisOutputConfig = z.output<typeof kinesisOutputSchema>;

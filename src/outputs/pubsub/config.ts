/** `outputs: - google_cloud_pubsub:` settings. Keys exactly as in the guide's template. */
import { z } from "zod";
import {
  compressionFormat,
  credentialsJson,
  exportOnlyWhere,
  optional,
  text,
  withDefault,
} from "../../config/fields.js";

export const pubsubOutputSchema = z.strictObject({
  /** A topic id, or its full name `projects/<project>/topics/<topic>`. */
  topic_name: text("expected a topic name"),
  /** As for google_cloud_storage: absent means Application Default Credentials. */
  credentials_json: optional(credentialsJson),
  /** Applies to each message's data. */
  compression_format: withDefault(compressionFormat, "none"),
  export_only_where: exportOnlyWhere,
});

export type PubsubOutputConfig = z.output<typeof pubsubOutputSchema>;

/**
 * `topic_name` comes in two forms: a topic id (`telemetry`), whose project is found the way
 * Google's clients find it (credentials_json's `project_id`, GOOGLE_CLOUD_PROJECT, the
 * application default credentials, the metadata server), or a full name
 * `projects/<project>/topics/<topic>`, which names its project itself.
 */
import { ExporterError } from "../../core/errors.js";

export type TopicRef =
  | { readonly form: "full"; readonly project: string; readonly topic: string }
  | { readonly form: "id"; readonly topic: string };

/** Pub/Sub's rule for topic ids: 3-255 characters, a letter first, not starting with "goog". */
const TOPIC_ID = /^[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/;
const FULL_NAME = /^projects\/([^/\s]+)\/topics\/([^/\s]+)$/;

/** Parses `topic_name`; throws a permanent ExporterError saying what a valid one looks like. */
export function parseTopicName(name: string): TopicRef {
  const trimmed = name.trim();
  const full = FULL_NAME.exec(trimmed);
  if (full) {
    const [, project = "", topic = ""] = full;
    checkTopicId(topic, name);
    return { form: "full", project, topic };
  }
  if (trimmed.includes("/")) {
    throw invalid(
      name,
      "a full topic name has the form projects/<project>/topics/<topic> (no other slashes)",
    );
  }
  checkTopicId(trimmed, name);
  return { form: "id", topic: trimmed };
}

/** The full name of a topic once its project is known. */
export function fullTopicName(ref: TopicRef, project: string): string {
  return `projects/${ref.form === "full" ? ref.project : project}/topics/${ref.topic}`;
}

function checkTopicId(topic: string, name: string): void {
  if (!TOPIC_ID.test(topic) || topic.toLowerCase().startsWith("goog")) {
    throw invalid(
      name,
      "a topic id is 3 to 255 characters, starts with a letter, holds only letters, digits and - _ . ~ + %, and does not start with goog",
    );
  }
}

function invalid(name: string, why: string): ExporterError {
  return new ExporterError(
    "invalid_topic_name",
    "permanent",
    `topic_name ${JSON.stringify(name)} is not a Pub/Sub topic: ${why}`,
  );
}

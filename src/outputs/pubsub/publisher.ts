/**
 * What the Pub/Sub output needs from Google's client, behind our own small interface so that
 * the output's logic (per-record acknowledgement, retries, dead letter) is tested with a fake.
 * GoogleTopicPublisher is the real one: `@google-cloud/pubsub`, which honours
 * PUBSUB_EMULATOR_HOST by itself.
 */
import { type ClientConfig, PubSub, type Topic } from "@google-cloud/pubsub";
import { describeError, ExporterError } from "../../core/errors.js";
import { parseCredentialsJson } from "./credentials.js";
import { GrpcStatus, grpcStatus, toPubSubError } from "./errors.js";
import { MAX_MESSAGE_BYTES, type OutgoingMessage } from "./messages.js";
import { fullTopicName, parseTopicName, type TopicRef } from "./topic-name.js";

export interface TopicPublisher {
  /** The topic for messages: its full name once known, else topic_name as written. */
  readonly topicLabel: string;
  /**
   * Rejects with a permanent ExporterError when publishing cannot work at all (invalid
   * topic_name or credentials, no project for a topic id, missing topic, no permission).
   */
  check(signal?: AbortSignal): Promise<void>;
  /** Resolves when Pub/Sub has acknowledged (stored) the message; rejects with the client's error. */
  publish(message: OutgoingMessage): Promise<void>;
  /** Sends what is batched now and waits for the requests in flight. Never rejects. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface GoogleTopicPublisherOptions {
  readonly topicName: string;
  readonly credentialsJson?: string | undefined;
  /**
   * How long the client may spend on one publish request, its own retries of transient errors
   * included, before the write fails (and the pipeline retries it). Default 60 s, the client's.
   */
  readonly publishTimeoutMs?: number;
  /** How long the client lets a batch fill before sending it. */
  readonly maxBatchDelayMs?: number;
  /**
   * `host:port` of a Pub/Sub-compatible endpoint instead of Google's (tests put a fault gate in
   * front of the emulator). Users set PUBSUB_EMULATOR_HOST, which the client reads itself.
   */
  readonly apiEndpoint?: string;
}

/** The permission a publisher needs; roles/pubsub.publisher grants it. */
const PUBLISH_PERMISSION = "pubsub.topics.publish";

export class GoogleTopicPublisher implements TopicPublisher {
  private readonly setupError: ExporterError | undefined;
  private readonly ref: TopicRef | undefined;
  private readonly pubsub: PubSub | undefined;
  private readonly topic: Topic | undefined;
  private label: string;
  private flushing: Promise<void> | undefined;

  constructor(opts: GoogleTopicPublisherOptions) {
    this.label = opts.topicName;
    try {
      const ref = parseTopicName(opts.topicName);
      const creds =
        opts.credentialsJson === undefined ? undefined : parseCredentialsJson(opts.credentialsJson);
      // A full name carries its project; a topic id takes the key's project_id, else the
      // client finds one (GOOGLE_CLOUD_PROJECT, application default credentials, metadata).
      const projectId = ref.form === "full" ? ref.project : creds?.projectId;
      const config: ClientConfig = {};
      if (projectId !== undefined) config.projectId = projectId;
      if (creds !== undefined) config.credentials = creds.credentials;
      if (opts.apiEndpoint !== undefined) config.apiEndpoint = opts.apiEndpoint;
      this.ref = ref;
      this.pubsub = new PubSub(config);
      this.topic = this.pubsub.topic(ref.form === "full" ? fullTopicName(ref, "") : ref.topic, {
        batching: {
          maxMessages: 1000,
          maxBytes: MAX_MESSAGE_BYTES,
          maxMilliseconds: opts.maxBatchDelayMs ?? 50,
        },
        gaxOpts: { timeout: opts.publishTimeoutMs ?? 60_000 },
      });
      if (ref.form === "full" || projectId !== undefined) {
        this.label = fullTopicName(ref, projectId ?? "");
      }
    } catch (err) {
      this.setupError =
        err instanceof ExporterError
          ? err
          : new ExporterError("pubsub_setup", "permanent", describeError(err), { cause: err });
    }
  }

  get topicLabel(): string {
    return this.label;
  }

  async check(signal?: AbortSignal): Promise<void> {
    const work = this.checkTopic();
    if (!signal) return work;
    // The client takes no AbortSignal: stop waiting, and let the call end on its own timeout.
    work.catch(() => undefined);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () =>
        reject(
          new ExporterError(
            "pubsub_check_timeout",
            "retryable",
            `checking Pub/Sub topic ${this.label} did not finish in time (is Pub/Sub reachable?)`,
          ),
        );
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
  }

  async publish(message: OutgoingMessage): Promise<void> {
    const topic = this.ready();
    // The client reads the attributes and never changes them.
    const attributes = message.attributes as Record<string, string>;
    await topic.publishMessage({ data: message.data, attributes });
  }

  async flush(): Promise<void> {
    const topic = this.topic;
    if (!topic) return;
    // One at a time: the exporter flushes every second while draining, and each client flush
    // that fails leaves a listener behind until the next success.
    this.flushing ??= topic
      .flush()
      // A failed request rejects its messages' publish() calls, which the writers report.
      .catch(() => undefined)
      .finally(() => {
        this.flushing = undefined;
      });
    await this.flushing;
  }

  async close(): Promise<void> {
    if (!this.pubsub) return;
    await this.flush();
    // Rejects when the channel never came up (credentials that could not be loaded): there is
    // nothing to release then, and the failure was already reported by check or publish.
    await this.pubsub.close().catch(() => undefined);
  }

  private ready(): Topic {
    if (this.setupError) throw this.setupError;
    if (!this.topic) throw new ExporterError("pubsub_setup", "permanent", "no Pub/Sub topic");
    return this.topic;
  }

  private async checkTopic(): Promise<void> {
    const topic = this.ready();
    await this.loadCredentials();
    await this.resolveProject();
    // testIamPermissions needs no permission of its own, so a publisher-only account
    // (roles/pubsub.publisher cannot read the topic) passes; the emulator has no IAM.
    let granted: boolean | undefined;
    try {
      const [permissions] = await topic.iam.testPermissions(PUBLISH_PERMISSION);
      granted = permissions[PUBLISH_PERMISSION] === true;
    } catch (err) {
      if (grpcStatus(err) !== GrpcStatus.UNIMPLEMENTED) throw toPubSubError(err, this.label, "use");
    }
    if (granted === false) {
      throw new ExporterError(
        "pubsub_permission_denied",
        "permanent",
        `the credentials lack ${PUBLISH_PERMISSION} on Pub/Sub topic ${this.label}; grant them roles/pubsub.publisher on the topic`,
      );
    }
    if (granted === undefined) {
      try {
        await topic.getMetadata();
      } catch (err) {
        throw toPubSubError(err, this.label, "use");
      }
    }
  }

  /**
   * Loads the credentials before any call, so that missing ones fail here with our message
   * (the client's IAM call would also print its own stack to stderr). No network for a key;
   * the emulator needs none.
   */
  private async loadCredentials(): Promise<void> {
    const pubsub = this.pubsub;
    if (!pubsub || pubsub.isEmulator) return;
    try {
      await pubsub.auth.getClient();
    } catch (err) {
      throw new ExporterError(
        "pubsub_credentials",
        "permanent",
        `no usable Google credentials for Pub/Sub topic ${this.label} (${describeError(err).replace(/\s+/g, " ").trim()}); set credentials_json, or provide application default credentials (GOOGLE_APPLICATION_CREDENTIALS, a workload identity, or an attached service account)`,
        { cause: err },
      );
    }
  }

  /** For a topic id, the project the client found; refuses when there is none. */
  private async resolveProject(): Promise<void> {
    const ref = this.ref;
    const pubsub = this.pubsub;
    if (!ref || !pubsub || ref.form === "full") return;
    let project: string | undefined;
    let why = "";
    try {
      await pubsub.getClientConfig();
      project = pubsub.projectId;
    } catch (err) {
      const status = grpcStatus(err);
      if (status !== undefined) throw toPubSubError(err, this.label, "use");
      why = ` (${describeError(err).replace(/\s+/g, " ").trim()})`;
    }
    if (!project || project.includes("{{projectId}}")) {
      throw new ExporterError(
        "pubsub_no_project",
        "permanent",
        `topic_name ${JSON.stringify(ref.topic)} is a topic id without a project, and no project was found${why}: write topic_name as projects/<project>/topics/${ref.topic}, or set GOOGLE_CLOUD_PROJECT`,
      );
    }
    this.label = fullTopicName(ref, project);
  }
}

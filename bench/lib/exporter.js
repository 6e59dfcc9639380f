import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";

/**
 * The exporter as a separate process (`node dist/cli/main.js run -c <config>`), so that its
 * memory and CPU are its own and not the local server's. Progress comes from its Prometheus
 * endpoint; memory and CPU from /proc (Linux).
 */

const MAIN = new URL("../../dist/cli/main.js", import.meta.url).pathname;
const CLK_TCK = 100; // USER_HZ: the unit of /proc/<pid>/stat times on Linux

/** A loopback port that was free a moment ago (for the exporter's metrics listener). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** VmRSS, VmHWM in bytes and CPU seconds (user, system) of a live process. */
export function procSample(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
  // Fields after the command name (which may hold spaces) start at field 3 (state).
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return {
    rss: kb("VmRSS") * 1024,
    hwm: kb("VmHWM") * 1024,
    user: Number(fields[11]) / CLK_TCK,
    system: Number(fields[12]) / CLK_TCK,
  };
}

/** CPU seconds all processes of the machine spent busy so far (/proc/stat, every core). */
export function machineBusySeconds() {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  // cpu user nice system idle iowait irq softirq steal ...
  const [user, nice, system, , , irq, softirq, steal] = line
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return (user + nice + system + irq + softirq + (steal ?? 0)) / CLK_TCK;
}

/** Sums of `canary_exporter_*` samples by metric name (labels summed), and per label set. */
export function parseMetrics(text) {
  const totals = {};
  const labelled = {};
  for (const line of text.split("\n")) {
    const m = /^canary_exporter_([a-z0-9_]+)(\{[^}]*\})?\s+([0-9.eE+-]+)$/.exec(line);
    // The exporter's own counters; prom-client's process_* and nodejs_* defaults are left out.
    if (!m || /^(process|nodejs)_/.test(m[1])) continue;
    const value = Number(m[3]);
    totals[m[1]] = (totals[m[1]] ?? 0) + value;
    if (m[2]) labelled[`${m[1]}${m[2]}`] = value;
  }
  return { totals, labelled };
}

/** `{ <label value>: count }` of one labelled counter, from parseMetrics' `labelled`. */
export function labelled(metrics, name, label) {
  const out = {};
  const re = new RegExp(`^${name}\\{(?:.*,)?${label}="([^"]*)"`);
  for (const [key, value] of Object.entries(metrics ?? {})) {
    const m = re.exec(key);
    if (m) out[m[1]] = (out[m[1]] ?? 0) + value;
  }
  return out;
}

async function scrape(port) {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, {
    signal: AbortSignal.timeout(5_000),
  });
  if (!res.ok) throw new Error(`metrics: HTTP ${res.status}`);
  return parseMetrics(await res.text());
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs the exporter until `done(metrics.totals)` holds (checked every `pollMs`), then reads its
 * peak RSS (VmHWM) and CPU time, stops it with SIGTERM and waits for it to exit.
 *
 * Times (seconds): `startup` from spawn to the first metrics answer (config, start-up checks),
 * `busy` from then to `done`. CPU: `cpu_total` at `done` (start-up included), `cpu_busy` the
 * part after start-up. `harness_cpu` is this process's CPU over the busy window: mostly the
 * local server (fauxqs runs in this process). `other_cpu` is the rest of the machine's busy
 * CPU over that window: other work on the machine, which makes the figures noisy.
 */
export async function runExporter(opts) {
  const { configPath, env, done, workDir, label } = opts;
  const pollMs = opts.pollMs ?? 300;
  const timeoutMs = opts.timeoutMs ?? 600_000;
  const logPath = join(workDir, `exporter-${label}.log`);
  const logFd = openSync(logPath, "w");
  const args = [...(opts.nodeArgs ?? [])];
  if (opts.cpuProfDir) args.push("--cpu-prof", `--cpu-prof-dir=${opts.cpuProfDir}`);
  args.push(MAIN, "run", "-c", configPath);
  const spawned = performance.now();
  const child = spawn(process.execPath, args, {
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true", ...env },
    stdio: ["ignore", logFd, logFd],
  });
  closeSync(logFd);
  const exited = new Promise((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  let exit;
  void exited.then((e) => {
    exit = e;
  });
  const fail = (why) => {
    const log = readFileSync(logPath, "utf8").split("\n").slice(-15).join("\n");
    return new Error(`exporter (${label}) ${why}; last log lines:\n${log}`);
  };

  let readyAt;
  let atReady;
  let harnessAtReady;
  let machineAtReady;
  let peakSampled = 0;
  const timeline = [];
  let samples = 0;
  let metrics;
  let final;
  try {
    for (;;) {
      if (exit) throw fail(`exited early (${JSON.stringify(exit)})`);
      if (performance.now() - spawned > timeoutMs) throw fail(`not done after ${timeoutMs} ms`);
      const sample = procSample(child.pid);
      peakSampled = Math.max(peakSampled, sample.rss);
      samples++;
      timeline.push([(performance.now() - spawned) / 1000, sample.rss]);
      try {
        metrics = await scrape(opts.metricsPort);
      } catch {
        metrics = undefined; // not listening yet
      }
      if (metrics && readyAt === undefined) {
        readyAt = performance.now();
        atReady = sample;
        harnessAtReady = process.cpuUsage();
        machineAtReady = machineBusySeconds();
      }
      if (metrics && done(metrics.totals)) {
        final = procSample(child.pid);
        break;
      }
      // Fine-grained until start-up is done (it fixes when the clock starts), then `pollMs`.
      await sleep(readyAt === undefined ? 25 : pollMs);
    }
  } catch (err) {
    child.kill("SIGKILL");
    await exited;
    throw err;
  }
  const doneAt = performance.now();
  const harness = process.cpuUsage(harnessAtReady);
  const machineBusy = machineBusySeconds() - machineAtReady;
  const harnessCpu = (harness.user + harness.system) / 1e6;
  child.kill("SIGTERM");
  const stopTimer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const exitInfo = await exited;
  clearTimeout(stopTimer);
  const stoppedAt = performance.now();
  const majorGcs = (opts.nodeArgs ?? []).includes("--trace-gc") ? majorGcsOf(logPath) : undefined;
  return {
    ...(majorGcs
      ? {
          heap_after_full_gc_max_mb: Math.max(0, ...majorGcs.map((g) => g.after_mb)),
          major_gcs: majorGcs,
        }
      : {}),
    startup_s: round((readyAt - spawned) / 1000, 3),
    busy_s: round((doneAt - readyAt) / 1000, 3),
    stop_s: round((stoppedAt - doneAt) / 1000, 3),
    exit: exitInfo,
    peak_rss_bytes: final.hwm,
    rss_at_done_bytes: final.rss,
    peak_rss_sampled_bytes: Math.max(peakSampled, final.rss),
    rss_at_ready_bytes: atReady.rss,
    rss_samples: samples,
    rss_timeline: downsample(timeline, 40).map(([t, rss]) => ({
      t_s: round(t, 1),
      rss_mb: Math.round(rss / 1e6),
    })),
    cpu_total_s: round(final.user + final.system, 2),
    cpu_busy_s: round(final.user + final.system - atReady.user - atReady.system, 2),
    cpu_busy_user_s: round(final.user - atReady.user, 2),
    cpu_busy_system_s: round(final.system - atReady.system, 2),
    harness_cpu_s: round(harnessCpu, 2),
    // What else ran meanwhile (other users of the machine): figures are only comparable when low.
    other_cpu_s: round(
      Math.max(
        0,
        machineBusy - (final.user + final.system - atReady.user - atReady.system) - harnessCpu,
      ),
      2,
    ),
    metrics: metrics.totals,
    metrics_labelled: metrics.labelled,
    log: logPath,
  };
}

/**
 * Full collections from `--trace-gc` lines in the log: when, and the V8 heap in use before and
 * after (MB). What survives a full GC is the live data: it shows whether memory is bounded or
 * leaks, where RSS only shows how far V8 let the heap grow between collections.
 */
function majorGcsOf(logPath) {
  const re =
    /\s(\d+) ms: Mark-(?:Compact|sweep)[^\d]*([\d.]+) \(([\d.]+)\) -> ([\d.]+) \(([\d.]+)\) MB/;
  return readFileSync(logPath, "utf8")
    .split("\n")
    .map((line) => re.exec(line))
    .filter((m) => m !== null)
    .map((m) => ({
      t_s: round(Number(m[1]) / 1000, 1),
      before_mb: Number(m[2]),
      after_mb: Number(m[4]),
    }));
}

/** At most `n` points of a series, keeping the largest value of each stretch (peaks stay). */
function downsample(points, n) {
  if (points.length <= n) return points;
  const out = [];
  const step = points.length / n;
  for (let i = 0; i < n; i++) {
    const part = points.slice(Math.floor(i * step), Math.floor((i + 1) * step));
    out.push(part.reduce((a, b) => (b[1] > a[1] ? b : a)));
  }
  return out;
}

export function round(x, digits = 1) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

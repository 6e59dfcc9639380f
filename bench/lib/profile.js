import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * Summarises a V8 `.cpuprofile` (as written by `node --cpu-prof`, main thread only): self time
 * by function and by area (our files, each npm package, Node internals, GC, idle), and total
 * time (self plus callees) of the exporter's own functions. Native code without a name (UTF-8
 * encoding inside Buffer.from, for instance) is charged to its caller.
 */
export async function summariseProfile(dir, top = 15) {
  const names = (await readdir(dir)).filter((n) => n.endsWith(".cpuprofile"));
  if (names.length === 0) return { error: `no .cpuprofile in ${dir}` };
  const profile = JSON.parse(await readFile(join(dir, names[0]), "utf8"));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  const selfUs = new Map();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
    total += dt;
  });

  /** Name and area of a node; an anonymous native frame borrows its caller's, marked native. */
  const describe = (id) => {
    const frame = byId.get(id)?.callFrame ?? {};
    const url = frame.url ?? "";
    if (!frame.functionName && !url && parentOf.has(id)) {
      const parent = describe(parentOf.get(id));
      return { key: `${parent.key} (native part)`, area: parent.area };
    }
    const fn = frame.functionName || "(anonymous)";
    const where = shortUrl(url);
    return {
      key: where ? `${fn} ${where}:${(frame.lineNumber ?? 0) + 1}` : fn,
      area: areaOf(fn, url),
    };
  };

  const functions = new Map();
  const areas = new Map();
  for (const [id, us] of selfUs) {
    const { key, area } = describe(id);
    functions.set(key, (functions.get(key) ?? 0) + us);
    areas.set(area, (areas.get(area) ?? 0) + us);
  }

  // Total time of our own functions: each sample counts once per function on its stack.
  const inclusive = new Map();
  for (const [id, us] of selfUs) {
    const seen = new Set();
    for (let n = id; n !== undefined; n = parentOf.get(n)) {
      const frame = byId.get(n)?.callFrame ?? {};
      if (!frame.url?.includes("/dist/")) continue;
      const key = describe(n).key;
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + us);
    }
  }

  // The process is idle while it waits for I/O, but also at start-up and after SIGTERM (the
  // last long poll may take its full wait time to end): shares of the non-idle time compare
  // runs whose idle tails differ.
  const busy = total - (areas.get("(idle)") ?? 0);
  const rank = (m) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({
        name,
        seconds: Math.round(us / 1e4) / 100,
        percent: Math.round((us / total) * 1000) / 10,
        percent_not_idle: name === "(idle)" ? null : Math.round((us / busy) * 1000) / 10,
      }));
  return {
    file: names[0],
    sampled_s: Math.round(total / 1e4) / 100,
    not_idle_s: Math.round(busy / 1e4) / 100,
    top_self_by_function: rank(functions),
    top_self_by_area: rank(areas),
    top_total_exporter_functions: rank(inclusive),
  };
}

function shortUrl(url) {
  if (!url) return "";
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) return url.slice(nm + "node_modules/".length);
  const dist = url.indexOf("/dist/");
  if (dist >= 0) return url.slice(dist + 1);
  return url.replace(/^file:\/\//, "");
}

function areaOf(fn, url) {
  if (fn.startsWith("(") && !url) return fn; // (garbage collector), (program), (idle), (root)
  if (!url) return `V8/native: ${fn}`;
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const rest = url.slice(nm + "node_modules/".length).split("/");
    return `npm ${rest[0]?.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  const dist = url.indexOf("/dist/");
  if (dist >= 0) return `exporter ${url.slice(dist + 1)}`;
  if (url.startsWith("node:")) return `node ${url.replace(/^node:internal\//, "").split("/")[0]}`;
  return url;
}

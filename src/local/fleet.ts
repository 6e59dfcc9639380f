import { deriveSeed, Rng, type Weighted } from "./random.js";

/**
 * The simulated customer's endpoints. Telemetry generators draw their `sensor_id`, host names
 * and addresses from here, and the local Red Canary API stand-in serves the same endpoints, so
 * enrichment joins in tests and the demo find what they look for. `buildFleet()` is pure: the
 * same options always give the same fleet.
 */

export type Platform = "Windows" | "MacOS" | "Linux";

export interface Sensor {
  /** EDR sensor id: the join key in telemetry (`sensor_id`). Unique within a fleet. */
  readonly sensor_id: number;
  /** Short host name as the EDR reports it (`computer_name` in native data). */
  readonly hostname: string;
  readonly platform: Platform;
  /** Marketing name and version, e.g. "Windows 10 Enterprise". */
  readonly operating_system: string;
  readonly os_version: string;
  readonly ip_address: string;
  /** Lower-case, colon separated. */
  readonly mac_address: string;
  /** Main interactive user, `DOMAIN\user` on Windows. May contain non-ASCII letters. */
  readonly username: string;
}

export interface FleetOptions {
  /** Default 200. */
  readonly count?: number;
  /** Default DEFAULT_FLEET_SEED; the API stand-in and the simulator must use the same one. */
  readonly seed?: number;
}

export const DEFAULT_FLEET_SIZE = 200;
export const DEFAULT_FLEET_SEED = 20240822;
/** The seed guide's `export_only_where` example filters on this id; the fleet always has it. */
export const EXAMPLE_SENSOR_ID = 529;

const PLATFORMS: Weighted<Platform> = [
  ["Windows", 70],
  ["MacOS", 15],
  ["Linux", 15],
];

const OS: Record<Platform, ReadonlyArray<readonly [string, string]>> = {
  Windows: [
    ["Windows 10 Enterprise", "10.0.19045"],
    ["Windows 11 Enterprise", "10.0.22631"],
    ["Windows 11 Pro", "10.0.22621"],
    ["Windows Server 2019 Datacenter", "10.0.17763"],
    ["Windows Server 2022 Standard", "10.0.20348"],
  ],
  MacOS: [
    ["macOS Ventura", "13.6.7"],
    ["macOS Sonoma", "14.5"],
    ["macOS Sequoia", "15.0"],
  ],
  Linux: [
    ["Ubuntu 22.04.4 LTS", "5.15.0-107-generic"],
    ["Ubuntu 20.04.6 LTS", "5.4.0-182-generic"],
    ["Red Hat Enterprise Linux 9.4", "5.14.0-427.el9.x86_64"],
    ["Amazon Linux 2023", "6.1.90-99.173.amzn2023.x86_64"],
    ["Debian GNU/Linux 12", "6.1.0-21-amd64"],
  ],
};

const USERS = [
  "jsmith",
  "mgarcia",
  "akumar",
  "lchen",
  "opatel",
  "swilliams",
  "józef.müller",
  "françois.dupont",
  "søren.østergaard",
  "田中太郎",
  "ahmed.khalil",
  "nbrown",
  "eklein",
  "rjohnson",
];
const DEPARTMENTS = ["FIN", "HR", "ENG", "OPS", "SALES", "LEGAL", "IT", "MKT"];
const LINUX_ROLES = ["web", "db", "api", "build", "k8s-node", "bastion", "cache", "etl"];
const LINUX_ENVS = ["prod", "stage", "dev"];

/** The fleet's platforms are drawn by weight, but a fleet of 3+ always has each platform. */
export function buildFleet(opts: FleetOptions = {}): Sensor[] {
  const count = opts.count ?? DEFAULT_FLEET_SIZE;
  const rng = new Rng(deriveSeed(opts.seed ?? DEFAULT_FLEET_SEED, 0xf1ee7));
  const usedIds = new Set<number>();
  const usedNames = new Set<string>();
  const fleet: Sensor[] = [];
  const forced: Platform[] = ["Windows", "Linux", "MacOS"];
  for (let i = 0; i < count; i++) {
    const platform = forced[i] ?? rng.weighted(PLATFORMS);
    let id = i === 0 ? EXAMPLE_SENSOR_ID : rng.int(100, 99_999);
    while (usedIds.has(id)) id = rng.int(100, 99_999);
    usedIds.add(id);
    const user = rng.pick(USERS);
    let hostname = hostnameFor(rng, platform, user);
    for (let tries = 0; usedNames.has(hostname); tries++) {
      hostname = hostnameFor(rng, platform, user) + (tries < 20 ? "" : `-${i}`);
    }
    usedNames.add(hostname);
    const [operatingSystem, osVersion] = rng.pick(OS[platform]);
    fleet.push({
      sensor_id: id,
      hostname,
      platform,
      operating_system: operatingSystem,
      os_version: osVersion,
      ip_address: rng.privateIp(),
      mac_address: macAddress(rng),
      username: platform === "Windows" ? `CORP\\${user}` : user,
    });
  }
  return fleet;
}

function hostnameFor(rng: Rng, platform: Platform, user: string): string {
  switch (platform) {
    case "Windows":
      return rng.chance(0.3)
        ? `DESKTOP-${rng.hex(7, true)}`
        : `WS-${rng.pick(DEPARTMENTS)}-${String(rng.int(1, 9999)).padStart(4, "0")}`;
    case "MacOS":
      // Host names are ASCII even when the owner's name is not.
      return `${user.normalize("NFD").replace(/[^a-z]/g, "") || "user"}-mbp-${rng.int(1, 99)}`;
    case "Linux":
      return `${rng.pick(LINUX_ROLES)}-${String(rng.int(1, 40)).padStart(2, "0")}.${rng.pick(LINUX_ENVS)}`;
  }
}

function macAddress(rng: Rng): string {
  // Locally administered unicast first octet, as virtualised NICs often have.
  const first = ((rng.int(0, 255) & 0xfc) | 0x02).toString(16).padStart(2, "0");
  const rest = Array.from({ length: 5 }, () => rng.hex(2));
  return [first, ...rest].join(":");
}

/** Index a fleet by sensor id, for lookups. */
export function fleetById(fleet: readonly Sensor[]): Map<number, Sensor> {
  return new Map(fleet.map((s) => [s.sensor_id, s]));
}

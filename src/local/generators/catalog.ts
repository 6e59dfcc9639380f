import type { Platform } from "../fleet.js";
import type { Rng, Weighted } from "../random.js";

/**
 * What the simulated endpoints run and talk to: programs with their parents and command lines
 * per platform, documents (some with non-ASCII names), remote hosts and loaded modules.
 */

export interface Program {
  readonly path: string;
  readonly parent: string;
  readonly args: (rng: Rng, user: string, doc: string) => string;
  readonly weight: number;
}

/** Double-quoted, as Windows writes an executable path in a command line. */
export const q = (s: string) => `"${s}"`;
const WIN_HOME = (u: string) => `C:\\Users\\${u.replace(/^.*\\/, "")}`;

const PROGRAMS: Record<Platform, readonly Program[]> = {
  Windows: [
    {
      path: "C:\\Windows\\System32\\svchost.exe",
      parent: "C:\\Windows\\System32\\services.exe",
      weight: 8,
      args: (r) => `-k ${r.pick(["netsvcs", "LocalService", "DcomLaunch"])} -p`,
    },
    {
      path: "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
      parent: "C:\\Windows\\explorer.exe",
      weight: 8,
      args: (r) => `--type=renderer --renderer-client-id=${r.int(5, 300)} --lang=en-US`,
    },
    {
      path: "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
      parent: "C:\\Windows\\System32\\cmd.exe",
      weight: 4,
      args: (_r, u) =>
        `-NoProfile -ExecutionPolicy Bypass -File ${q(`${WIN_HOME(u)}\\scripts\\inventory.ps1`)}`,
    },
    {
      path: "C:\\Windows\\System32\\cmd.exe",
      parent: "C:\\Windows\\explorer.exe",
      weight: 4,
      args: (_r, u) => `/c dir ${q(`${WIN_HOME(u)}\\Documents`)} /s`,
    },
    {
      path: "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
      parent: "C:\\Windows\\explorer.exe",
      weight: 3,
      args: (_r, u, d) => `/n ${q(`${WIN_HOME(u)}\\Documents\\${d}`)}`,
    },
    {
      path: "C:\\Windows\\System32\\notepad.exe",
      parent: "C:\\Windows\\explorer.exe",
      weight: 2,
      args: (_r, u, d) => q(`${WIN_HOME(u)}\\Desktop\\${d}`),
    },
    {
      path: "C:\\Windows\\System32\\rundll32.exe",
      parent: "C:\\Windows\\System32\\svchost.exe",
      weight: 1,
      args: () => "C:\\Windows\\System32\\shell32.dll,Control_RunDLL",
    },
    {
      path: "C:\\Windows\\System32\\conhost.exe",
      parent: "C:\\Windows\\System32\\cmd.exe",
      weight: 2,
      args: () => "0xffffffff -ForceV1",
    },
  ],
  MacOS: [
    {
      path: "/Applications/Safari.app/Contents/MacOS/Safari",
      parent: "/sbin/launchd",
      weight: 5,
      args: () => "",
    },
    {
      path: "/bin/zsh",
      parent: "/System/Applications/Utilities/Terminal.app/Contents/MacOS/Terminal",
      weight: 4,
      args: () => "-l",
    },
    {
      path: "/usr/bin/curl",
      parent: "/bin/zsh",
      weight: 3,
      args: (r) => `-sSL https://${r.pick(["github.com", "brew.sh", "pypi.org"])}/install.sh`,
    },
    {
      path: "/Applications/Microsoft Word.app/Contents/MacOS/Microsoft Word",
      parent: "/sbin/launchd",
      weight: 2,
      args: (_r, u, d) => q(`/Users/${u}/Documents/${d}`),
    },
    {
      path: "/usr/bin/osascript",
      parent: "/bin/zsh",
      weight: 1,
      args: () => `-e 'display notification "Backup done"'`,
    },
  ],
  Linux: [
    { path: "/usr/sbin/sshd", parent: "/usr/lib/systemd/systemd", weight: 3, args: () => "-D -R" },
    {
      path: "/bin/bash",
      parent: "/usr/sbin/sshd",
      weight: 5,
      args: (_r, u, d) => `-c 'tar czf /tmp/backup.tgz "/home/${u}/${d}"'`,
    },
    {
      path: "/usr/bin/python3",
      parent: "/bin/bash",
      weight: 4,
      args: (r) => `/opt/app/worker.py --queue ${r.pick(["default", "reports", "ingest"])}`,
    },
    {
      path: "/usr/bin/curl",
      parent: "/bin/bash",
      weight: 3,
      args: () => "-s http://169.254.169.254/latest/meta-data/iam/",
    },
    {
      path: "/usr/sbin/nginx",
      parent: "/usr/lib/systemd/systemd",
      weight: 3,
      args: () => "-g daemon off;",
    },
    {
      path: "/usr/bin/dockerd",
      parent: "/usr/lib/systemd/systemd",
      weight: 2,
      args: () => "-H fd:// --containerd=/run/containerd/containerd.sock",
    },
  ],
};

export const PROGRAM_TABLES: Record<Platform, Weighted<Program>> = {
  Windows: PROGRAMS.Windows.map((p) => [p, p.weight] as const),
  MacOS: PROGRAMS.MacOS.map((p) => [p, p.weight] as const),
  Linux: PROGRAMS.Linux.map((p) => [p, p.weight] as const),
};

export const DOCS = ["Q3 forecast.xlsx", "notes.txt", "contract-2024.docx", "meeting minutes.docx"];
export const UNICODE_DOCS = [
  "Résumé 2024.docx",
  "報告書_第3四半期.xlsx",
  "Отчёт за июль.pdf",
  "Ürün listesi.csv",
  "📊 budget ✓.xlsx",
];

export interface RemoteHost {
  readonly domain: string;
  readonly ip: string;
  readonly port: number;
  readonly protocol: 6 | 17;
}

export const REMOTE_HOSTS: readonly RemoteHost[] = [
  { domain: "www.google.com", ip: "142.250.190.36", port: 443, protocol: 6 },
  { domain: "login.microsoftonline.com", ip: "20.190.151.7", port: 443, protocol: 6 },
  { domain: "github.com", ip: "140.82.112.3", port: 443, protocol: 6 },
  { domain: "s3.us-east-2.amazonaws.com", ip: "52.219.100.10", port: 443, protocol: 6 },
  { domain: "ocsp.digicert.com", ip: "192.229.211.108", port: 80, protocol: 6 },
  { domain: "fileserver01.corp.local", ip: "10.1.2.3", port: 445, protocol: 6 },
  { domain: "dc01.corp.local", ip: "10.0.0.53", port: 53, protocol: 17 },
  { domain: "time.windows.com", ip: "168.61.215.74", port: 123, protocol: 17 },
];

export const MODULES: Record<Platform, readonly string[]> = {
  Windows: [
    "C:\\Windows\\System32\\ntdll.dll",
    "C:\\Windows\\System32\\kernel32.dll",
    "C:\\Windows\\System32\\advapi32.dll",
    "C:\\Windows\\System32\\wininet.dll",
    "C:\\Windows\\System32\\amsi.dll",
  ],
  MacOS: [
    "/usr/lib/libSystem.B.dylib",
    "/usr/lib/libobjc.A.dylib",
    "/System/Library/Frameworks/Security.framework/Security",
  ],
  Linux: [
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/lib/x86_64-linux-gnu/libssl.so.3",
    "/usr/lib/x86_64-linux-gnu/libpython3.10.so.1.0",
  ],
};

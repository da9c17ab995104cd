import fs from "node:fs";

/**
 * The pid recorded in `file` when that process is alive (and, with `cmdline`, its command line contains that text:
 * a recycled pid is not taken for the process that wrote the file); null otherwise.
 */
export function livePid(file: string, cmdline?: string): number | null {
  if (!fs.existsSync(file)) return null;
  const pid = Number(fs.readFileSync(file, "utf8").trim());
  if (!Number.isInteger(pid) || pid <= 0 || !processAlive(pid)) return null;
  if (cmdline === undefined) return pid;
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(cmdline) ? pid : null;
  } catch {
    return null;
  }
}

/** Whether a process with this pid exists (signal 0 tests without sending anything). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

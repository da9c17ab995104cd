import fs from "node:fs";

/** One process's /proc/<pid>/stat (Linux): its command name, parent pid and CPU time so far in ticks of 1/100 s. */
export interface ProcStat {
  comm: string;
  ppid: number;
  /** utime + stime, in USER_HZ ticks (100 a second on Linux). */
  ticks: number;
}

/** A process's stat, or null when it is gone (or there is no /proc). */
export function procStat(pid: number | string): ProcStat | null {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return null;
  }
  // The command name is in parentheses and may itself hold spaces or parentheses: the fields follow the last ")".
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { comm: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")), ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) };
}

/** The pids of every process on this machine now (none without /proc). */
export function allPids(): string[] {
  if (!fs.existsSync("/proc/self/stat")) return [];
  return fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d));
}

import { Db, Row } from "./db";
import { RetryableError } from "../errors";

/** One call waiting for its answer. */
export interface Waiting<A> {
  resolve: (answer: A) => void;
  reject: (err: unknown) => void;
}

/**
 * Calls made in the same turn of the event loop, answered together: the DataLoader pattern. Each call names a group
 * (calls of one group can share a statement); at the end of the turn (setImmediate: after the I/O callbacks, so every
 * request read in the turn has made its call by then) each group's calls go, at most `maxPerStatement` at a time, to
 * `many`, or to `one` when a group holds a single call. If `many` fails for a reason other than the database being
 * down, each of its calls is made again alone with `one`, so only the caller whose values the database refuses gets
 * the error.
 *
 * Why: under load a read worker holds a dozen requests at once, and on two shared cores a statement's fixed costs
 * (the round trip, waking a server process, bind and execute, a socket write of its own) were a large part of a small
 * read: bench:api, card reads by id 2,046-2,614 -> 4,230-4,529 requests/s, the server's CPU 0.19-0.23 -> 0.05 ms and
 * the gateway's 0.51-0.66 -> 0.33-0.35 ms a request. A call made alone costs one turn's wait (microseconds).
 */
export function perTurn<C extends Waiting<A>, A>(opts: {
  one: (db: Db, call: C) => Promise<void>;
  many: (db: Db, calls: C[]) => Promise<void>;
  maxPerStatement: number;
}) {
  const pending = new WeakMap<Db, Map<string, C[]>>();
  function flush(db: Db, groups: Map<string, C[]>) {
    pending.delete(db);
    for (const calls of groups.values()) {
      for (let i = 0; i < calls.length; i += opts.maxPerStatement) {
        const part = calls.slice(i, i + opts.maxPerStatement);
        const [only] = part;
        if (part.length === 1 && only) opts.one(db, only).catch(only.reject);
        else opts.many(db, part).catch((err) => {
          if (err instanceof RetryableError) for (const c of part) c.reject(err);
          else for (const c of part) opts.one(db, c).catch(c.reject);
        });
      }
    }
  }
  return (db: Db, group: string, call: C) => {
    let groups = pending.get(db);
    if (!groups) {
      const g = (groups = new Map());
      pending.set(db, g);
      setImmediate(() => flush(db, g));
    }
    const list = groups.get(group);
    if (list) list.push(call);
    else groups.set(group, [call]);
  };
}

/**
 * A lookup of one row by key whose calls of one turn share a statement (see perTurn): `sql` takes the keys as an array
 * in $1 (`... WHERE card_id = ANY($1::numeric[])`) and returns the rows found, each carrying its key (`keyOf`). The
 * statement is prepared once per connection; a key asked for twice in a turn is read once.
 */
export function coalescedLookup<T extends Row>(sql: string, keyOf: (row: T) => string) {
  type Call = Waiting<T | undefined> & { key: string };
  const read = async (db: Db, calls: Call[]) => {
    const rows = await db.query<T>(sql, [[...new Set(calls.map((c) => c.key))]], { prepared: true });
    const byKey = new Map(rows.map((r) => [keyOf(r), r]));
    for (const c of calls) c.resolve(byKey.get(c.key));
  };
  const ask = perTurn<Call, T | undefined>({ one: (db, c) => read(db, [c]), many: read, maxPerStatement: 256 });
  return (db: Db, key: string) => new Promise<T | undefined>((resolve, reject) => ask(db, "", { key, resolve, reject }));
}

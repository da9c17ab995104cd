import { Db, Row } from "./db";
import { RetryableError } from "../errors";

/** At most this many keys are read by one statement; more asked at once are split. */
const MAX_KEYS_PER_STATEMENT = 256;

interface Waiting<T> {
  resolve: (row: T | undefined) => void;
  reject: (err: unknown) => void;
}

/**
 * A lookup of one row by key whose calls in the same turn of the event loop share one statement (the DataLoader
 * pattern): `sql` takes the keys as an array in $1 (`... WHERE card_id = ANY($1::numeric[])`) and returns the rows
 * found, each carrying its key (`keyOf`). Under load a read worker holds a dozen requests at once; on two shared cores
 * a statement's fixed costs (the round trip, waking a server process, bind and execute, a socket write of its own)
 * were a large part of a small read. A call made alone is one statement, as before, one key long. If a statement
 * fails for a reason other than the database being down, each key is read again on its own, so only the caller whose
 * key the database refuses gets the error. The statement is prepared once per connection.
 */
export function coalescedLookup<T extends Row>(sql: string, keyOf: (row: T) => string) {
  const pending = new WeakMap<Db, { keys: Map<string, Waiting<T>[]>; scheduled: boolean }>();

  async function read(db: Db, keys: string[], waiting: Map<string, Waiting<T>[]>) {
    const rows = await db.query<T>(sql, [keys], { prepared: true });
    const byKey = new Map(rows.map((r) => [keyOf(r), r]));
    for (const k of keys) for (const w of waiting.get(k)!) w.resolve(byKey.get(k));
  }

  function flush(db: Db) {
    const p = pending.get(db)!;
    p.scheduled = false;
    const waiting = p.keys;
    p.keys = new Map();
    const keys = [...waiting.keys()];
    for (let i = 0; i < keys.length; i += MAX_KEYS_PER_STATEMENT) {
      const part = keys.slice(i, i + MAX_KEYS_PER_STATEMENT);
      const failAll = (err: unknown) => { for (const k of part) for (const w of waiting.get(k)!) w.reject(err); };
      read(db, part, waiting).catch((err) => {
        if (err instanceof RetryableError || part.length === 1) return failAll(err);
        for (const k of part) read(db, [k], waiting).catch((e) => { for (const w of waiting.get(k)!) w.reject(e); });
      });
    }
  }

  return (db: Db, key: string): Promise<T | undefined> => {
    let p = pending.get(db);
    if (!p) pending.set(db, (p = { keys: new Map(), scheduled: false }));
    const batch = p;
    return new Promise<T | undefined>((resolve, reject) => {
      const list = batch.keys.get(key);
      if (list) list.push({ resolve, reject });
      else batch.keys.set(key, [{ resolve, reject }]);
      if (!batch.scheduled) {
        batch.scheduled = true;
        // after the I/O callbacks of this turn: every request read in it has asked by then
        setImmediate(() => flush(db));
      }
    });
  };
}

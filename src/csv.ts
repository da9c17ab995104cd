import { parse } from "csv-parse/sync";

/**
 * The project's one CSV reader (bank statements, onboarding imports, risk signal files), on csv-parse: RFC 4180
 * quoting (fields may hold commas, doubled quotes and line breaks), a UTF-8 byte-order mark from spreadsheet
 * exports ignored, CRLF, LF or CR line ends.
 */

export interface CsvRecord {
  /** The line the record starts on, 1-based (a quoted field may carry it over several lines). */
  line: number;
  cells: string[];
}

export interface CsvFile {
  /** The records in order, the header included; records whose cells are all blank are left out. */
  records: CsvRecord[];
  /**
   * The first malformed record (an unclosed quote, text after a closing quote, a quote inside an unquoted field),
   * if any. Quoting that has gone wrong leaves the rest of the file unreadable, so `records` ends before it.
   */
  problem?: { line: number; reason: string };
}

const REASONS: Record<string, string> = {
  CSV_QUOTE_NOT_CLOSED: "a quoted field is not closed",
  CSV_INVALID_CLOSING_QUOTE: "text after a closing quote (a quote inside a field is written twice, in a quoted field)",
  INVALID_OPENING_QUOTE: "a quote inside an unquoted field (quote the field, and write the quote twice)",
};

const newlines = (s: string) => {
  let n = 0;
  for (let i = s.indexOf("\n"); i !== -1; i = s.indexOf("\n", i + 1)) n++;
  return n;
};

export function readCsv(text: string): CsvFile {
  // One line end for csv-parse to find (and line numbers to count): CRLF and lone CR become LF, in quoted fields too.
  const body = (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text).replace(/\r\n?/g, "\n");
  const records: CsvRecord[] = [];
  let problem: CsvFile["problem"];
  let linesBefore = 0; // line ends in the text before the next record's raw text
  /** The line a record's raw text starts on: blank lines skipped before it come at the front of its raw text. */
  const startOf = (raw: string) => linesBefore + (raw.length - raw.replace(/^\n+/, "").length) + 1;
  // Both callbacks are called in the file's order, so each sees the line ends of everything before it.
  parse(body, {
    record_delimiter: "\n",
    skip_empty_lines: true,
    relax_column_count: true,
    raw: true,
    skip_records_with_error: true,
    // With `raw`, csv-parse hands each record over as { record, raw } (its types say string[]).
    on_record: (ext: string[]) => {
      const { record, raw } = ext as unknown as { record: string[]; raw: string };
      const line = startOf(raw);
      linesBefore += newlines(raw);
      if (!problem && record.some((c) => c.trim() !== "")) records.push({ line, cells: record });
      return null; // kept here, not in parse's answer
    },
    on_skip: (err: (Error & { code?: string }) | undefined, raw?: string) => {
      if (!problem) problem = { line: startOf(raw ?? ""), reason: REASONS[err?.code ?? ""] ?? err?.message ?? "malformed" };
      linesBefore += newlines(raw ?? "");
    },
  });
  return problem ? { records, problem } : { records };
}

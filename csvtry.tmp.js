const { parse } = require("csv-parse/sync");
const text = process.argv[2] === "b" ? 'a,b\r\n1,2\r\n"3\r\n4",5\r\n6,"x"y\r\n7,8' : '\ufeffa,b,c\n1,"x,\ny",3\r\n\n"unclosed,2\n4,"q"z,6\n7,ab"c,9\n  \n,,\n中文,"引""号",末\n8,9,10';
const skipped = [];
try {
const out = parse(text, { bom: true, record_delimiter: ["\r\n", "\n", "\r"], skip_empty_lines: true, relax_column_count: true, info: true, raw: true, skip_records_with_error: true, on_skip: (err, raw) => skipped.push({code: err.code, lines: err.lines, msg: err.message, raw}) });
for (const r of out) console.log(JSON.stringify(r.record), r.info.lines, JSON.stringify(r.raw));
} catch (e) { console.log("threw", e.code, e.message); }
console.log(skipped);

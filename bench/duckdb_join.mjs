// DuckDB on the same rows as ucoro-join: the CSV files `ucoro-join
// --generate ... --save-csv PREFIX` wrote, loaded into in-memory tables
// (not timed), then the join timed alone, two ways:
//   materialized: CREATE TEMP TABLE ... AS SELECT k, lv, rv (the result rows
//                 in memory, the same work ucoro-join does);
//   aggregated:   SELECT count(*), sum(lv + rv) (the anchor's query).
// Usage: node duckdb_join.mjs PREFIX threads repeat
// Prints `run` lines and one `summary` line per form, like the other benchmarks.
import { DuckDBInstance } from '@duckdb/node-api';

const [prefix, threads = '1', repeat = '5'] = process.argv.slice(2);
const instance = await DuckDBInstance.create(':memory:', { threads: String(threads) });
const con = await instance.connect();
await con.run(`CREATE TABLE l AS SELECT * FROM read_csv('${prefix}.left.csv', header = true, columns = {'k': 'BIGINT', 'lv': 'BIGINT'})`);
await con.run(`CREATE TABLE r AS SELECT * FROM read_csv('${prefix}.right.csv', header = true, columns = {'k': 'BIGINT', 'rv': 'BIGINT'})`);
const rows = Number((await con.runAndReadAll('SELECT (SELECT count(*) FROM l) + (SELECT count(*) FROM r)')).getRows()[0][0]);
const forms = {
  materialized: 'CREATE OR REPLACE TEMP TABLE joined AS SELECT l.k, l.lv, r.rv FROM l JOIN r ON l.k = r.k',
  aggregated: 'SELECT count(*) AS n, sum(l.lv + r.rv) AS s FROM l JOIN r ON l.k = r.k',
};
for (const [form, sql] of Object.entries(forms)) {
  const times = [];
  for (let i = 0; i < Number(repeat); ++i) {
    const t0 = process.hrtime.bigint();
    await con.run(sql);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    times.push(s);
    console.log(`run duckdb_${form} threads=${threads} rep=${i} s=${s.toFixed(3)} total_Mrows_s=${(rows / s / 1e6).toFixed(2)}`);
  }
  const out = Number((await con.runAndReadAll(form === 'materialized' ? 'SELECT count(*) FROM joined'
      : 'SELECT count(*) FROM l JOIN r ON l.k = r.k')).getRows()[0][0]);
  times.sort((a, b) => a - b);
  const med = times[Math.floor(times.length / 2)];
  console.log(`summary duckdb_${form} threads=${threads} rows_in=${rows} rows_out=${out} median_s=${med.toFixed(4)} ` +
              `min_s=${times[0].toFixed(4)} max_s=${times[times.length - 1].toFixed(4)} ` +
              `total_Mrows_s=${(rows / med / 1e6).toFixed(2)} min_Mrows_s=${(rows / times[times.length - 1] / 1e6).toFixed(2)} ` +
              `max_Mrows_s=${(rows / times[0] / 1e6).toFixed(2)}`);
}

/**
 * `npm run bench [-- --quick] [-- --only=ingest,pipeline,cold,scale]`: issue 8's measurements, each
 * against a baseline run in this same process on this same machine. Prints a table and writes
 * bench/results.json (with --only, bench/results.<sections>.json, so the last whole run stays on record).
 *
 *   1. ingest    signed webhooks into the local runtime vs a bare node:http + HMAC + SendMessage server
 *   2. pipeline  end to end (webhook -> CRM simulator), then the cost workloads (new, updates, 50%
 *                duplicates) through the hub and through a Powertools idempotency baseline
 *   3. cold      bundle sizes and first invocations in fresh Node processes vs a hello world
 *   4. scale     per-record time and calls with 1 000 vs many more entities in the state table
 *
 * Absolute timings on a shared 2-core machine are noisy; ratios to the same-run baseline and the
 * call and unit counts (exact for this code) are the figures to read.
 */
import { writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { benchColdStart, type ColdStartResults } from './cold-start.js';
import type { UsagePerRecord } from './cost-model.js';
import { benchIngest, type IngestResults } from './ingest.js';
import { benchPipeline, type PipelineResults } from './pipeline.js';
import { benchScale, type ScaleResults } from './scale.js';
import { round, type TargetCheck } from './util.js';

const SECTIONS = ['cold', 'ingest', 'pipeline', 'scale'] as const;
type Section = (typeof SECTIONS)[number];

const quick = process.argv.includes('--quick');
const onlyArg = process.argv.find((arg) => arg.startsWith('--only='));
const only = new Set(
  (onlyArg?.slice('--only='.length).split(',') ?? [...SECTIONS]).filter((s): s is Section =>
    (SECTIONS as readonly string[]).includes(s),
  ),
);
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

type Row = readonly (string | number)[];

function table(title: string, header: Row, rows: readonly Row[]): string {
  const all = [header, ...rows].map((row) => row.map(String));
  const widths = all[0]?.map((_, c) => Math.max(...all.map((row) => row[c]?.length ?? 0))) ?? [];
  const line = (row: string[]) =>
    row
      .map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0)))
      .join('  ')
      .trimEnd();
  return [`\n${title}`, ...all.map(line)].join('\n');
}

const x = (n: number) => (Number.isFinite(n) ? `${n}x` : 'n/a');

function ingestTable(r: IngestResults): string {
  const rows: Row[] = [];
  for (const [c, f] of Object.entries(r.byConcurrency)) {
    rows.push([
      `c=${c} accepted/s`,
      f.switchyard.acceptedPerSecond,
      f.bare.acceptedPerSecond,
      x(f.ratios.acceptedPerSecond),
    ]);
    rows.push([`c=${c} p50 ms`, f.switchyard.p50Ms, f.bare.p50Ms, x(f.ratios.p50)]);
    rows.push([`c=${c} p99 ms`, f.switchyard.p99Ms, f.bare.p99Ms, x(f.ratios.p99)]);
    rows.push([`c=${c} per-round accepted/s ratio min/med/max`, '', '', f.roundRatioSpread.join(' / ')]);
    rows.push([`c=${c} per-round p99 ratio min/med/max`, '', '', f.p99RoundRatioSpread.join(' / ')]);
  }
  return table(
    `1. Ingest: ${r.rounds} alternating rounds x ${r.requestsPerRound} signed webhooks per server and concurrency`,
    ['', 'Switchyard', 'bare', 'ratio'],
    rows,
  );
}

function pipelineTables(r: PipelineResults): string {
  const e = r.endToEnd;
  const endToEnd = table(
    `2. End to end: ${e.events} events, concurrency ${e.concurrency}, webhook -> local runtime -> CRM simulator`,
    ['', ''],
    [
      ['accepted / delivered', `${e.accepted} / ${e.delivered}`],
      ['delivered/s', e.deliveredPerSecond],
      [
        'webhook -> destination p50 / p99 ms',
        `${e.webhookToDestinationP50Ms} / ${e.webhookToDestinationP99Ms}`,
      ],
      ['G3 balanced', String(e.g3.balanced)],
      ['RSS MB start / peak (whole bench process)', `${e.rssMb.start} / ${e.rssMb.peak}`],
      ...Object.entries(e.perRecord.awsCalls).map(([k, v]): Row => [`calls/event ${k}`, v]),
      ['USD per 1M events (modeled)', e.perRecord.usdPerMillion.total],
    ],
  );
  const rows: Row[] = [];
  for (const [name, w] of Object.entries(r.cost.workloads)) {
    const sy = w.switchyard;
    const pt = w.powertools;
    rows.push([
      `${name}: WCU / RCU per event`,
      `${sy.dynamodbUnits.write} / ${sy.dynamodbUnits.read}`,
      `${pt.dynamodbUnits.write} / ${pt.dynamodbUnits.read}`,
      `${x(w.ratios.writeUnits)} WCU`,
    ]);
    rows.push([
      `${name}: USD/1M DynamoDB`,
      sy.usdPerMillion.dynamodb,
      pt.usdPerMillion.dynamodb,
      x(w.ratios.dynamodbUsd),
    ]);
    rows.push([
      `${name}: USD/1M total`,
      sy.usdPerMillion.total,
      pt.usdPerMillion.total,
      x(w.ratios.totalUsd),
    ]);
    rows.push([
      `${name}: USD/1M total, api.ingress function-url`,
      w.switchyardFunctionUrlUsdPerMillion,
      pt.usdPerMillion.total,
      x(w.ratios.totalUsdFunctionUrl),
    ]);
  }
  const d = r.cost.duplicateOnly;
  rows.push([
    'per duplicate only: WCU / RCU',
    `${d.switchyard.dynamodbUnits.write} / ${d.switchyard.dynamodbUnits.read}`,
    `${d.powertools.dynamodbUnits.write} / ${d.powertools.dynamodbUnits.read}`,
    '',
  ]);
  rows.push([
    'per duplicate only: USD/1M total',
    d.switchyard.usdPerMillion.total,
    d.powertools.usdPerMillion.total,
    '',
  ]);
  const cost = table(
    `3. Cost per event, ${r.cost.recordsPerWorkload} events per workload`,
    ['', 'Switchyard', 'Powertools', 'ratio'],
    rows,
  );
  const breakdown = (who: string, u: UsagePerRecord) => {
    const c = u.usdPerMillion;
    return `  ${who}: API GW ${c.apiGateway} + Lambda requests ${c.lambdaRequests} + Lambda GB-s ${c.lambdaCompute} + SQS ${c.sqs} + DynamoDB ${c.dynamodb} = ${c.total}`;
  };
  return [
    endToEnd,
    cost,
    'duplicates50 USD per 1M events, by service:',
    breakdown('Switchyard', r.cost.workloads.duplicates50.switchyard),
    breakdown('Powertools', r.cost.workloads.duplicates50.powertools),
  ].join('\n');
}

function coldTable(r: ColdStartResults): string {
  return table(
    '4. Cold start (fresh node process per run; medians)',
    ['', 'bundle kB', 'import ms', 'first inv ms', 'init+first ms', 'vs hello', 'process ms', 'vs hello'],
    Object.entries(r.coldStart).map(
      ([name, c]): Row => [
        name,
        round((r.bundles[name]?.bytes ?? 0) / 1000, 1),
        c.importMs,
        c.invokeMs,
        c.initAndFirstMs,
        x(c.ratioToHello.initAndFirst),
        c.processMs,
        x(c.ratioToHello.process),
      ],
    ),
  );
}

function scaleTable(r: ScaleResults): string {
  const s = r.small;
  const l = r.large;
  return table(
    '5. Scale: the same workload with more entities in the state table (alternating rounds)',
    ['', `${s.entities} entities`, `${l.entities} entities`, 'ratio'],
    [
      [
        'route+deliver ms per event',
        s.processingMsPerRecord,
        l.processingMsPerRecord,
        x(r.ratios.processingMsPerRecord),
      ],
      ['  per-round ratio min/med/max', '', '', r.ratios.processingRoundRatioSpread.join(' / ')],
      ['AWS calls per event', s.awsCallsPerRecord, l.awsCallsPerRecord, x(r.ratios.awsCallsPerRecord)],
      [
        'WCU / RCU per event',
        `${s.dynamodbUnits.write} / ${s.dynamodbUnits.read}`,
        `${l.dynamodbUnits.write} / ${l.dynamodbUnits.read}`,
        '',
      ],
      [
        'GetItem p50 / p99 ms',
        `${s.getItemP50Ms} / ${s.getItemP99Ms}`,
        `${l.getItemP50Ms} / ${l.getItemP99Ms}`,
        x(r.ratios.getItemP50),
      ],
      ['ingest ms per event', s.ingestMsPerRecord, l.ingestMsPerRecord, ''],
    ],
  );
}

async function main(): Promise<void> {
  const started = performance.now();
  const seconds: Record<string, number> = {};
  const timed = async <T>(name: Section, work: () => Promise<T>): Promise<T | undefined> => {
    if (!only.has(name)) return undefined;
    const t0 = performance.now();
    log(`${name}...`);
    const result = await work();
    seconds[name] = round((performance.now() - t0) / 1000, 1);
    return result;
  };
  const cold = await timed('cold', () => benchColdStart({ quick, log }));
  const ingest = await timed('ingest', () => benchIngest({ quick, log }));
  const pipeline = await timed('pipeline', () => benchPipeline({ quick, log }));
  const scale = await timed('scale', () => benchScale({ quick, log }));
  const targets: TargetCheck[] = [
    ...(pipeline?.targets ?? []),
    ...(ingest?.targets ?? []),
    ...(cold?.targets ?? []),
    ...(scale?.targets ?? []),
  ];
  seconds.total = round((performance.now() - started) / 1000, 1);
  const cpu = cpus();
  const machine = `${cpu.length} x ${cpu[0]?.model ?? 'unknown CPU'}, ${round(totalmem() / 2 ** 30, 1)} GiB, ${process.platform} ${process.arch}`;
  const results = {
    date: new Date().toISOString(),
    command: `npm run bench${quick ? ' -- --quick' : ''}${onlyArg ? ` ${onlyArg}` : ''}`,
    mode: quick ? 'quick' : 'full',
    node: process.version,
    machine,
    seconds,
    targets,
    ...(ingest ? { ingest } : {}),
    ...(pipeline ? { endToEnd: pipeline.endToEnd, cost: pipeline.cost } : {}),
    ...(cold ? { coldStart: cold } : {}),
    ...(scale ? { scale } : {}),
  };
  // A run of some sections only must not replace the record of the last whole run.
  const file = onlyArg ? `results.${[...only].join('-')}.json` : 'results.json';
  await writeFile(new URL(`./${file}`, import.meta.url), `${JSON.stringify(results, null, 2)}\n`);

  const out = [
    `Switchyard bench (${results.mode}), ${results.date}\n${machine}, Node ${process.version}; ${seconds.total} s`,
    ...(ingest ? [ingestTable(ingest)] : []),
    ...(pipeline ? [pipelineTables(pipeline)] : []),
    ...(cold ? [coldTable(cold)] : []),
    ...(scale ? [scaleTable(scale)] : []),
    table(
      'Targets (issue 8)',
      ['', 'measured', ''],
      targets.map((t): Row => [t.target, t.measured, t.met ? 'met' : 'SHORT']),
    ),
    `\nwritten to bench/${file}`,
  ];
  console.log(out.join('\n'));
}

await main();

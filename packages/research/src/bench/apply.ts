/**
 * Benchmark `apply`: re-charting a random TinyLlama-1.1B-shaped bf16 checkpoint (about 2.2 GB) against `cp` of
 * the same file, side by side, median of `reps`; and the peak resident memory of the re-charting process
 * against the bound 1.5 x largest tensor + 200 MB.
 *
 * Both read the input from the page cache (it was just written). `apply` ends with fsync (an atomic,
 * durable output; on Linux it writes with O_DIRECT, so none of its output waits in the page cache); `cp`
 * does not, so `cp` followed by `sync` is reported too.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import native = require('../../../../dist/native');
import { PACKAGE_ROOT, machine } from '../../../../dist/results';
import { secs, type Table } from '../../../../dist/table';
import { median } from './stats';

export interface ApplyBenchOptions {
  /** Model preset to generate. @default 'tinyllama-1.1b' */
  preset?: string;
  /** @default 3 */
  reps?: number;
  /** Directory for the (large) temporary files. @default os.tmpdir() */
  workDir?: string;
}

export interface ApplyBenchResult {
  name: 'apply';
  params: Required<ApplyBenchOptions>;
  fileBytes: number;
  largestTensorBytes: number;
  cp: { times: number[]; median: number; gbPerS: number };
  cpSync: { times: number[]; median: number; gbPerS: number };
  apply: { times: number[]; median: number; gbPerS: number; peakRssBytes: number };
  /** apply throughput over cp throughput: >= 0.5 is the goal. */
  throughputVsCp: number;
  throughputVsCpSync: number;
  rssBoundBytes: number;
  machine: Record<string, string | number>;
}

function timed(f: () => void): number {
  const t0 = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export async function runApplyBench(options: ApplyBenchOptions = {}): Promise<ApplyBenchResult> {
  const params: Required<ApplyBenchOptions> = {
    preset: options.preset ?? 'tinyllama-1.1b',
    reps: options.reps ?? 3,
    workDir: options.workDir ?? os.tmpdir(),
  };
  const dir = fs.mkdtempSync(path.join(params.workDir, 'gauge-transport-apply-bench-'));
  try {
    const model = path.join(dir, 'model');
    process.stderr.write(`  writing a random ${params.preset} bf16 checkpoint...\n`);
    await native.initCheckpoint(params.preset, model, { seed: 1, dtype: 'BF16' });
    const file = path.join(model, 'model.safetensors');
    const fileBytes = fs.statSync(file).size;
    const info = native.inspectModel(model);
    const gaugeFile = path.join(dir, 'g.safetensors');
    native.Gauge.random(info.d, { seed: 2 }).write(gaugeFile);
    const largestTensorBytes = largestTensor(file);
    const cli = path.join(PACKAGE_ROOT, 'dist', 'cli.js');
    const cp: number[] = [];
    const cpSync: number[] = [];
    const applyTimes: number[] = [];
    let peakRssBytes = 0;
    for (let r = 0; r < params.reps; r++) {
      const copy = path.join(dir, `copy-${r}.safetensors`);
      cp.push(timed(() => execFileSync('cp', [file, copy])));
      fs.rmSync(copy);
      execFileSync('sync');
      cpSync.push(timed(() => execFileSync('sh', ['-c', `cp "${file}" "${copy}" && sync`])));
      fs.rmSync(copy);
      const out = path.join(dir, `out-${r}`);
      // A separate process, so that its peak RSS is the re-charting's alone.
      const report = JSON.parse(
        execFileSync(process.execPath, [cli, 'apply', model, '--gauge', gaugeFile, '--out', out, '--json'], {
          encoding: 'utf8',
        }),
      );
      applyTimes.push(report.seconds);
      peakRssBytes = Math.max(peakRssBytes, report.maxRssBytes);
      fs.rmSync(out, { recursive: true });
      process.stderr.write(`  rep ${r + 1}: cp ${secs(cp[r])}, cp+sync ${secs(cpSync[r])}, apply ${secs(report.seconds)}\n`);
    }
    const stat = (times: number[]) => ({ times, median: median(times), gbPerS: fileBytes / median(times) / 1e9 });
    const result = {
      name: 'apply' as const,
      params,
      fileBytes,
      largestTensorBytes,
      cp: stat(cp),
      cpSync: stat(cpSync),
      apply: { ...stat(applyTimes), peakRssBytes },
      throughputVsCp: median(cp) / median(applyTimes),
      throughputVsCpSync: median(cpSync) / median(applyTimes),
      rssBoundBytes: 1.5 * largestTensorBytes + 200 * 2 ** 20,
      machine: machine(),
    };
    return result;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Bytes of the largest tensor in a safetensors file, from its header. */
function largestTensor(file: string): number {
  const fd = fs.openSync(file, 'r');
  try {
    const len = Buffer.alloc(8);
    fs.readSync(fd, len, 0, 8, 0);
    const n = Number(len.readBigUInt64LE(0));
    const header = Buffer.alloc(n);
    fs.readSync(fd, header, 0, n, 8);
    const entries = Object.entries(JSON.parse(header.toString('utf8'))) as [string, { data_offsets?: number[] }][];
    return Math.max(...entries.filter(([k]) => k !== '__metadata__').map(([, t]) => t.data_offsets![1] - t.data_offsets![0]));
  } finally {
    fs.closeSync(fd);
  }
}

export function applyTable(r: ApplyBenchResult): Table {
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  return {
    header: ['checkpoint', 'cp', 'cp + sync', 'apply (fsync)', 'apply / cp throughput', 'apply / (cp + sync)', 'peak RSS', 'RSS bound'],
    rows: [
      [
        `${r.params.preset} bf16, ${(r.fileBytes / 1e9).toFixed(2)} GB`,
        `${secs(r.cp.median)} (${r.cp.gbPerS.toFixed(2)} GB/s)`,
        `${secs(r.cpSync.median)} (${r.cpSync.gbPerS.toFixed(2)} GB/s)`,
        `${secs(r.apply.median)} (${r.apply.gbPerS.toFixed(2)} GB/s)`,
        `${r.throughputVsCp.toFixed(2)}x`,
        `${r.throughputVsCpSync.toFixed(2)}x`,
        mib(r.apply.peakRssBytes),
        `${mib(r.rssBoundBytes)} (1.5 x ${mib(r.largestTensorBytes)} + 200 MiB)`,
      ],
    ],
  };
}

/**
 * Progress off a terminal: plain lines at a fixed interval once an operation has run past the delay, nothing for
 * short ones; and CLI errors as JSON with `--json`.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { ProgressBar } from '../src/progress';

function stream(): { writes: string[]; s: NodeJS.WriteStream } {
  const writes: string[] = [];
  return { writes, s: { isTTY: false, write: (t: string) => (writes.push(t), true) } as unknown as NodeJS.WriteStream };
}

test('off a terminal, progress prints a line per interval after the delay', async () => {
  const { writes, s } = stream();
  const bar = new ProgressBar('align', s, 0, 20);
  bar.update(1, 10);
  await new Promise((r) => setTimeout(r, 25));
  bar.update(2, 10);
  bar.update(3, 10);
  await new Promise((r) => setTimeout(r, 25));
  bar.update(4, 10, '400 tokens');
  bar.done();
  expect(writes.length).toBe(2);
  expect(writes[0]).toMatch(/^align: 2\/10 \(20%\) after \d+ s\n$/);
  expect(writes[1]).toMatch(/^align: 4\/10 \(40%\) after \d+ s, 400 tokens\n$/);
  const quiet = stream();
  const short = new ProgressBar('stats', quiet.s, 10_000, 20);
  short.update(1, 2);
  expect(quiet.writes).toEqual([]);
});

test('with --json, a CLI error is printed as JSON', () => {
  const cli = path.join(__dirname, '..', 'dist', 'cli.js');
  const r = spawnSync(process.execPath, [cli, 'inspect', '/nonexistent/model', '--json'], { encoding: 'utf8' });
  expect(r.status).not.toBe(0);
  const e = JSON.parse(r.stderr.trim());
  expect(e.error.code).toBeTruthy();
  expect(e.error.message).toMatch(/nonexistent/);
});

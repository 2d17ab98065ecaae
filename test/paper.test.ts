/** `paper`: the claims table is compiled from the recorded results, numbers included. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runPaper } from '../packages/research/src/experiments/paper';

const row = (lr: number, step: number, endpoint: number, composed: number, viaBase: number) => ({ lr, step, endpoint, composed, viaBase });

describe('paper', () => {
  test("the trajectory row's comparison is read from the recorded rows", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-paper-'));
    try {
      const rows = [row(2e-4, 300, 1, 1, 1), row(2e-3, 300, 0.99, 0.95, 0.9), row(5e-3, 25, 1, 1, 1), row(5e-3, 300, 0.366, 0.649, 0.773)];
      fs.writeFileSync(path.join(dir, 'trajectory-smollm2.json'), JSON.stringify({ name: 'trajectory-smollm2', rows }));
      const claim = runPaper(dir).rows.find((r) => r.claim.startsWith('cross-run recovery'))!;
      expect(claim.evidence).toBe('SmolLM2, 300 steps at lr 0.005: composed 64.9%, endpoint 36.6%, via base 77.3%');
      expect(claim.differs).toContain('At lr 0.002, step 300: endpoint 99.0%, composed 95.0%, via base 90.0%; the direct endpoint match does best.');
      expect(claim.differs).toContain('At lr 0.005, step 300: endpoint 36.6%, composed 64.9%, via base 77.3%; the two hops through the base do best.');
      expect(claim.differs).not.toContain('0.0002,');
      expect(runPaper(dir).rows.find((r) => r.claim.startsWith('SAE'))!.evidence).toContain('not run');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

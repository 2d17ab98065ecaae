/**
 * Exact maximum-weight linear assignment on dense score matrices.
 *
 * `scores` is row-major `n x m` float32 with `n <= m`. The default solver is the project's Jonker-Volgenant style
 * shortest-augmenting-path solver with a certificate fast path; `pathfinding` is the `kuhn_munkres` reference.
 * Both return `dualBound`, an LP-duality upper bound on every assignment: `dualBound - objective ≈ 0` certifies
 * optimality independently of the solver.
 */
import native = require('./native');
import { throwIfAborted } from './errors';

/** Assignment solver. */
export type Solver = 'jv' | 'jv-dense' | 'pathfinding';

/** Options of {@link solveAssignment}. */
export interface SolveOptions {
  /** @default 'jv' */
  solver?: Solver;
  /** Aborts the solve, also while it runs; the Promise rejects with code `ABORTED`. */
  signal?: AbortSignal;
}

export type AssignmentResult = native.AssignmentResult;

/** Solves the assignment off the event loop. */
export async function solveAssignment(
  scores: Float32Array,
  n: number,
  m: number,
  options: SolveOptions = {},
): Promise<AssignmentResult> {
  throwIfAborted(options.signal, 'solveAssignment');
  return native.solveAssignment(scores, n, m, { solver: options.solver }, options.signal);
}

/** Solves the assignment on the calling thread (for small problems and scripts). */
export function solveAssignmentSync(
  scores: Float32Array,
  n: number,
  m: number,
  options: Omit<SolveOptions, 'signal'> = {},
): AssignmentResult {
  return native.solveAssignmentSync(scores, n, m, { solver: options.solver });
}

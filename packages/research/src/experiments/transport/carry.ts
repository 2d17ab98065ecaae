/**
 * Carrying a transport experiment's other pairs over from its recorded result, so that `--pairs gemma3-ft` adds
 * (or redoes) one pair's rows without re-running the hours the others took.
 *
 * A result holds, per pair, entries labelled by the pair's label: array items with a `pair` field (`rows`,
 * `audits`) and object keys equal to the label or starting with `label: ` (`setups`, `seconds`, `curves`,
 * `contrasts`, ...). The new run's labels replace the recorded ones where they stood (a re-run pair keeps its place
 * in the tables); every other recorded label is kept, in the recorded order, and labels the record did not have come
 * after them. Nothing is carried when the recorded run used other parameters
 * (anything but `pairs` differs): its numbers would not be comparable.
 */

/** A recorded or fresh result: `params.pairs` plus labelled entries. */
type Result = { params: { pairs: readonly string[] } };

const owner = (key: string, labels: Set<string>): string | undefined => {
  for (const l of labels) if (key === l || key.startsWith(`${l}: `)) return l;
  return undefined;
};

const labelsOf = (r: Record<string, unknown>): Set<string> => {
  const out = new Set<string>();
  for (const v of Object.values(r)) {
    if (!Array.isArray(v)) continue;
    for (const x of v) if (x && typeof x === 'object' && typeof (x as { pair?: unknown }).pair === 'string') out.add((x as { pair: string }).pair);
  }
  return out;
};

const sameParams = (a: Result['params'], b: Result['params']): boolean => {
  const rest = (p: Result['params']) => JSON.stringify({ ...p, pairs: undefined });
  return rest(a) === rest(b);
};

const entries = (r: Result) => r as unknown as Record<string, unknown>;

/**
 * The recorded entries (each with its label) with those of the fresh labels replaced by the fresh entries, placed
 * where the label's first recorded entry stood; fresh entries of labels the record lacks (or of none) follow.
 */
function inPlace<T>(recorded: readonly (readonly [string, T])[], fresh: readonly (readonly [string | undefined, T])[], freshLabels: Set<string>): T[] {
  const byLabel = new Map<string | undefined, T[]>();
  for (const [l, x] of fresh) byLabel.set(l, [...(byLabel.get(l) ?? []), x]);
  const out: T[] = [];
  const placed = new Set<string | undefined>();
  for (const [l, x] of recorded) {
    if (!freshLabels.has(l)) out.push(x);
    else if (!placed.has(l)) {
      out.push(...(byLabel.get(l) ?? []));
      placed.add(l);
    }
  }
  for (const [l, xs] of byLabel) if (!placed.has(l)) out.push(...xs);
  return out;
}

/**
 * `fresh` with the pairs of `previous` it did not run carried over (see the module docs), and `carried` listing
 * them; `fresh` itself when there is nothing to carry. `order` is the canonical order of pair names.
 */
export function carryPairs<R extends Result>(fresh: R, previous: R | undefined, order: readonly string[]): R & { carried?: string[] } {
  if (!previous || !sameParams(previous.params, fresh.params)) return fresh;
  const carriedNames = previous.params.pairs.filter((p) => !fresh.params.pairs.includes(p));
  if (carriedNames.length === 0) return fresh;
  const freshLabels = labelsOf(entries(fresh));
  const oldLabels = labelsOf(entries(previous));
  const out: Record<string, unknown> = { ...entries(fresh) };
  for (const [key, value] of Object.entries(entries(fresh))) {
    const old = entries(previous)[key];
    if (Array.isArray(value) && Array.isArray(old)) {
      const pairOf = (x: unknown): string | undefined =>
        x && typeof x === 'object' && typeof (x as { pair?: unknown }).pair === 'string' ? (x as { pair: string }).pair : undefined;
      out[key] = inPlace(
        old.filter((x) => pairOf(x) !== undefined).map((x) => [pairOf(x)!, x] as const),
        value.map((x) => [pairOf(x), x] as const),
        freshLabels,
      );
    } else if (value && typeof value === 'object' && !Array.isArray(value) && old && typeof old === 'object' && key !== 'params' && key !== 'machine') {
      const recorded = Object.entries(old as Record<string, unknown>)
        .map(([k, v]) => [owner(k, oldLabels), [k, v]] as const)
        .filter((e): e is readonly [string, [string, unknown]] => e[0] !== undefined);
      const now = Object.entries(value as Record<string, unknown>).map(([k, v]) => [owner(k, freshLabels), [k, v]] as const);
      out[key] = Object.fromEntries(inPlace(recorded, now, freshLabels));
    }
  }
  const pairs = order.filter((p) => fresh.params.pairs.includes(p) || carriedNames.includes(p));
  return { ...(out as unknown as R), params: { ...fresh.params, pairs }, carried: carriedNames };
}

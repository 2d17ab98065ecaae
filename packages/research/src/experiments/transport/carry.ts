/**
 * Carrying a transport experiment's other pairs over from its recorded result, so that `--pairs gemma3-ft` adds
 * (or redoes) one pair's rows without re-running the hours the others took.
 *
 * A result holds, per pair, entries labelled by the pair's label: array items with a `pair` field (`rows`,
 * `audits`) and object keys equal to the label or starting with `label: ` (`setups`, `seconds`, `curves`,
 * `contrasts`, ...). The new run's labels replace the recorded ones; every other recorded label is kept, in the
 * recorded order, with the new labels after them. Nothing is carried when the recorded run used other parameters
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
 * `fresh` with the pairs of `previous` it did not run carried over (see the module docs), and `carried` listing
 * them; `fresh` itself when there is nothing to carry. `order` is the canonical order of pair names.
 */
export function carryPairs<R extends Result>(fresh: R, previous: R | undefined, order: readonly string[]): R & { carried?: string[] } {
  if (!previous || !sameParams(previous.params, fresh.params)) return fresh;
  const carriedNames = previous.params.pairs.filter((p) => !fresh.params.pairs.includes(p));
  if (carriedNames.length === 0) return fresh;
  const freshLabels = labelsOf(entries(fresh));
  const oldLabels = labelsOf(entries(previous));
  const keep = (label: string) => !freshLabels.has(label);
  const out: Record<string, unknown> = { ...entries(fresh) };
  for (const [key, value] of Object.entries(entries(fresh))) {
    const old = entries(previous)[key];
    if (Array.isArray(value) && Array.isArray(old)) {
      const kept = old.filter((x) => x && typeof x === 'object' && typeof x.pair === 'string' && keep(x.pair as string));
      out[key] = [...kept, ...value];
    } else if (value && typeof value === 'object' && !Array.isArray(value) && old && typeof old === 'object' && key !== 'params' && key !== 'machine') {
      const merged: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(old as Record<string, unknown>)) {
        const l = owner(k, oldLabels);
        if (l !== undefined && keep(l)) merged[k] = v;
      }
      out[key] = { ...merged, ...(value as Record<string, unknown>) };
    }
  }
  const pairs = order.filter((p) => fresh.params.pairs.includes(p) || carriedNames.includes(p));
  return { ...(out as unknown as R), params: { ...fresh.params, pairs }, carried: carriedNames };
}

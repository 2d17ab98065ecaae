/** `carryPairs`: a transport experiment run on some pairs keeps the recorded rows of the others. */
import { carryPairs } from '../packages/research/src/experiments/transport/carry';

const ORDER = ['tiny', 'smollm2-ft', 'gemma3-ft'];

interface R {
  name: string;
  params: { pairs: string[]; steps: number };
  setups: Record<string, string>;
  contrasts?: Record<string, number>;
  rows: { pair: string; nmse: number }[];
  machine?: Record<string, string>;
}

const recorded: R = {
  name: 'sae',
  params: { pairs: ['tiny', 'smollm2-ft'], steps: 2000 },
  setups: { 'tiny-base': 'tiny setup', 'SmolLM2 ft': 'smol setup' },
  contrasts: { 'tiny-base: code': 1, 'SmolLM2 ft: sentiment': 2 },
  rows: [
    { pair: 'tiny-base', nmse: 0.1 },
    { pair: 'SmolLM2 ft', nmse: 0.2 },
  ],
  machine: { cpu: 'old' },
};

describe('carryPairs', () => {
  test('adds a new pair after the recorded ones and lists what it carried', () => {
    const fresh: R = {
      name: 'sae',
      params: { pairs: ['gemma3-ft'], steps: 2000 },
      setups: { 'Gemma ft': 'gemma setup' },
      contrasts: { 'Gemma ft: sentiment': 3 },
      rows: [{ pair: 'Gemma ft', nmse: 0.3 }],
      machine: { cpu: 'new' },
    };
    const r = carryPairs(fresh, recorded, ORDER);
    expect(r.params.pairs).toEqual(['tiny', 'smollm2-ft', 'gemma3-ft']);
    expect(r.carried).toEqual(['tiny', 'smollm2-ft']);
    expect(r.rows.map((x) => x.pair)).toEqual(['tiny-base', 'SmolLM2 ft', 'Gemma ft']);
    expect(Object.keys(r.setups)).toEqual(['tiny-base', 'SmolLM2 ft', 'Gemma ft']);
    expect(r.contrasts).toEqual({ 'tiny-base: code': 1, 'SmolLM2 ft: sentiment': 2, 'Gemma ft: sentiment': 3 });
    expect(r.machine).toEqual({ cpu: 'new' });
  });

  test("a re-run pair's rows replace the recorded ones", () => {
    const fresh: R = { name: 'sae', params: { pairs: ['smollm2-ft'], steps: 2000 }, setups: { 'SmolLM2 ft': 'again' }, rows: [{ pair: 'SmolLM2 ft', nmse: 0.25 }] };
    const r = carryPairs(fresh, recorded, ORDER);
    expect(r.rows).toEqual([
      { pair: 'tiny-base', nmse: 0.1 },
      { pair: 'SmolLM2 ft', nmse: 0.25 },
    ]);
    expect(r.setups).toEqual({ 'tiny-base': 'tiny setup', 'SmolLM2 ft': 'again' });
    expect(r.carried).toEqual(['tiny']);
  });

  test('a re-run pair keeps its place among the recorded ones', () => {
    const three: R = {
      ...recorded,
      params: { pairs: ['tiny', 'smollm2-ft', 'gemma3-ft'], steps: 2000 },
      setups: { 'tiny-base': 'tiny setup', 'SmolLM2 ft': 'smol setup', 'Gemma ft': 'gemma setup' },
      contrasts: { 'tiny-base: code': 1, 'SmolLM2 ft: sentiment': 2, 'SmolLM2 ft: refusal': 4, 'Gemma ft: sentiment': 3 },
      rows: [
        { pair: 'tiny-base', nmse: 0.1 },
        { pair: 'SmolLM2 ft', nmse: 0.2 },
        { pair: 'SmolLM2 ft', nmse: 0.21 },
        { pair: 'Gemma ft', nmse: 0.3 },
      ],
    };
    const fresh: R = {
      name: 'sae',
      params: { pairs: ['smollm2-ft'], steps: 2000 },
      setups: { 'SmolLM2 ft': 'again' },
      contrasts: { 'SmolLM2 ft: sentiment': 5, 'SmolLM2 ft: refusal': 6 },
      rows: [
        { pair: 'SmolLM2 ft', nmse: 0.25 },
        { pair: 'SmolLM2 ft', nmse: 0.26 },
      ],
    };
    const r = carryPairs(fresh, three, ORDER);
    expect(r.rows).toEqual([
      { pair: 'tiny-base', nmse: 0.1 },
      { pair: 'SmolLM2 ft', nmse: 0.25 },
      { pair: 'SmolLM2 ft', nmse: 0.26 },
      { pair: 'Gemma ft', nmse: 0.3 },
    ]);
    expect(Object.entries(r.setups)).toEqual([
      ['tiny-base', 'tiny setup'],
      ['SmolLM2 ft', 'again'],
      ['Gemma ft', 'gemma setup'],
    ]);
    expect(Object.entries(r.contrasts!)).toEqual([
      ['tiny-base: code', 1],
      ['SmolLM2 ft: sentiment', 5],
      ['SmolLM2 ft: refusal', 6],
      ['Gemma ft: sentiment', 3],
    ]);
    expect(r.carried).toEqual(['tiny', 'gemma3-ft']);
  });

  test('nothing is carried from a run with other parameters, or when every pair ran', () => {
    const other: R = { ...recorded, params: { pairs: ['gemma3-ft'], steps: 500 }, rows: [{ pair: 'Gemma ft', nmse: 0.3 }] };
    expect(carryPairs(other, recorded, ORDER)).toBe(other);
    const all: R = { ...recorded, params: { pairs: ['tiny', 'smollm2-ft'], steps: 2000 } };
    expect(carryPairs(all, recorded, ORDER)).toBe(all);
    expect(carryPairs(all, undefined, ORDER)).toBe(all);
  });
});

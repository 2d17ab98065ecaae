/**
 * The behaviours of the steering and neuron experiments: a contrast of prompts that defines a steering vector (the
 * difference of mean residuals), evaluation prompts, and the token sets whose logit difference measures the
 * behaviour.
 *
 * - `tiny` (byte-level, trained on English prose): code against prose. The vector points from English sentences
 *   to lines of TypeScript; its effect is the logit difference of code punctuation bytes against common letters
 *   after neutral documentation fragments.
 * - `smollm2`: sentiment. The vector points from negative to positive reviews; its effect is the logit difference
 *   of positive against negative adjectives (single tokens of SmolLM2's vocabulary) after neutral prompts.
 */
import type { ProbeTokenizer } from './probe';
import type { LogitContrast } from './tools';

export interface Behaviour {
  name: string;
  positive: string[];
  negative: string[];
  evaluation: string[];
  /** Token strings of the contrast, each of which must encode to exactly one id. */
  up: string[];
  down: string[];
}

const CODE_VS_PROSE: Behaviour = {
  name: 'code vs prose',
  positive: [
    'const x = f(a, b);',
    'if (n > 0) { return n * 2; }',
    'for (let i = 0; i < n; i++) {',
    'function add(a, b) { return a + b; }',
    'export const y = [1, 2, 3];',
    'while (x !== null) x = x.next;',
    "import { a } from './b';",
    'let s = list.map((v) => v + 1);',
  ],
  negative: [
    'The river runs slowly past the old mill.',
    'She walked home after the long meeting.',
    'Many people enjoy reading in the evening.',
    'The weather was mild and the sky was clear.',
    'He wrote a letter to his friend last week.',
    'Children played in the park until dusk.',
    'The book describes a journey across the sea.',
    'We talked about the plans for the summer.',
  ],
  evaluation: [
    'The result of the ',
    'In this section we ',
    'You can use the ',
    'Note that the ',
    'This package provides ',
    'To install it, ',
    'The value is ',
    'See the docs for ',
  ],
  up: ['{', '}', '(', ')', ';', '=', '[', ']'],
  down: ['e', 't', 'a', 'o', 'i', 'n', 's', 'h'],
};

const SENTIMENT: Behaviour = {
  name: 'sentiment',
  positive: [
    'I loved this movie, it was wonderful.',
    'What a fantastic day, everything went great.',
    'The food was delicious and the staff were lovely.',
    'I am so happy with this purchase.',
    'This is the best book I have read all year.',
    'The concert was amazing and joyful.',
    'Our holiday was perfect and relaxing.',
    'She was thrilled with the excellent results.',
  ],
  negative: [
    'I hated this movie, it was awful.',
    'What a terrible day, everything went wrong.',
    'The food was disgusting and the staff were rude.',
    'I am so disappointed with this purchase.',
    'This is the worst book I have read all year.',
    'The concert was boring and miserable.',
    'Our holiday was a disaster and stressful.',
    'She was upset with the poor results.',
  ],
  evaluation: [
    'I went to the new restaurant yesterday and it was',
    'The movie I watched last night was',
    'My experience with this product has been',
    'The weather today is',
    'Overall, the trip was',
    'The meeting this morning was',
    'Honestly, the service was',
    'I think the new album is',
  ],
  up: [' good', ' great', ' wonderful', ' excellent', ' amazing', ' happy', ' fantastic', ' perfect'],
  down: [' bad', ' terrible', ' awful', ' horrible', ' disappointing', ' sad', ' boring', ' poor'],
};

/** The behaviour steered in a pair's models: code against prose for the byte-level tiny models, else sentiment. */
export function behaviour(pair: string): Behaviour {
  return pair === 'tiny' ? CODE_VS_PROSE : SENTIMENT;
}

/** The prompts as ids and the contrast as single token ids (strings that are not one token are dropped). */
export function encodeBehaviour(b: Behaviour, tok: ProbeTokenizer): {
  positive: Uint32Array[];
  negative: Uint32Array[];
  evaluation: Uint32Array[];
  contrast: LogitContrast;
  contrastTokens: { up: string[]; down: string[] };
} {
  const enc = (s: string) => Uint32Array.from(tok.encode(s));
  const single = (list: string[]) => list.filter((s) => tok.encode(s).length === 1);
  const up = single(b.up);
  const down = single(b.down);
  if (up.length === 0 || down.length === 0) throw new Error(`${b.name}: no contrast token encodes to a single id`);
  return {
    positive: b.positive.map(enc),
    negative: b.negative.map(enc),
    evaluation: b.evaluation.map(enc),
    contrast: { positive: up.map((s) => tok.encode(s)[0]), negative: down.map((s) => tok.encode(s)[0]) },
    contrastTokens: { up, down },
  };
}

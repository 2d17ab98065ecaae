/** `encodeBehaviour`'s contrast tokens: single ids, found past the special tokens a tokenizer adds (Gemma's BOS). */
import { behaviours, encodeBehaviour } from '../src/behaviours';
import type { ProbeTokenizer } from '../src/probe';

/** A word-level tokenizer: each space-led word one id, multi-word strings several; `bos` prepended when set. */
function wordTokenizer(bos: boolean): ProbeTokenizer {
  const vocab = new Map<string, number>();
  return {
    encode(text: string) {
      const words = text.match(/ ?[^ ]+/g) ?? [];
      const ids = words.map((w) => {
        if (!vocab.has(w)) vocab.set(w, vocab.size + 10);
        return vocab.get(w)!;
      });
      return bos ? [2, ...ids] : ids;
    },
  };
}

describe('encodeBehaviour', () => {
  const sentiment = behaviours('smollm2').find((b) => b.name === 'sentiment')!;

  test('a tokenizer that adds a BOS gives the same contrast as one that does not', () => {
    const plain = encodeBehaviour(sentiment, wordTokenizer(false));
    const withBos = encodeBehaviour(sentiment, wordTokenizer(true));
    expect(withBos.contrastTokens).toEqual(plain.contrastTokens);
    expect(withBos.contrast).toEqual(plain.contrast);
    expect(withBos.contrast.positive.length).toBeGreaterThan(0);
    expect(withBos.contrast.positive).not.toContain(2);
  });

  test('strings of several tokens are dropped, and none left is an error naming the behaviour', () => {
    const tok: ProbeTokenizer = { encode: (t: string) => [2, ...Array.from(t, (c) => c.charCodeAt(0))] };
    expect(() => encodeBehaviour(sentiment, tok)).toThrow(/sentiment: no contrast token encodes to a single id/);
  });
});

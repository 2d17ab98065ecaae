import native = require('../src/native');

// The addon's self-test hooks raise a real Rust panic inside the boundary guard; the process must survive it.
test('a panic on the calling thread throws INTERNAL_PANIC instead of aborting Node', () => {
  let code: unknown;
  try {
    native.__panicSelfTestSync();
  } catch (e) {
    code = (e as { code?: unknown }).code;
  }
  expect(code).toBe('INTERNAL_PANIC');
});

test('a panic on the thread pool rejects with INTERNAL_PANIC', async () => {
  await expect(native.__panicSelfTest()).rejects.toMatchObject({ code: 'INTERNAL_PANIC' });
  // The addon still works afterwards.
  expect(native.solveAssignmentSync(new Float32Array([1, 0, 0, 1]), 2, 2).objective).toBe(2);
});

/**
 * Puts a secret on the clipboard without ever rendering it. The secret is fetched inside
 * the ClipboardItem promise so the write keeps the click's user activation while the
 * reveal request is in flight; browsers without promise-valued ClipboardItem fall back
 * to writeText after the fetch.
 */
export async function copyFetchedText(fetchText: () => Promise<string>): Promise<void> {
  // Set from inside the promise chain, so a holder object keeps TypeScript from narrowing it away.
  const failed: { error?: Error } = {};
  const text = fetchText().catch((error: unknown) => {
    failed.error = error instanceof Error ? error : new Error(String(error));
    throw failed.error;
  });
  if (typeof ClipboardItem !== 'undefined' && navigator.clipboard?.write) {
    try {
      const blob = text.then((value) => new Blob([value], { type: 'text/plain' }));
      await navigator.clipboard.write([new ClipboardItem({ 'text/plain': blob })]);
      return;
    } catch (error) {
      if (failed.error) throw failed.error;
      // Fall through to writeText: some contexts refuse promise-valued items.
      void error;
    }
  }
  await navigator.clipboard.writeText(await text);
}

export async function copyText(text: string): Promise<void> {
  await navigator.clipboard.writeText(text);
}

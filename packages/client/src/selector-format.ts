/** "a=b,c=d" from {a: 'b', c: 'd'}; strings pass through (the API's selector syntax). */
export function formatSelector(sel: string | Record<string, string> | undefined): string | undefined {
  if (sel === undefined || typeof sel === 'string') return sel;
  return Object.entries(sel)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

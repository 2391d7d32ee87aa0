// HTML building with escaping by default: every interpolated value is escaped unless it is already built HTML.

/** A piece of HTML that is safe to insert as is (built by `markup`). */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** Escapes text for HTML content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );
}

function piece(v: unknown): string {
  if (v instanceof Html) return v.value;
  if (Array.isArray(v)) return v.map(piece).join('');
  if (v === null || v === undefined || v === false) return '';
  return escapeHtml(String(v));
}

/**
 * Tagged template: markup`<td>${symbol}</td>` escapes `symbol`; arrays are joined; null/undefined/false vanish.
 * (Not named `html`, so that Prettier leaves the templates' whitespace alone.)
 */
export function markup(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += piece(v) + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

/** Trusted markup (only for constants of this module's callers, never for data). */
export function raw(text: string): Html {
  return new Html(text);
}

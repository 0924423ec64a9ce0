import { Marked } from "marked";

const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ENTITIES[c]);

// Workbooks are shared and imported, so their text is untrusted: raw HTML is shown as text and
// only web, mail and in-app links survive (no javascript: or data: URLs).
const SAFE_LINK = /^(?:https?:|mailto:|\/(?!\/)|#)/i;
const SAFE_IMAGE = /^https:/i;

const markdown = new Marked({
  gfm: true,
  async: false,
  renderer: {
    html({ text }) {
      return escapeHtml(text);
    },
    link({ href, title, tokens }) {
      const inner = this.parser.parseInline(tokens);
      if (!SAFE_LINK.test(href.trim())) return inner;
      const external = /^(?:https?:|mailto:)/i.test(href.trim());
      const titleAttr = title ? ` title="${escapeHtml(title)}"` : "";
      const target = external ? ' target="_blank" rel="noopener noreferrer"' : "";
      return `<a href="${escapeHtml(href.trim())}"${titleAttr}${target}>${inner}</a>`;
    },
    image({ href, title, text }) {
      if (!SAFE_IMAGE.test(href.trim())) return escapeHtml(text);
      const titleAttr = title ? ` title="${escapeHtml(title)}"` : "";
      return `<img src="${escapeHtml(href.trim())}" alt="${escapeHtml(text)}"${titleAttr} loading="lazy">`;
    },
  },
});

/** Markdown as HTML that is safe to insert: raw HTML escaped, links and images restricted. */
export function renderMarkdown(text: string): string {
  return markdown.parse(text, { async: false });
}

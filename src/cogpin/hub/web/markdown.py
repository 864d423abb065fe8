"""A small, safe Markdown → HTML renderer for the README tab (pure; no dependency).

Covers what model READMEs use: ATX headings, paragraphs, fenced and indented code, bullet and numbered
lists, block quotes, horizontal rules, and inline `code`, **bold**, *italic*, [links](url) and
![images](url). Every piece of text is HTML-escaped first and raw HTML is shown as text, so a README
cannot inject markup or script; links keep only http(s), mailto and relative targets.
"""

from __future__ import annotations

import html
import re

__all__ = ["render"]

_SAFE_URL = re.compile(r"^(https?://|mailto:|/|\./|\.\./|#|[A-Za-z0-9_.-]+(/|$))")
_INLINE = re.compile(
    r"(?P<code>`+)(?P<codetext>.+?)(?P=code)"
    r"|!\[(?P<alt>[^\]]*)\]\((?P<src>[^)\s]+)\)"
    r"|\[(?P<text>[^\]]+)\]\((?P<href>[^)\s]+)\)"
    r"|\*\*(?P<bold>.+?)\*\*|__(?P<bold2>.+?)__"
    r"|\*(?P<em>[^*\s][^*]*?)\*|(?<![A-Za-z0-9])_(?P<em2>[^_\s][^_]*?)_(?![A-Za-z0-9])"
)


def _url(raw: str) -> str | None:
    url = html.unescape(raw)
    return html.escape(url, quote=True) if _SAFE_URL.match(url) else None


def _inline(text: str) -> str:
    """Inline markup of one (unescaped) line run."""
    out: list[str] = []
    pos = 0
    for m in _INLINE.finditer(text):
        out.append(html.escape(text[pos : m.start()], quote=False))
        pos = m.end()
        if m.group("code"):
            out.append(f"<code>{html.escape(m.group('codetext').strip(), quote=False)}</code>")
        elif m.group("src") is not None:
            src = _url(m.group("src"))
            alt = html.escape(m.group("alt"), quote=True)
            out.append(f'<img src="{src}" alt="{alt}">' if src else alt)
        elif m.group("href") is not None:
            href = _url(m.group("href"))
            inner = _inline(m.group("text"))
            out.append(f'<a href="{href}" rel="nofollow noopener">{inner}</a>' if href else inner)
        elif m.group("bold") or m.group("bold2"):
            out.append(f"<strong>{_inline(m.group('bold') or m.group('bold2'))}</strong>")
        else:
            out.append(f"<em>{_inline(m.group('em') or m.group('em2'))}</em>")
    out.append(html.escape(text[pos:], quote=False))
    return "".join(out)


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^\s{0,3}[-*+]\s+(.*)$")
_NUMBER = re.compile(r"^\s{0,3}\d{1,9}[.)]\s+(.*)$")
_RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})\s*([\w+-]*)")


def render(text: str) -> str:
    """HTML for a README (headings are shifted down one level: the page has its own h1/h2)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    para: list[str] = []
    i = 0

    def flush() -> None:
        if para:
            out.append(f"<p>{_inline(' '.join(s.strip() for s in para))}</p>")
            para.clear()

    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            flush()
            mark, lang = fence.group(1), fence.group(2)
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(mark):
                body.append(lines[i])
                i += 1
            cls = f' class="language-{html.escape(lang)}"' if lang else ""
            out.append(f"<pre><code{cls}>{html.escape(chr(10).join(body), quote=False)}</code></pre>")
            i += 1
            continue
        if not line.strip():
            flush()
            i += 1
            continue
        if line.startswith("    ") and not para:
            body = []
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                body.append(lines[i][4:])
                i += 1
            out.append(f"<pre><code>{html.escape(chr(10).join(body).rstrip(), quote=False)}</code></pre>")
            continue
        heading = _HEADING.match(line)
        if heading:
            flush()
            level = min(len(heading.group(1)) + 2, 6)
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
            i += 1
            continue
        if _RULE.match(line):
            flush()
            out.append("<hr>")
            i += 1
            continue
        if line.lstrip().startswith(">"):
            flush()
            quoted: list[str] = []
            while i < len(lines) and lines[i].lstrip().startswith(">"):
                quoted.append(lines[i].lstrip()[1:].removeprefix(" "))
                i += 1
            out.append(f"<blockquote>{render(chr(10).join(quoted))}</blockquote>")
            continue
        for pattern, tag in ((_BULLET, "ul"), (_NUMBER, "ol")):
            if pattern.match(line):
                flush()
                items: list[str] = []
                while i < len(lines) and (m := pattern.match(lines[i])):
                    item = [m.group(1)]
                    i += 1
                    while i < len(lines) and lines[i].startswith("  ") and lines[i].strip():
                        item.append(lines[i].strip())
                        i += 1
                    items.append(f"<li>{_inline(' '.join(item))}</li>")
                out.append(f"<{tag}>{''.join(items)}</{tag}>")
                break
        else:
            para.append(line)
            i += 1
    flush()
    return "\n".join(out)

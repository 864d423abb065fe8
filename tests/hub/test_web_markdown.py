"""The README tab renders an image's README (label run.cogpin.readme) as safe Markdown: no raw HTML, no
script URLs."""

from __future__ import annotations

from cogpin.hub.web.markdown import render


def test_markdown_blocks() -> None:
    md = "# Title\n\nSome *text* and **bold**.\nSame paragraph.\n\n- one\n- two `x`\n\n1. first\n2. second\n\n```python\nprint('<hi>')\n```\n\n> quoted\n\n---\n"
    assert render(md) == (
        "<h3>Title</h3>\n"
        "<p>Some <em>text</em> and <strong>bold</strong>. Same paragraph.</p>\n"
        "<ul><li>one</li><li>two <code>x</code></li></ul>\n"
        "<ol><li>first</li><li>second</li></ol>\n"
        "<pre><code class=\"language-python\">print('&lt;hi&gt;')</code></pre>\n"
        "<blockquote><p>quoted</p></blockquote>\n"
        "<hr>"
    )


def test_markdown_links_and_images_keep_only_safe_targets() -> None:
    out = render("[ok](https://e.org/a) [rel](docs/x.md) [bad](javascript:alert) ![i](https://e.org/i.png)")
    assert '<a href="https://e.org/a" rel="nofollow noopener">ok</a>' in out
    assert '<a href="docs/x.md" rel="nofollow noopener">rel</a>' in out
    assert "javascript" not in out and "bad" in out
    assert '<img src="https://e.org/i.png" alt="i">' in out


def test_markdown_shows_raw_html_as_text() -> None:
    out = render('<script>alert(1)</script>\n\n<img src=x onerror="alert(1)">')
    assert "<script" not in out and "<img" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out

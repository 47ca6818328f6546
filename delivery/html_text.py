"""The text part of an HTML e-mail, derived from the HTML when the author wrote none.

Mail clients that do not show HTML (and spam filters, which distrust HTML-only mail)
read the ``text/plain`` alternative. It keeps what a reader needs: the words, the
paragraphs and the links (as ``text (url)``), and drops what only a browser uses
(styles, scripts, the head, tracking pixels).
"""

import re
from html.parser import HTMLParser

#: Elements that start a new line of text.
_BLOCKS = frozenset(
    {"p", "div", "br", "tr", "table", "ul", "ol", "li", "section", "article", "header",
     "footer", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "pre"}
)  # fmt: skip
#: Elements whose content is not text for a reader. (Not ``head``: an unclosed one
#: would hide the whole message; what it holds is in these.)
_HIDDEN = frozenset({"style", "script", "title", "template"})
#: Table cells: kept apart on their line ("Total 10.00", not "Total10.00").
_CELLS = frozenset({"td", "th"})
_PARAGRAPHS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote"})


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0
        self.links: list[str | None] = []
        self.link_text: list[list[str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag in _BLOCKS:
            self.parts.append("\n\n" if tag in _PARAGRAPHS else "\n")
            if tag == "li":
                self.parts.append("- ")
            elif tag == "hr":
                self.parts.append("----\n")
        elif tag in _CELLS:
            self.parts.append(" ")
        elif tag == "a":
            self.links.append(dict(attrs).get("href"))
            self.link_text.append([])
        elif tag == "img":
            alt = (dict(attrs).get("alt") or "").strip()
            if alt:
                self._write(alt)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _PARAGRAPHS:
            self.parts.append("\n\n")
        elif tag == "a" and self.links:
            href, text = self.links.pop(), "".join(self.link_text.pop()).strip()
            if href and href.startswith(("http://", "https://", "mailto:")) and href != text:
                self._write(f" ({href.removeprefix('mailto:')})")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self._write(re.sub(r"\s+", " ", data))

    def _write(self, text: str) -> None:
        self.parts.append(text)
        for collected in self.link_text:
            collected.append(text)


def html_to_text(html: str) -> str:
    """Readable plain text for ``html``: paragraphs kept, links spelled out."""
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    text = "".join(collector.parts)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()

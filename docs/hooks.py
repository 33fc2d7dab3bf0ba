"""MkDocs hook: the option reference pages are generated from the option declarations in the code
(``entitune.cli.reference``) each time the site is built, so they cannot drift from the flags."""
from __future__ import annotations

GENERATED = {"reference/cli.md": "cli", "reference/config.md": "config"}


def on_page_markdown(markdown: str, page, config, files) -> str:
    kind = GENERATED.get(page.file.src_uri)
    if kind is None:
        return markdown
    from entitune.cli.reference import markdown as reference

    return markdown.rstrip() + "\n\n" + reference(kind)

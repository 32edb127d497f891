"""Text for PDF core fonts (Latin-1), shared by every document a node issues."""

from __future__ import annotations

import unicodedata


def latin1_safe(text: str) -> str:
    """Text that the PDF core fonts can print: accents dropped where that keeps the letter,
    other characters replaced by their Unicode name so nothing disappears silently."""
    out: list[str] = []
    for char in text:
        try:
            char.encode("latin-1")
            out.append(char)
            continue
        except UnicodeEncodeError:
            pass
        decomposed = unicodedata.normalize("NFKD", char)
        base = "".join(c for c in decomposed if not unicodedata.combining(c))
        try:
            base.encode("latin-1")
            if base:
                out.append(base)
                continue
        except UnicodeEncodeError:
            pass
        replacements = {
            "\u0141": "L",
            "\u0142": "l",
            "\u0110": "D",
            "\u0111": "d",
            "\u0152": "OE",
            "\u0153": "oe",
            "\u0131": "i",
            "\u2013": "-",
            "\u2014": "-",
            "\u2018": "'",
            "\u2019": "'",
            "\u201c": '"',
            "\u201d": '"',
            "\u2026": "...",
            "\u00a0": " ",
        }
        if char in replacements:
            out.append(replacements[char])
        else:
            out.append(f"[{unicodedata.name(char, f'U+{ord(char):04X}')}]")
    return "".join(out)

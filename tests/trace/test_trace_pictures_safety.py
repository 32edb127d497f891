"""The trace graph goes into the page inline: whatever a label holds must stay text, and the
SVG keeps only what a drawing needs (issue 11, point 2, for the trace page)."""

from __future__ import annotations

import pytest

from trailguard.trace.pictures import PictureUnavailable, sanitise_svg

PLANTED = """<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
     width="200pt" height="100pt" viewBox="0 0 200 100" onload="alert(1)">
 <script>alert(2)</script>
 <g id="graph0" class="graph" transform="scale(1)" style="x">
  <title>G</title>
  <a xlink:href="javascript:alert(3)"><text x="1" y="2">link</text></a>
  <foreignObject><div>html</div></foreignObject>
  <text x="5" y="6" font-size="14" onclick="alert(4)">&lt;script&gt;alert(5)&lt;/script&gt;</text>
  <polygon points="0,0 1,1" fill="none" stroke="black"/>
 </g>
</svg>"""


def test_only_drawing_elements_and_attributes_are_kept() -> None:
    out = sanitise_svg(PLANTED)
    for gone in ("<script", "onload", "onclick", "javascript:", "foreignObject", "<a ",
                 "style=", "alert(2)", "alert(3)", "xlink"):  # fmt: skip
        assert gone not in out, gone
    assert "&lt;script&gt;alert(5)&lt;/script&gt;" in out  # a label stays escaped text
    assert '<polygon points="0,0 1,1" fill="none" stroke="black"' in out
    assert 'viewBox="0 0 200 100"' in out and out.startswith("<svg")


def test_not_svg_is_refused() -> None:
    with pytest.raises(PictureUnavailable):
        sanitise_svg("<svg><g>")
    with pytest.raises(PictureUnavailable):
        sanitise_svg("<html><body/></html>")

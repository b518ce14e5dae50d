"""The one patch this project makes to reportlab, applied when printing.renderers.pdf
is imported.

Upstream: reportlab 5.1, src/reportlab/pdfbase/ttfonts.py, makeToUnicodeCMap() writes
each destination as "<%04X>" of the code point, so a character beyond U+FFFF (CJK
Extension B names such as 𠮷 and 𡒄) comes out as five hex digits. The PDF
specification (ISO 32000-1, 9.10.3) wants UTF-16BE there, i.e. a surrogate pair, and
PDF readers misread the five digits: copying or extracting such a name gives garbage,
although it prints correctly. Checked by
tests/printing/test_renderers.py::test_pdf_card_is_id1_size_with_scannable_qr_and_extractable_text.
Drop this module when reportlab writes UTF-16BE itself (that test then passes without it).
"""

from reportlab.pdfbase import ttfonts

_upstream = ttfonts.makeToUnicodeCMap


def _to_unicode_cmap(fontname: str, subset: list[int]) -> str:
    cmap = _upstream(fontname, subset)
    for code in subset:
        if code > 0xFFFF:
            utf16 = chr(code).encode("utf-16-be").hex().upper()
            cmap = cmap.replace(f"> <{code:04X}>", f"> <{utf16}>")
    return cmap


ttfonts.makeToUnicodeCMap = _to_unicode_cmap

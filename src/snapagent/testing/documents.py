"""Documents for tests, built in code (no binary fixtures in the repository).

data = make_pdf([["First page line"], ["Second page"]], title="Guide")
"""

from __future__ import annotations

__all__ = ["make_pdf"]


def make_pdf(pages: list[list[str]], title: str | None = None) -> bytes:
    """A minimal, valid PDF with Helvetica text lines on each page (ASCII text only)."""
    objects: dict[int, str] = {
        1: "<< /Type /Catalog /Pages 2 0 R >>",
        3: "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }
    kids: list[int] = []
    number = 4
    for lines in pages:
        shown = " ".join(f"({line}) Tj T*" for line in lines)
        stream = f"BT /F1 12 Tf 14 TL 72 720 Td {shown} ET"
        objects[number] = f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream"
        objects[number + 1] = (
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Contents {number} 0 R /Resources << /Font << /F1 3 0 R >> >> >>"
        )
        kids.append(number + 1)
        number += 2
    objects[2] = (
        f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>"
    )
    info = ""
    if title:
        objects[number] = f"<< /Title ({title}) >>"
        info = f" /Info {number} 0 R"
    out = b"%PDF-1.4\n"
    offsets: dict[int, int] = {}
    for key in sorted(objects):
        offsets[key] = len(out)
        out += f"{key} 0 obj\n{objects[key]}\nendobj\n".encode("latin-1")
    size = max(objects) + 1
    xref = len(out)
    out += f"xref\n0 {size}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offsets[i]:010d} 00000 n \n".encode() for i in range(1, size))
    out += f"trailer\n<< /Size {size} /Root 1 0 R{info} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out

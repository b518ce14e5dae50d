"""QR codes for the browser as SVG: crisp at any size, a few kilobytes, no script.

The symbol comes from printing.renderers.qr_matrix (the one QR encoder of the
platform: error correction M, a 4-module quiet zone), drawn as one path of horizontal
runs of dark modules on a white square.
"""

import base64

from printing.renderers import qr_matrix


def svg(text: str) -> bytes:
    matrix = qr_matrix(text)
    n = len(matrix)
    runs = []
    for y, row in enumerate(matrix):
        x = 0
        while x < n:
            if row[x]:
                start = x
                while x < n and row[x]:
                    x += 1
                runs.append(f"M{start} {y}h{x - start}v1h-{x - start}z")
            else:
                x += 1
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {n} {n}" '
        f'shape-rendering="crispEdges"><rect width="{n}" height="{n}" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(runs)}"/></svg>'
    ).encode()


def data_uri(text: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg(text)).decode()

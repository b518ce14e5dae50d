"""Line breaking shared by the raster and PDF text drawers."""


class LineBreaking:
    """Each drawer measures text with its own `length(text, size)`."""

    def length(self, text: str, size: float) -> float:
        raise NotImplementedError

    def wrap(self, text: str, size: float, width: float) -> list[str]:
        """Break `text` into lines no wider than `width`, between any two CJK characters
        and at spaces in Latin text."""
        lines, line = [], ""
        for word in _breakable(text):
            candidate = line + word
            if line and self.length(candidate.rstrip(), size) > width:
                lines.append(line.rstrip())
                line = word.lstrip()
            else:
                line = candidate
        if line.strip():
            lines.append(line.rstrip())
        return lines


def _breakable(text: str) -> list[str]:
    pieces, word = [], ""
    for char in text:
        if ord(char) >= 0x2E80:  # CJK: a break is allowed on either side
            if word:
                pieces.append(word)
                word = ""
            pieces.append(char)
        elif char == " ":
            pieces.append(word + " ")
            word = ""
        else:
            word += char
    if word:
        pieces.append(word)
    return pieces

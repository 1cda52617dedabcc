"""How people's names are compared: without case or Vietnamese diacritics.

Bank statements print remitters upper-case without diacritics ("NGUYEN VAN
AN"), donors type their names either way: `fold` maps both to one form, so a
search for "nguyen van an" finds "Nguyễn Văn An".
"""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    if text.isascii():  # most bank remitters: no diacritics to strip, and decomposing costs more than the rest
        return " ".join(text.casefold().split())
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())

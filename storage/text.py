"""Text folding for comparisons that people expect to ignore case and diacritics."""

import unicodedata


def fold(value: str) -> str:
    """Lower-case, without diacritics and extra spaces: 'Hôm  Nay' and 'hom nay' compare equal."""
    decomposed = unicodedata.normalize("NFD", value.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.lower().split())

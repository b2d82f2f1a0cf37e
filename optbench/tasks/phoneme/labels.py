"""The 41 phoneme classes and the explicit table from eSpeak NG's English mnemonics to them.

Classes follow the libriphone convention: 39 ARPAbet phonemes with AH split into stressed AH and reduced
AX, plus silence. Every mnemonic eSpeak emits for the English voices is listed here; an unlisted one is a
:class:`MappingError` (never silently dropped or guessed), because a quiet mislabel would corrupt a corpus.
"""

from __future__ import annotations

from optbench.errors import OptbenchError

CLASSES: tuple[str, ...] = (
    "sil", "AA", "AE", "AH", "AO", "AW", "AX", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH",
    "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH", "UW", "V",
    "W", "Y", "Z", "ZH",
)
N_CLASSES = len(CLASSES)
CLASS_INDEX: dict[str, int] = {name: i for i, name in enumerate(CLASSES)}

# eSpeak NG 1.52 English mnemonics (stress marks stripped) -> class. Accent-specific vowels map to the
# nearest General American class; pauses of every length are silence.
ESPEAK_TO_CLASS: dict[str, str] = {
    # pauses
    "_": "sil", "_:": "sil", "_!": "sil", "_^_": "sil", "_|": "sil", "||": "sil", "_!_": "sil", "__": "sil",
    # vowels
    "a": "AE", "aa": "AE", "a#": "AX", "A:": "AA", "A@": "AA", "A": "AA", "0": "AA", "0#": "AA",
    "@": "AX", "@-": "AX", "@2": "AX", "@5": "AX", "@#": "AX", "3": "ER", "3:": "ER", "3:r": "ER", "@r": "ER",
    "V": "AH", "aI": "AY", "aI@": "AY", "aI3": "AY", "aU": "AW", "aU@": "AW", "e": "EH", "E": "EH",
    "E2": "EH", "E3": "EH", "e@": "EH", "eI": "EY", "i": "IY", "i:": "IY", "i@": "IY", "i@3": "IY",
    "I": "IH", "I#": "IH", "I2": "IH", "I2#": "IH", "O": "AO", "O:": "AO", "O@": "AO", "o@": "AO", "O2": "AO",
    "OI": "OY", "oU": "OW", "oU#": "OW", "o": "OW", "o:": "OW", "u": "UW", "u:": "UW", "U": "UH", "U@": "UH",
    "@L": "L", "aI2": "AY", "eI#": "EY", "IR": "IH", "VR": "AH", "3r": "ER", "a2": "AE",
    # consonants
    "p": "P", "b": "B", "t": "T", "d": "D", "k": "K", "g": "G", "f": "F", "v": "V", "T": "TH", "D": "DH",
    "s": "S", "z": "Z", "S": "SH", "Z": "ZH", "h": "HH", "m": "M", "n": "N", "N": "NG", "l": "L", "r": "R",
    "w": "W", "j": "Y", "tS": "CH", "dZ": "JH", "t#": "T", "d#": "D", "t2": "T", "d2": "D", "n-": "N",
    "m-": "M", "l/": "L", "l/2": "L", "r-": "R", "*": "R", "?": "T", "x": "HH", "w#": "W", "z/": "Z",
    "s2": "S", "k2": "K", "g2": "G", "n2": "N", "nj": "N", "t[": "T", "d[": "D",
}
# Events that mark a modification of the neighbouring phoneme (';' = palatalised) rather than a segment
# of their own: they are dropped, so the previous phoneme's span continues through them.
MODIFIERS: frozenset[str] = frozenset({";"})
_STRESS_MARKS = "',%=!"


class MappingError(OptbenchError):
    """eSpeak emitted a phoneme mnemonic that the class table does not list."""


def class_of(mnemonic: str, context: str = "") -> int:
    """The class index of an eSpeak mnemonic (stress marks stripped); unknown ones raise MappingError."""
    key = mnemonic if mnemonic in ESPEAK_TO_CLASS else mnemonic.lstrip(_STRESS_MARKS)
    try:
        return CLASS_INDEX[ESPEAK_TO_CLASS[key]]
    except KeyError:
        where = f" ({context})" if context else ""
        raise MappingError(f"eSpeak phoneme {mnemonic!r}{where} has no entry in the 41-class table "
                           "optbench.tasks.phoneme.labels.ESPEAK_TO_CLASS; add it there") from None

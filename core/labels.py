"""The one label scheme every data set is mapped to.

Codes follow FER2013's order (0-6) so FER2013 labels need no remapping; contempt, which only CK+
has, is appended as 7. Reports use the names, never the codes.
"""

CLASS_NAMES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "contempt")
CODE = {name: code for code, name in enumerate(CLASS_NAMES)}

ANGRY, DISGUST, FEAR, HAPPY, SAD, SURPRISE, NEUTRAL, CONTEMPT = range(8)


def names(codes) -> list[str]:
    """Class names for a sequence of canonical codes."""
    return [CLASS_NAMES[int(c)] for c in codes]

"""Drawing predictions onto an image: a box per face, coloured by its label, with the label, its
probability and (optionally) a track id above it. Pure OpenCV on an RGB copy; the input is untouched."""

from __future__ import annotations

import cv2
import numpy as np

from core.labels import CLASS_NAMES

#: one colour (RGB) per class, the same in every picture, video and the web page
COLOURS = {
    "angry": (220, 50, 47),
    "disgust": (133, 153, 0),
    "fear": (108, 113, 196),
    "happy": (255, 191, 0),
    "sad": (38, 139, 210),
    "surprise": (211, 54, 130),
    "neutral": (147, 161, 161),
    "contempt": (203, 75, 22),
}
assert set(COLOURS) == set(CLASS_NAMES)


def draw(rgb: np.ndarray, faces, track_ids=None) -> np.ndarray:
    """A copy of the (H, W, 3) uint8 RGB image with every classified face (`pipeline.Face`) drawn:
    its box and "label 93%" (with "#<id>" first when `track_ids` gives one per face)."""
    out = np.ascontiguousarray(rgb).copy()
    scale = max(out.shape[:2]) / 800  # lines and text grow with the picture
    thickness = max(1, round(2 * scale))
    for i, face in enumerate(faces):
        x, y, w, h = (int(round(v)) for v in face.box)
        colour = COLOURS.get(face.label, (255, 255, 255))
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, thickness)
        text = f"{face.label} {100 * float(np.max(face.probabilities)):.0f}%"
        if track_ids is not None:
            text = f"#{track_ids[i]} {text}"
        font_scale = max(0.4, 0.6 * scale)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        top = max(0, y - th - base - 4)
        cv2.rectangle(out, (x, top), (x + tw + 4, top + th + base + 4), colour, -1)
        cv2.putText(
            out, text, (x + 2, top + th + 2), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), thickness, cv2.LINE_AA
        )
    return out

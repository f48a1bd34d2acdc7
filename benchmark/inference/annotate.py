"""Drawing predictions onto an image: a box per face, coloured by its label, with its number (or track
id), its label and that label's score above it. Pure OpenCV on an RGB copy; the input is untouched.

The text reads as the web page lists the faces: "1: happy 93%" for the first face of the JSON and of
the page ("Face 1"), or "#4 happy 93%" for track 4 of a video; a model whose scores are not calibrated
probabilities (`FaceModel.calibrated` False: a softmax of an SVM's decision values) gets "1: disgust
score 0.65", never a percentage.
"""

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


def score_text(score: float, calibrated: bool = True) -> str:
    """A label's score as shown: a probability in [0, 1] as "93%", an uncalibrated score as "score 0.65"."""
    return f"{100 * float(score):.0f}%" if calibrated else f"score {float(score):.2f}"


def label_text(face, number: int | None = None, track_id=None, calibrated: bool = True) -> str:
    """The text above a face (`pipeline.Face`, classified): "<number>: " or "#<track id> " first when given,
    then its label and the score of that label (`score_text`)."""
    scores = np.asarray(face.probabilities, dtype=np.float64)
    text = f"{face.label} {score_text(scores.max(), calibrated)}"
    if track_id is not None:
        return f"#{track_id} {text}"
    return text if number is None else f"{number}: {text}"


def draw(rgb: np.ndarray, faces, track_ids=None, calibrated: bool = True) -> np.ndarray:
    """A copy of the (H, W, 3) uint8 RGB image with every classified face (`pipeline.Face`) drawn: its box
    and `label_text`, numbered 1, 2, ... in the order given (the order of the JSON and the page's
    "Face 1", "Face 2"), or, when `track_ids` gives one per face (a video), "#<id>" instead.
    calibrated: False for a model whose scores are not probabilities (`FaceModel.calibrated`)."""
    out = np.ascontiguousarray(rgb).copy()
    scale = max(out.shape[:2]) / 800  # lines and text grow with the picture
    thickness = max(1, round(2 * scale))
    font_scale = max(0.4, 0.6 * scale)
    for i, face in enumerate(faces):
        x, y, w, h = (int(round(v)) for v in face.box)
        colour = COLOURS.get(face.label, (255, 255, 255))
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, thickness)
        track = None if track_ids is None else track_ids[i]
        text = label_text(face, number=i + 1, track_id=track, calibrated=calibrated)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        top = max(0, y - th - base - 4)
        cv2.rectangle(out, (x, top), (x + tw + 4, top + th + base + 4), colour, -1)
        cv2.putText(
            out, text, (x + 2, top + th + 2), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), thickness, cv2.LINE_AA
        )
    return out

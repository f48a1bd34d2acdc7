"""The face stage: from a data set's images to one stack of face crops that every method reads.

A detector is built from `conf/detector/<name>.yaml` and called on a `Dataset`; it returns the
data set with `images` replaced by an (N, S, S) uint8 stack of face crops, and a report (JSON
values only: detection rate, images affected, parameters, cache use) that goes into the run record.
Data sets whose images are already face crops (FER2013, CK+48) use `detector=none`.

- `NoDetector` (none.py): stack (and optionally resize) ready-made crops; `WholeImage`, the same for
  the applications: each photo one crop, classified whole.
- `HaarDetector` (haar.py), `MTCNNDetector` (mtcnn_detector.py): find the face and its eyes; the
  shared `FaceDetector` (base.py) aligns, crops (geometry.py), preprocesses (preprocess.py), applies
  the no-face policy, caches the detections (cache.py) and writes the report.
- search.py: where and at which scale the applications look for the faces of a photo of any size
  and aspect ratio (`min_face`, tiles, de-duplication).
"""

from benchmark.faces.base import FaceDetector
from benchmark.faces.haar import HaarDetector
from benchmark.faces.mtcnn_detector import MTCNNDetector
from benchmark.faces.none import NoDetector

#: the detectors a face stage names (a model's, predict's detector=...), by conf/detector/<name>.yaml's name
DETECTORS = {"haar": HaarDetector, "mtcnn": MTCNNDetector}

__all__ = ["DETECTORS", "FaceDetector", "HaarDetector", "MTCNNDetector", "NoDetector"]

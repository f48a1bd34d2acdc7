"""Applying trained models to users' photos, videos and cameras.

`models` loads any model ferbench writes (a CNN checkpoint, an ONNX export, a saved classical
pipeline, or the model a run record names; by default the shipped model) together with the face
stage it was trained with; `pipeline.FacePipeline` finds every face in an image, crops each one as
the model's training crops were cut, and classifies them in one batch. `video` does the same for
video files and cameras in real time, following each face with an id (detection every few frames,
an IoU tracker in between). `explain` says what a model looks at (Grad-CAM, occlusion and LIME heat
maps, pasted back onto the photo); `annotate` draws the results. The command lines are
`python -m benchmark.predict` and `python -m benchmark.serve`. Nothing is imported here, so each
module pays only for the heavy libraries (torch, captum, lime) it uses.
"""

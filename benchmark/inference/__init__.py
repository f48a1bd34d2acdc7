"""Applying trained models to users' photos, videos and cameras: finding the faces, cutting the crops
a model was trained on, predicting their expressions and showing what the model looked at
(`explain`: Grad-CAM, occlusion and LIME heat maps, pasted back onto the photo). Nothing is
imported here, so each module pays only for the heavy libraries (torch, captum, lime) it uses.
"""

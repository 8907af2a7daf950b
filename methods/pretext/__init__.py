"""The machinery shared by the self-supervised pretext methods (AnatPaste, CutPaste): batched
paste geometry, the classifier network, and the trainer and scorer."""

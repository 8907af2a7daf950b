"""uadbench: an open benchmark for unsupervised anomaly detection in chest radiographs.

The public API is what a plugin author needs: ``Method`` and its ``RunContext`` and ``ImageSet``,
and ``Dataset``. See ``uadbench.method`` and ``uadbench.dataset`` for the contracts.
"""

from uadbench.dataset import Dataset
from uadbench.method import ImageSet, LabelledImages, Method, RunContext

__all__ = ["Dataset", "ImageSet", "LabelledImages", "Method", "RunContext"]
__version__ = "0.1.0"

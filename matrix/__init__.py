"""tf-compat-matrix: does a model saved here load and predict the same there?"""

__version__ = "0.1.0"

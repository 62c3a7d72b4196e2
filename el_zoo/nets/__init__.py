"""The model families. Importing this package registers every model in the registry
(``import el_zoo`` does): each family module imports the registry, never the reverse.

A family module (``resnet``) holds each model's registration: its name, family, Elastic-Link
defaults, tags and documentation. It imports no TensorFlow: its builders import the family's
layers (``_resnet``) when a model is built, so listing models (``el-zoo list``) stays fast.
"""

# Registered in this order, the families appear so in the tables benchmarks generate.
from el_zoo.nets import resnet  # noqa: F401  (first)
from el_zoo.nets import mobilenet, reactnet  # noqa: F401

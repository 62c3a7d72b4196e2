"""The model families. Importing this package registers every model in the registry."""

from el_zoo.nets import mobilenet, reactnet, resnet  # noqa: F401

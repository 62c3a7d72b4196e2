"""The README's fine-tuning example: a published backbone, a new 2-class head, a frozen
backbone, one short epoch on a 2-class CIFAR-10 subset."""

import numpy as np

import el_zoo
from el_zoo import data
from el_zoo._keras import keras


def two_class_subset(data_dir, split, per_class):
    images, labels, classes = data.load_split("cifar10", split, data_dir=data_dir,
                                              limit=10 * per_class)
    keep = np.isin(labels, [classes.index("airplane"), classes.index("frog")])
    return images[keep].astype("float32"), (labels[keep] == classes.index("frog")).astype("int32")


def test_fine_tuning_a_published_backbone_on_two_classes_beats_chance(data_dir):
    x_train, y_train = two_class_subset(data_dir, "train", 300)
    x_test, y_test = two_class_subset(data_dir, "test", 200)

    keras.utils.set_random_seed(0)  # the new head's initial weights and the batch order
    # the README example, verbatim in spirit
    backbone = el_zoo.load("resnet26_el.cifar10", include_top=False, pooling="avg")
    backbone.trainable = False
    inputs = keras.Input((32, 32, 3))
    outputs = keras.layers.Dense(2, activation="softmax")(backbone(inputs, training=False))
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", ["accuracy"])
    frozen = [w.numpy().copy() for w in backbone.weights]
    model.fit(x_train, y_train, batch_size=32, epochs=1, verbose=0)

    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.75, accuracy  # chance is 0.5
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(frozen, backbone.weights))
    assert len(model.trainable_weights) == 2  # the new head only

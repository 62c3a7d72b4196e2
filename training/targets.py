"""The zoo's targets (issues #5, #23 and #24), in one place: model cards (``training.cards``) and reports
read them from here, so changing a target is one edit here and ``python -m training.publish
--regenerate``.

A target is judged on the published models: TOP1 on the best Elastic-Link model of a weight
tag (its evaluation split), EL_GAIN on a published pair of a family with and without EL
trained under the same recipe, width, epochs and seed (on the mean over seeds where
``reports/el_vs_plain`` pooled several).
"""

# top-1 (a fraction) the best EL model of each weight tag should reach
TOP1 = {"cifar10": 0.88, "imagenette": 0.90}  # issue #23 raised imagenette from 0.80

# EL minus plain top-1 (a fraction: 0.03 is 3 points) per family, under the same budget
EL_GAIN = {"resnet26": 0.03, "resnet26s": 0.03, "mobilenet_v1": 0.03}

"""Elastic-Link folded for deployment: the same function with as few TFLite ops as the
algebra allows.

``fold_elastic_links(model)`` returns a new Keras model with the same outputs (up to float
rounding) in which every Elastic-Link is merged into its neighbours; ``el_zoo.convert``
applies it before conversion. The rewrites, each exact in real arithmetic:

- A link before BN: ``BN(conv + g * T(x)) = BN(conv) + (s * g) * T(x)`` with
  ``s = bn_gamma / sqrt(var + eps)``, so the BN folds into LceBconv2d's output transform
  (a per-channel multiply and add), as it does without the link.
- A sum's terms merge: a link and a shortcut of the same tensor through the same pooling
  become one term ``(1 + c) * T(x)`` (ReActNet, Bi-Real ResNet); a link whose ``T`` pools
  the same tensor as a 1x1 shortcut conv becomes part of that conv's kernel; a tensor is
  pooled once per stride, however many links and shortcuts pool it.
- Per-channel scales move into neighbouring affine ops instead of costing a multiply.
  Every tensor ``t`` is computed as ``t~ = t / p`` with a pending per-channel scale ``p``
  that its consumers absorb: BN, conv and dense weights; ``sign`` (``sign(p * t~) =
  sign(t~)`` for ``p > 0``; for ``p < 0`` the binary conv's weights of that input channel
  flip, exact only where the conv does not pad, so a 3x3 conv padded with +1 needs
  ``p > 0``); RSign thresholds (``alpha / p``, flipping as ``sign``); RPReLU shifts
  (``p > 0``); average pooling, tiling and concatenation commute with it; a group mean
  only where ``p`` is equal across each group. A sum ``z = F + a_1 * T_1(x_1) + ...`` is
  computed with the ``p_z`` that leaves the fewest multiplies: ``p_z = a_k`` frees term
  ``k``, and ``F`` (a BN after a conv, or a conv) absorbs ``1 / p_z`` for free.
- Terms are summed by ADDs, one fewer than the terms: one ADD_N would be one op fewer,
  but LCE's interpreter runs an ADD_N of three tensors several times slower than two
  ADDs (measured on x86: 56x56x256 and 8x8x512 tensors).

A multiply stays only where no choice of scales removes it (e.g. a link beside an
identity shortcut whose ``T`` tiles channels, or scales of mixed signs in front of a
padded 3x3 conv). Layers the rewrite does not know are kept as they are, with their
inputs' pending scales applied first, so the result is always equivalent, only less folded.
"""

import larq as lq
import numpy as np
import tensorflow as tf

from el_zoo._keras import keras, weight_name
from el_zoo.model_record import copy_record
from el_zoo.layers import (
    ElasticLink,
    PooledShortcut,
    RPReLU,
    RSign,
    channel_factors,
    channel_sources,
)

# A pending scale is never divided by a value closer to zero than this (the term it
# would free is then multiplied instead).
MIN_SCALE = 1e-6
# Scales within this relative distance of 1 count as 1 (float64 rounding of exact ratios).
_ONE_TOLERANCE = 1e-9


@lq.utils.register_keras_custom_object
class ChannelAffine(keras.layers.Layer):
    """``x * scale (+ bias)`` per channel, with constant ``scale`` and optional ``bias``.

    A layer of folded deployment models (``fold_elastic_links``): after a convolution,
    Larq Compute Engine and TFLite fuse it into the convolution's output transform;
    elsewhere it is one MUL (and ADD).

    Arguments:
        scale: one factor per channel.
        bias: None, or one offset per channel.

    Example:
        ```python
        y = ChannelAffine(scale=[0.5, 2.0], bias=[0.0, 1.0])(x)  # x has 2 channels
        ```
    """

    def __init__(self, scale, bias=None, **kwargs):
        super().__init__(**kwargs)
        self.scale_values = [float(v) for v in np.ravel(scale)]
        self.bias_values = None if bias is None else [float(v) for v in np.ravel(bias)]

    def build(self, input_shape):
        def constant(name, values):
            return self.add_weight(name=name, shape=(len(values),), trainable=False,
                                   initializer=keras.initializers.Constant(values))

        self.scale = constant("scale", self.scale_values)
        self.bias = None if self.bias_values is None else constant("bias", self.bias_values)
        super().build(input_shape)

    def call(self, inputs):
        outputs = inputs * self.scale
        return outputs if self.bias is None else outputs + self.bias

    def get_config(self):
        return {**super().get_config(), "scale": self.scale_values, "bias": self.bias_values}


def fold_elastic_links(model):
    """The deployment form of a model with Elastic-Links: same weights, same outputs.

    Returns ``model`` itself when it has no ``ElasticLink``, also in no model it calls as
    a layer (a backbone under a new head); otherwise a new functional model in which the
    links, at any depth, are folded into their neighbours (see the module docstring
    for the algebra). Its outputs equal the original's up to float rounding; LCE
    conversion of it needs fewer ops.

    Arguments:
        model: a functional Keras model (e.g. ``el_zoo.load("mobilenet_v1_el.cifar10")``).

    Example:
        ```python
        model = el_zoo.load("resnet18_el.cifar10")
        deployed = fold_elastic_links(model)  # converts to the same ops as resnet18
        ```
    """
    if not isinstance(model, keras.Model) or not hasattr(model, "_nodes_by_depth"):
        raise TypeError(
            f"fold_elastic_links takes a functional Keras model (keras.Model built from "
            f"keras.Input); got {type(model).__name__}."
        )
    folded = _fold_nested_models(model)
    if any(isinstance(layer, ElasticLink) for layer in folded.layers):
        folded = _Folder(folded).run()
    return copy_record(model, folded)  # the same outputs: its origin and names still hold


def _holds_links(layer):
    """Whether ``layer`` is a functional model with an ``ElasticLink`` at any depth."""
    return hasattr(layer, "_nodes_by_depth") and any(
        isinstance(inner, ElasticLink) or _holds_links(inner) for inner in layer.layers)


def _fold_nested_models(model):
    """``model`` with every model it calls as a layer folded (a backbone under a new head,
    README: Fine-tuning), its other layers shared; ``model`` itself when none holds a link.

    Why: the folder rewrites the links among ``model``'s own layers only; without this a
    fine-tuned model would convert with its links as trained, about twice the flat model's
    ops (docs/reliability.md)."""
    if not any(_holds_links(layer) for layer in model.layers):
        return model
    return keras.models.clone_model(
        model, clone_function=lambda layer: fold_elastic_links(layer) if _holds_links(layer)
        else layer)  # fold_elastic_links keeps each backbone's record (published weights)


def _through_channels(pending, channels_out):
    """q with T(p * x) = q * T(x) for T = match_channels to ``channels_out`` (pooling
    commutes with p), or None where p differs inside an averaged group."""
    values = pending[channel_sources(len(pending), channels_out)]
    if np.all(values == values[:, :1]):
        return values[:, 0]
    return None


def _is_one(values):
    return bool(np.all(np.abs(np.asarray(values) - 1.0) <= _ONE_TOLERANCE))


def _usable_scale(values):
    values = np.asarray(values)
    return bool(np.all(np.isfinite(values)) and np.all(np.abs(values) >= MIN_SCALE))


class _Need:
    """What the consumers of a tensor accept as its pending scale p."""

    def __init__(self, positive=False, plus_minus_one=False, one=False, groups=()):
        self.positive, self.plus_minus_one, self.one = positive, plus_minus_one, one
        self.groups = frozenset(groups)  # (channels_in, channels_out) of group means

    def union(self, other):
        return _Need(self.positive or other.positive,
                     self.plus_minus_one or other.plus_minus_one,
                     self.one or other.one, self.groups | other.groups)

    def accepts_signs(self):
        """Whether a vector of +-1 with some -1 is accepted."""
        return not (self.positive or self.one or self.groups)

    def ok(self, pending):
        if self.one and not _is_one(pending):
            return False
        if self.plus_minus_one and not _is_one(np.abs(pending)):
            return False
        if self.positive and not np.all(pending > 0):
            return False
        return all(_through_channels(pending, out) is not None for _, out in self.groups)


class _Tensor:
    """A tensor of the folded graph; the original tensor is ``pending * tensor`` per
    channel. ``from_conv``: produced by a conv or dense layer (an affine op after it fuses)."""

    def __init__(self, tensor, pending=None, *, name, from_conv=False):
        self.tensor, self.name, self.from_conv = tensor, name, from_conv
        channels = int(tensor.shape[-1])
        self.pending = np.ones(channels) if pending is None else np.asarray(pending, np.float64)
        self.plain = None  # cached tensor with the pending scale applied


class _Affine:
    """``scale * base + bias`` per channel; ``base`` a folded tensor without pending scale.
    ``fusable``: base is a conv output used only here, so the affine op costs nothing."""

    def __init__(self, base, scale, bias, *, name, fusable):
        self.base, self.name, self.fusable = base, name, fusable
        self.scale = np.asarray(scale, np.float64)
        self.bias = np.asarray(bias, np.float64) * np.ones_like(self.scale)

    def scaled(self, factor, name=None):
        return _Affine(self.base, self.scale * factor, self.bias * factor,
                       name=name or self.name, fusable=self.fusable)

    def shifted(self, offset):
        return _Affine(self.base, self.scale, self.bias + offset, name=self.name,
                       fusable=self.fusable)

    def cost(self, pending):
        """Ops its build costs when the sum is computed with ``pending``."""
        free = self.fusable or (_is_one(self.scale / pending) and not np.any(self.bias))
        return 0 if free else 1


class _PooledConv:
    """A 1x1 conv of ``pool(source~)`` (kernel (C_in, C_out) on the folded source, bias):
    a downsampling shortcut, which can take in links that pool the same tensor."""

    def __init__(self, source, stride, kernel, bias, *, name):
        self.source, self.stride, self.name = source, stride, name
        self.kernel, self.bias = np.asarray(kernel, np.float64), np.asarray(bias, np.float64)

    def scaled(self, factor, name=None):
        return _PooledConv(self.source, self.stride, self.kernel * factor, self.bias * factor,
                           name=self.name)

    def shifted(self, offset):
        return _PooledConv(self.source, self.stride, self.kernel, self.bias + offset,
                           name=self.name)

    def takes(self, link):
        return link.source is self.source and link.stride == self.stride

    def plus(self, link):
        """This conv with ``coef * T(pool(source))`` added into its kernel."""
        kernel = self.kernel.copy()
        sources = channel_sources(self.kernel.shape[0], link.channels_out)
        weight = link.coef[:, None] * self.source.pending[sources] / sources.shape[1]
        for j in range(sources.shape[0]):
            np.add.at(kernel[:, j], sources[j], weight[j])
        return _PooledConv(self.source, self.stride, kernel, self.bias, name=self.name)

    def cost(self, pending):
        return 0


class _Link:
    """``coef * T(source)`` with T = average pool by ``stride``, then channels matched to
    ``channels_out`` (``match_channels``); coef per output channel."""

    def __init__(self, source, stride, channels_out, coef):
        self.source, self.stride, self.channels_out = source, int(stride), int(channels_out)
        self.coef = np.asarray(coef, np.float64) * np.ones(self.channels_out)

    @property
    def key(self):
        return id(self.source), self.stride, self.channels_out

    def scaled(self, factor):
        return _Link(self.source, self.stride, self.channels_out, self.coef * factor)


class _Sum:
    """A sum not yet built: free terms (affine ops that absorb any scale) and links."""

    def __init__(self, free=(), links=()):
        self.free = list(free)
        self.links = {}
        for link in links:
            if link.key in self.links:
                link = _Link(link.source, link.stride, link.channels_out,
                             link.coef + self.links[link.key].coef)
            self.links[link.key] = link

    def plus(self, other):
        return _Sum(self.free + other.free, [*self.links.values(), *other.links.values()])

    def scaled(self, factor, name):
        return _Sum([term.scaled(factor, name) for term in self.free],
                    [link.scaled(factor) for link in self.links.values()])

    def shifted(self, offset):
        return _Sum([self.free[0].shifted(offset), *self.free[1:]], self.links.values())


def _bn_affine(layer):
    """(scale, offset) of a BatchNormalization layer in inference mode."""
    weights = dict(zip([weight_name(w) for w in layer.weights], layer.get_weights()))
    variance = weights["moving_variance"].astype(np.float64)
    gamma = weights.get("gamma", np.ones_like(variance)).astype(np.float64)
    beta = weights.get("beta", np.zeros_like(variance)).astype(np.float64)
    scale = gamma / np.sqrt(variance + layer.epsilon)
    return scale, beta - scale * weights["moving_mean"]


def _flip_safe(layer):
    """Whether flipping the binary weights of an input channel negates its contribution
    exactly: the kernel is binarized by sign and nothing but zeros is padded in."""
    quantizer = getattr(layer, "kernel_quantizer", None) or getattr(
        layer, "depthwise_quantizer", None)
    unpadded = (layer.padding == "valid" or all(k == 1 for k in layer.kernel_size)
                or layer.pad_values == 0)
    return isinstance(quantizer, lq.quantizers.SteSign) and unpadded


_SIMPLE_KINDS = {
    keras.layers.Add: "add", PooledShortcut: "pooled_shortcut", RSign: "rsign",
    RPReLU: "rprelu", keras.layers.Dense: "dense", keras.layers.GlobalAveragePooling2D: "pass",
    keras.layers.MaxPooling2D: "positive_pass", keras.layers.GlobalMaxPooling2D: "positive_pass",
}


def _kind(layer):
    """The folder's rule for a layer ('opaque': kept as it is)."""
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        return "opaque"
    if isinstance(layer, (lq.layers.QuantConv2D, lq.layers.QuantDepthwiseConv2D)):
        quantizer = layer.input_quantizer
        plain = quantizer is None or isinstance(quantizer, lq.quantizers.SteSign)
        ungrouped = getattr(layer, "groups", 1) == 1  # weights flip by input channel
        return "binary_conv" if plain and ungrouped else "opaque"
    if isinstance(layer, ElasticLink):
        linkable = layer.conv is None and not layer.activation_scaling
        return "link" if linkable else "opaque"
    if type(layer) is keras.layers.BatchNormalization:
        plain = (list(layer.axis) in ([-1], [3]) and not layer.renorm
                 and layer.virtual_batch_size is None and layer.adjustment is None)
        return "bn" if plain else "opaque"
    if type(layer) is keras.layers.Conv2D:
        plain = layer.groups == 1 and layer.activation is keras.activations.linear
        return "conv" if plain else "opaque"
    if type(layer) is keras.layers.AveragePooling2D:
        size, strides = tuple(layer.pool_size), tuple(layer.strides)
        plain = layer.padding == "same" and size == strides and size[0] == size[1]
        return "pool" if plain else "opaque"
    if type(layer) is keras.layers.Concatenate:
        return "concat" if layer.axis in (-1, 3) else "opaque"
    return _SIMPLE_KINDS.get(type(layer), "opaque")


class _Folder:
    """Rebuilds a functional model node by node, folding as it goes."""

    def __init__(self, model):
        self.model = model
        self.values = {}  # id of an original tensor -> _Tensor or _Sum
        self.producers = {}  # id of an original tensor -> name of the layer making it
        self.consumers = {}  # id of an original tensor -> [(node, flat input index)]
        self.needs = {}
        self.taken = {layer.name for layer in model.layers}
        self.new_names = set()
        self.transformed = {}  # (id of a folded tensor, stride, channels) -> T(tensor)
        self.output_ids = {str(id(t)) for t in model.outputs}
        self.nodes = [node for depth in sorted(model._nodes_by_depth, reverse=True)
                      for node in model._nodes_by_depth[depth]]
        for node in self.nodes:
            for index, input_id in enumerate(node.flat_input_ids):
                self.consumers.setdefault(input_id, []).append((node, index))

    # ---- driving ---------------------------------------------------------------------

    def run(self):
        inputs = []
        for tensor in self.model.inputs:
            layer = tensor._keras_history.layer
            new = keras.Input(batch_shape=tensor.shape, dtype=tensor.dtype, name=layer.name)
            self.new_names.add(layer.name)
            self.values[str(id(tensor))] = _Tensor(new, name=layer.name)
            inputs.append(new)
        for node in self.nodes:
            if not node.is_input:
                self._fold_node(node)
        outputs = [self._plain(self._tensor(str(id(t)))).tensor for t in self.model.outputs]
        return keras.Model(inputs, outputs, name=self.model.name)

    def _fold_node(self, node):
        layer = node.layer
        kind = _kind(layer) if len(layer.inbound_nodes) == 1 else "opaque"
        value = None if kind == "opaque" else getattr(self, f"_fold_{kind}")(node)
        if value is None:
            return self._fold_opaque(node)
        output_id = node.flat_output_ids[0]
        self.producers[output_id] = layer.name
        self.values[output_id] = value

    def _single_use(self, tensor_id):
        return len(self.consumers.get(tensor_id, ())) == 1 and tensor_id not in self.output_ids

    def _name(self, base, own=False):
        """A layer name for the folded model: ``base`` itself for the layer that replaces
        the original layer ``base`` (own), else a fresh one."""
        if own and base not in self.new_names:
            self.new_names.add(base)
            return base
        index = 1
        while f"{base}_fold{index}" in self.taken | self.new_names:
            index += 1
        self.new_names.add(f"{base}_fold{index}")
        return f"{base}_fold{index}"

    # ---- what consumers accept ------------------------------------------------------

    def _need(self, tensor_id):
        if tensor_id not in self.needs:
            need = _Need(one=tensor_id in self.output_ids)
            for node, index in self.consumers.get(tensor_id, ()):
                need = need.union(self._consumer_need(node, index))
            self.needs[tensor_id] = need
        return self.needs[tensor_id]

    def _consumer_need(self, node, index):
        layer = node.layer
        kind = _kind(layer) if len(layer.inbound_nodes) == 1 else "opaque"
        output_need = (lambda: self._need(node.flat_output_ids[0]))
        if kind in ("bn", "add", "pool", "conv", "dense"):
            return _Need()
        if kind == "link":
            if index == 0 and channel_factors(layer.channels_in, layer.channels_out)[1] > 1:
                return _Need(groups=[(layer.channels_in, layer.channels_out)])
            return _Need()
        if kind == "pooled_shortcut":
            channels_in = int(node.keras_inputs[0].shape[-1])
            if channel_factors(channels_in, layer.filters)[1] > 1:
                return _Need(groups=[(channels_in, layer.filters)])
            return _Need()
        if kind == "binary_conv":
            if layer.input_quantizer is None:
                return _Need(plus_minus_one=True) if _flip_safe(layer) else _Need(one=True)
            return _Need() if _flip_safe(layer) else _Need(positive=True)
        if kind == "rsign":
            return _Need() if output_need().accepts_signs() else _Need(positive=True)
        if kind in ("rprelu", "positive_pass"):
            return _Need(positive=True).union(output_need())
        if kind == "pass":
            return output_need()
        if kind == "concat":
            need = output_need()
            return _Need(one=True) if need.groups else need
        return _Need(one=True)

    # ---- values ---------------------------------------------------------------------

    def _tensor(self, tensor_id):
        """The folded tensor (with its pending scale) of an original tensor."""
        value = self.values[tensor_id]
        if isinstance(value, _Sum):
            value = self._build_sum(value, self._need(tensor_id), self.producers[tensor_id])
            self.values[tensor_id] = value
        return value

    def _sum_of(self, tensor_id):
        """An original tensor as a term of a sum that its one consumer is making."""
        value = self.values[tensor_id]
        single = self._single_use(tensor_id)
        if isinstance(value, _Sum) and single:
            return value
        tensor = self._tensor(tensor_id)
        if single and tensor.from_conv:
            return _Sum([_Affine(tensor.tensor, tensor.pending, 0.0, name=tensor.name,
                                 fusable=True)])
        return _Sum(links=[_Link(tensor, 1, tensor.pending.size, 1.0)])

    def _plain(self, tensor):
        """The tensor with its pending scale applied (one multiply, shared)."""
        if _is_one(tensor.pending):
            return tensor
        if tensor.plain is None:
            scaled = ChannelAffine(tensor.pending, name=self._name(f"{tensor.name}_scale"))
            tensor.plain = _Tensor(scaled(tensor.tensor), name=tensor.name)
        return tensor.plain

    # ---- building sums --------------------------------------------------------------

    def _build_sum(self, total, need, name):
        free, links = list(total.free), []
        for link in total.links.values():
            host = next((i for i, term in enumerate(free)
                         if isinstance(term, _PooledConv) and term.takes(link)), None)
            if host is None:
                links.append(link)
            else:
                free[host] = free[host].plus(link)
        terms = []
        for link in links:
            carried = _through_channels(link.source.pending, link.channels_out)
            source = link.source
            if carried is None:  # a group mean of unequal scales: apply them first
                source, carried = self._plain(source), 1.0
            terms.append((source, link.stride, link.channels_out, link.coef * carried))
        pending = self._choose_pending(free, [term[3] for term in terms], need)
        built = [self._build_free(term, pending) for term in free]
        built += [self._build_link(*term[:3], term[3] / pending, name) for term in terms]
        if len(built) == 1:
            return _Tensor(built[0], pending, name=name)
        # keras' Add sums its inputs pairwise: ADD ops, one fewer than the terms
        return _Tensor(keras.layers.Add(name=self._name(name, own=True))(built), pending,
                       name=name)

    def _choose_pending(self, free, coefs, need):
        """The pending scale of a sum that leaves the fewest ops; among equals, one its
        consumers accept (else it costs a multiply after the sum)."""
        candidates = list(coefs) + [np.abs(c) for c in coefs]
        candidates += [t.scale for t in free if isinstance(t, _Affine) and not t.fusable]
        channels = (coefs or [t.bias for t in free])[0].size
        candidates = [c for c in candidates if _usable_scale(c)] + [np.ones(channels)]

        def cost(pending):
            ops = sum(not _is_one(c / pending) for c in coefs)
            ops += sum(term.cost(pending) for term in free)
            rejected = not need.ok(pending)
            return ops + rejected, rejected

        return min(candidates, key=cost)

    def _build_free(self, term, pending):
        if isinstance(term, _PooledConv):
            pooled = self._transform(term.source.tensor, term.stride, term.kernel.shape[0],
                                     term.name)
            conv = keras.layers.Conv2D(term.kernel.shape[1], 1, use_bias=True,
                                       name=self._name(term.name, own=True))
            outputs = conv(pooled)
            conv.set_weights([(term.kernel / pending)[None, None].astype(np.float32),
                              (term.bias / pending).astype(np.float32)])
            return outputs
        scale, bias = term.scale / pending, term.bias / pending
        if _is_one(scale) and not np.any(bias):
            return term.base
        affine = ChannelAffine(scale, bias if np.any(bias) else None,
                               name=self._name(term.name, own=True))
        return affine(term.base)

    def _build_link(self, source, stride, channels_out, coef, name):
        outputs = self._transform(source.tensor, stride, channels_out, name)
        if _is_one(coef):
            return outputs
        return ChannelAffine(coef, name=self._name(f"{name}_scale"))(outputs)

    def _transform(self, tensor, stride, channels_out, name):
        """T(tensor): pooled once per stride, channels matched once per width (shared)."""
        channels_in = int(tensor.shape[-1])
        pooled = tensor
        if stride > 1:
            pooled = self._shared(tensor, stride, channels_in, name, tensor)
        if channels_out == channels_in:
            return pooled
        return self._shared(tensor, stride, channels_out, name, pooled)

    def _shared(self, tensor, stride, channels, name, source):
        key = (id(tensor), stride, channels)
        if key not in self.transformed:
            layer_stride = stride if source is tensor else 1
            layer = PooledShortcut(channels, layer_stride, name=self._name(f"{name}_T"))
            self.transformed[key] = layer(source)
        return self.transformed[key]

    # ---- layer rules ----------------------------------------------------------------

    def _fold_opaque(self, node):
        tensor_dict = {}
        for input_id in node.flat_input_ids:
            tensor = self._plain(self._tensor(input_id)).tensor
            tensor_dict.setdefault(input_id, []).append(tensor)
        args, kwargs = node.map_arguments(tensor_dict)
        outputs = tf.nest.flatten(self._clone(node.layer, node.layer.get_weights(), *args,
                                              **kwargs))
        for output_id, output in zip(node.flat_output_ids, outputs):
            self.producers[output_id] = node.layer.name
            self.values[output_id] = _Tensor(output, name=node.layer.name)

    def _clone(self, layer, weights, *args, **kwargs):
        """A copy of ``layer`` (same name and config, given weights) called on args; the
        layer itself where it cannot be rebuilt from its config."""
        try:
            clone = layer.__class__.from_config(
                {**layer.get_config(), "name": self._name(layer.name, own=True)})
        except (NotImplementedError, TypeError, ValueError):
            return layer(*args, **kwargs)
        outputs = clone(*args, **kwargs)
        clone.set_weights(weights)
        return outputs

    def _fold_bn(self, node):
        (input_id,), layer = node.flat_input_ids, node.layer
        scale, offset = _bn_affine(layer)
        value = self.values[input_id]
        if isinstance(value, _Sum) and self._single_use(input_id) and value.free:
            return value.scaled(scale, layer.name).shifted(offset)
        tensor = self._tensor(input_id)
        fusable = tensor.from_conv and self._single_use(input_id)
        return _Sum([_Affine(tensor.tensor, scale * tensor.pending, offset,
                             name=layer.name, fusable=fusable)])

    def _fold_link(self, node):
        (x_id, y_id), layer = node.flat_input_ids, node.layer
        x = self._tensor(x_id)
        gamma = layer.gamma.numpy().astype(np.float64)
        link = _Link(x, layer.pool_stride, layer.channels_out, gamma)
        return self._sum_of(y_id).plus(_Sum(links=[link]))

    def _fold_add(self, node):
        total = _Sum()
        for input_id in node.flat_input_ids:
            total = total.plus(self._sum_of(input_id))
        return total

    def _fold_pool(self, node):
        tensor = self._tensor(node.flat_input_ids[0])
        stride = node.layer.strides[0]
        return _Sum(links=[_Link(tensor, stride, tensor.pending.size, 1.0)])

    def _fold_pooled_shortcut(self, node):
        tensor = self._tensor(node.flat_input_ids[0])
        return _Sum(links=[_Link(tensor, node.layer.strides, node.layer.filters, 1.0)])

    def _fold_conv(self, node):
        (input_id,), layer = node.flat_input_ids, node.layer
        weights = layer.get_weights()
        kernel = weights[0].astype(np.float64)
        bias = weights[1] if layer.use_bias else np.zeros(kernel.shape[-1])
        value = self.values[input_id]
        pointwise = kernel.shape[:2] == (1, 1) and tuple(layer.strides) == (1, 1) and \
            tuple(layer.dilation_rate) == (1, 1)
        if (pointwise and isinstance(value, _Sum) and self._single_use(input_id)
                and not value.free and len(value.links) == 1):
            (link,) = value.links.values()
            if link.channels_out == link.source.pending.size:  # a pooled tensor
                rows = link.coef * link.source.pending
                return _Sum([_PooledConv(link.source, link.stride, rows[:, None] * kernel[0, 0],
                                         bias, name=layer.name)])
        tensor = self._tensor(input_id)
        weights[0] = (kernel * tensor.pending[None, None, :, None]).astype(np.float32)
        outputs = self._clone(layer, weights, tensor.tensor)
        return _Tensor(outputs, name=layer.name, from_conv=True)

    def _fold_binary_conv(self, node):
        (input_id,), layer = node.flat_input_ids, node.layer
        tensor = self._tensor(input_id)
        pending, flips = tensor.pending, None
        if layer.input_quantizer is None:  # binary input (RSign): scales are +-1
            acceptable = _is_one(np.abs(pending)) and (_flip_safe(layer) or _is_one(pending))
        else:  # sign(p * x) = sign(x) for p > 0; p < 0 flips the channel's weights
            acceptable = _usable_scale(pending) and (_flip_safe(layer) or np.all(pending > 0))
        if acceptable:
            flips = pending < 0
        else:
            tensor = self._plain(tensor)
        weights = layer.get_weights()
        if flips is not None and flips.any():
            kernel = weights[0]
            kernel[:, :, flips] = np.where(kernel[:, :, flips] >= 0, -1.0, 1.0)
        outputs = self._clone(layer, weights, tensor.tensor)
        return _Tensor(outputs, name=layer.name, from_conv=True)

    def _fold_rsign(self, node):
        (input_id,), layer = node.flat_input_ids, node.layer
        tensor = self._tensor(input_id)
        pending = tensor.pending
        signs = np.sign(pending)
        if not (np.all(pending > 0) or (_usable_scale(pending)
                                         and self._need(node.flat_output_ids[0]).ok(signs))):
            tensor = self._plain(tensor)
            pending = signs = tensor.pending
        # sign(p * x - alpha) = sign(p) * sign(x - alpha / p)
        (alpha,) = layer.get_weights()
        outputs = self._clone(layer, [(alpha / pending).astype(np.float32)], tensor.tensor)
        return _Tensor(outputs, signs, name=layer.name)

    def _fold_rprelu(self, node):
        (input_id,), layer = node.flat_input_ids, node.layer
        tensor = self._tensor(input_id)
        if not np.all(tensor.pending > 0):
            tensor = self._plain(tensor)
        # p * RPReLU(x; shift_in / p, slope, shift_out / p) = RPReLU(p * x) for p > 0
        shift_in, slope, shift_out = layer.get_weights()
        pending = tensor.pending
        weights = [(shift_in / pending).astype(np.float32), slope,
                   (shift_out / pending).astype(np.float32)]
        return _Tensor(self._clone(layer, weights, tensor.tensor), pending, name=layer.name)

    def _fold_pass(self, node, positive=False):
        (input_id,), layer = node.flat_input_ids, node.layer
        tensor = self._tensor(input_id)
        if positive and not np.all(tensor.pending > 0):
            tensor = self._plain(tensor)
        outputs = self._clone(layer, layer.get_weights(), tensor.tensor)
        return _Tensor(outputs, tensor.pending, name=layer.name)

    def _fold_positive_pass(self, node):
        return self._fold_pass(node, positive=True)

    def _fold_concat(self, node):
        tensors = [self._tensor(input_id) for input_id in node.flat_input_ids]
        if len(tensors) < 2:
            return None
        outputs = self._clone(node.layer, [], [t.tensor for t in tensors])
        pending = np.concatenate([t.pending for t in tensors])
        return _Tensor(outputs, pending, name=node.layer.name)

    def _fold_dense(self, node):
        (input_id,), layer = node.flat_input_ids, node.layer
        tensor = self._tensor(input_id)
        if len(tensor.tensor.shape) != 2:
            tensor = self._plain(tensor)
        weights = layer.get_weights()
        weights[0] = (weights[0] * tensor.pending[:, None]).astype(np.float32)
        return _Tensor(self._clone(layer, weights, tensor.tensor), name=layer.name,
                       from_conv=True)

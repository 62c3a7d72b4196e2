"""Elastic-Link options: ``ElasticLinkOptions``, the one home of their names, defaults,
allowed values, descriptions and parsing.

No TensorFlow here: the command line checks ``--elastic-link`` and the registry declares each
family's defaults before anything loads TensorFlow.

Each ``_el`` model declares its own defaults when it is registered (``register_model(...,
elastic_link=ElasticLinkOptions(position="after_bn"))``); options a user passes as a dict or
as ``KEY=VALUE`` strings override those defaults. The class's own defaults are the global
ones that every family used before families declared their own, so a record written then,
which kept only the options that differed from them (or none), resolves against them
(``from_record``); records written since keep every option (``as_dict``).
"""

import dataclasses
from collections.abc import Mapping

from el_zoo.arguments import is_number

TRUE_WORDS, FALSE_WORDS = ("true",), ("false",)


def _option(default, description, choices=None):
    return dataclasses.field(default=default,
                             metadata={"description": description, "choices": choices})


@dataclasses.dataclass(frozen=True)
class ElasticLinkOptions:
    """How an ``_el`` model builds the Elastic-Link of each binary convolution.

    The defaults were chosen by ``training/el_ablation.py`` (how, and what longer runs found:
    ``docs/elastic_link.md``).
    Invalid options raise a ValueError naming the option, the value and the allowed ones.

    Arguments:
        gamma: one learnable link scale per output channel, or one for the layer.
        gamma_initializer: gamma's initial value: a number, or a Keras initializer's name.
        activation_scaling: multiply the conv's output by XNOR-Net's activation scale.
        position: add the link to the conv's output before its batch norm, or after it.
        gamma_scale: multiply gamma's initial value by sqrt(fan-in) of the conv, or not.
        convs: which binary convs get a link: all, or only those with a 1x1 or a 3x3 kernel.

    Example:
        ```python
        options = el_zoo.ElasticLinkOptions(position="after_bn")
        model = el_zoo.load("resnet18_el", elastic_link=options)
        el_zoo.ElasticLinkOptions.parse(["gamma_scale=fan_in", "activation_scaling=true"])
        ```
    """

    gamma: str = _option("per_channel", "one learnable link scale per output channel, or "
                         "one for the layer", ("per_channel", "scalar"))
    gamma_initializer: float | str = _option(0.25, "gamma's initial value: a number, or a "
                                             "Keras initializer's name")
    activation_scaling: bool = _option(False, "multiply the conv's output by XNOR-Net's "
                                       "activation scale (true or false)")
    # Before BN, the link is normalised together with the conv's output (see ElasticLink).
    position: str = _option("before_bn", "add the link to the conv's output before its "
                            "batch norm, or after it", ("before_bn", "after_bn"))
    # A sum of fan-in products of +-1 has a standard deviation of about sqrt(fan-in): before
    # BN an unscaled gamma of 0.25 leaves the link small next to the conv's output
    # (reports/el_scale.md).
    gamma_scale: str = _option("none", "multiply gamma's initial value by sqrt(fan-in) of "
                               "the conv, or not", ("none", "fan_in"))
    convs: str = _option("all", "which binary convs get a link: all, or only those with a "
                         "1x1 or a 3x3 kernel", ("all", "1x1", "3x3"))

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            choices = field.metadata["choices"]
            if choices is not None and value not in choices:
                self._refuse(field.name, value, f"use one of {choices}")
        if not isinstance(self.activation_scaling, bool):
            self._refuse("activation_scaling", self.activation_scaling, "use True or False")
        initializer = self.gamma_initializer
        # numpy's numbers too (np.float32(0.5) from an array of candidates)
        if is_number(initializer):
            object.__setattr__(self, "gamma_initializer", float(initializer))  # 1 == 1.0
        elif not isinstance(initializer, str) or not initializer:
            self._refuse("gamma_initializer", initializer,
                         "use a number or a Keras initializer's name (e.g. 'ones')")
        if self.gamma_scale != "none" and isinstance(self.gamma_initializer, str):
            raise ValueError(
                f"Elastic-Link option gamma_scale={self.gamma_scale!r} scales a number; "
                f"gamma_initializer={self.gamma_initializer!r} is not one."
            )

    @staticmethod
    def _refuse(name, value, fix):
        raise ValueError(f"Elastic-Link option {name}={value!r} is not supported; {fix}.")

    @classmethod
    def names(cls):
        """The option names, in order."""
        return tuple(field.name for field in dataclasses.fields(cls))

    @classmethod
    def descriptions(cls):
        """{option name: one-line description} (for ``--help`` and docs)."""
        return {field.name: field.metadata["description"] for field in dataclasses.fields(cls)}

    @classmethod
    def from_mapping(cls, options, base=None):
        """``base`` (default: the global defaults) with the options of the mapping
        ``options`` ({"position": "after_bn"}) replaced; an unknown name is a ValueError."""
        if not isinstance(options, Mapping):
            raise TypeError(f"Elastic-Link options must be a mapping of option names to "
                            f"values; got {options!r}.")
        unknown = [key for key in options if key not in cls.names()]
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not an Elastic-Link option; use one of "
                             f"{', '.join(cls.names())}.")
        return dataclasses.replace(base or cls(), **options)

    @classmethod
    def parse(cls, pairs, base=None, *, option="--elastic-link"):
        """``base`` with options given as ``KEY=VALUE`` strings (``option`` names where they
        come from, for errors): numbers, true/false (any case) and words are typed by the
        option they set."""
        options = {}
        for pair in pairs:
            key, separator, text = pair.partition("=")
            if not separator or not key:
                raise ValueError(f"{option} {pair!r} is not KEY=VALUE (e.g. {option} "
                                 "position=after_bn).")
            if key not in cls.names():
                raise ValueError(f"{option} {key!r} is not an Elastic-Link option; use one "
                                 f"of {', '.join(cls.names())}.")
            options[key] = cls._typed(key, text)
        return cls.from_mapping(options, base)

    @classmethod
    def _typed(cls, key, text):
        default = getattr(cls(), key)
        if isinstance(default, bool):
            word = text.lower()
            if word not in TRUE_WORDS + FALSE_WORDS:
                cls._refuse(key, text, "use true or false")
            return word in TRUE_WORDS
        if isinstance(default, float):
            try:
                return float(text)
            except ValueError:
                return text  # an initializer's name
        return text

    @classmethod
    def from_record(cls, record):
        """The options a record holds: a full ``as_dict()`` (written since families declare
        their own defaults), or, from a record written before, the options that differed
        from the global defaults (a dict, or None/True/{} for none), which then applied."""
        if isinstance(record, cls):
            return record
        if record is None or record is True:
            return cls()
        return cls.from_mapping(record)

    def resolve(self, elastic_link):
        """What a builder's ``elastic_link`` argument asks for, with ``self`` as the model's
        defaults: True -> the defaults, a mapping -> the defaults with those options
        replaced, ElasticLinkOptions -> itself."""
        if elastic_link is True:
            return self
        if isinstance(elastic_link, ElasticLinkOptions):
            return elastic_link
        if isinstance(elastic_link, Mapping):
            return self.from_mapping(elastic_link, base=self)
        raise TypeError(f"elastic_link must be None, True or a dict of Elastic-Link options, "
                        f"or an el_zoo.ElasticLinkOptions; got {elastic_link!r}.")

    def as_dict(self):
        """Every option (what records keep)."""
        return dataclasses.asdict(self)

    def overrides(self, base=None):
        """The options that differ from ``base`` (default: the global defaults), as a dict."""
        base = base or ElasticLinkOptions()
        return {key: value for key, value in self.as_dict().items()
                if getattr(base, key) != value}

    def text(self, base=None):
        """The options that differ from ``base`` as text, sorted ("gamma_initializer=1,
        position=after_bn"); "" when none does."""
        return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in sorted(self.overrides(base).items()))

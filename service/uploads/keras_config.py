"""A .keras file's config.json checked against an allow-list, without importing Keras.

Keras rebuilds a model by resolving every serialised object ({"module", "class_name",
"registered_name", "config"}) to a class and calling it. safe_mode refuses Python lambdas
but still resolves any class of any `keras.*` module, and any object a process has
registered. So every object in the config must be one we know to be harmless:

- layers: built-in `keras.layers` classes on LOADABLE_LAYERS (the layers surgery can
  prune, and other plain built-ins, which a model may contain and which the analysis
  then reports as unsupported). Not Lambda (Python code), not TFSMLayer (loads a
  SavedModel from a server path), no lookup layers (vocabulary files);
- models: Functional and Sequential;
- operation nodes (`keras.ops` calls in a Functional graph, e.g. the `x + 3.0` of
  MobileNetV3): exactly the elementwise classes surgery understands (OPERATION_CLASSES),
  whose config holds nothing but a name;
- helpers from the modules in HELPER_MODULES (initializers, regularizers, constraints,
  optimizers, losses, metrics) and dtype policies;
- built-in functions by plain name (activations, losses): the inspection worker has no
  custom objects registered, so a name resolves to a Keras built-in or fails to load;
- Keras' own data markers (tensors, numpy arrays, slices).

Anything else, custom objects in particular (a registered_name like "pkg>MyLayer", a
module outside Keras), is refused with the layer that holds it named.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from service.surgery.layer_roles import GLOBAL_POOLS, MERGES, PASS_THROUGH, PER_CHANNEL, PRODUCERS
from service.surgery.operation_roles import OPERATION_CLASSES
from service.uploads.errors import UploadRejected

# Layers whose channel behaviour surgery knows (layer_roles.classify) ...
_PRUNABLE_LAYERS = (
    PRODUCERS
    | PER_CHANNEL
    | PASS_THROUGH
    | GLOBAL_POOLS
    | MERGES
    | {"InputLayer", "Activation", "Softmax", "Rescaling", "Normalization", "Concatenate", "Flatten", "Reshape"}
)
# ... and plain built-ins that load safely but cannot be pruned (reported as unsupported).
_OTHER_BUILTIN_LAYERS = frozenset(
    {
        "Conv1D", "Conv3D", "Conv1DTranspose", "Conv3DTranspose", "SeparableConv1D", "DepthwiseConv1D",
        "MaxPooling1D", "MaxPooling3D", "AveragePooling1D", "AveragePooling3D",
        "GlobalAveragePooling1D", "GlobalAveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling3D",
        "ZeroPadding1D", "ZeroPadding3D", "Cropping1D", "Cropping3D", "UpSampling1D", "UpSampling3D",
        "SpatialDropout1D", "SpatialDropout3D", "LayerNormalization", "GroupNormalization",
        "UnitNormalization", "Permute", "RepeatVector", "Dot", "Embedding", "EinsumDense",
        "MultiHeadAttention", "Attention", "AdditiveAttention", "SimpleRNN", "LSTM", "GRU",
        "Bidirectional", "TimeDistributed", "Masking", "Resizing", "CenterCrop",
    }
)  # fmt: skip
LOADABLE_LAYERS = frozenset(_PRUNABLE_LAYERS | _OTHER_BUILTIN_LAYERS)

LAYER_MODULE = "keras.layers"
MODEL_CLASSES = {
    ("keras", "Sequential"),
    ("keras", "Functional"),
    ("keras", "Model"),
    ("keras.models", "Sequential"),
    ("keras.models", "Model"),
    ("keras.src.models.functional", "Functional"),
    ("keras.src.models.sequential", "Sequential"),
    ("keras.src.models.model", "Model"),
}
DTYPE_POLICY_MODULES = {"keras", "keras.dtype_policies"}
HELPER_MODULES = {
    "keras.initializers",
    "keras.regularizers",
    "keras.constraints",
    "keras.optimizers",
    "keras.optimizers.schedules",
    "keras.losses",
    "keras.metrics",
}
# Data markers Keras writes for values; deserialising them runs no user code.
DATA_MARKERS = {"__keras_tensor__", "__tensor__", "__numpy__", "__bytes__", "__ellipsis__", "__slice__"}
OPERATIONS_PACKAGE = "keras.src.ops."
MAX_LAYERS = 10_000  # layers and operation nodes
# Keys under which a config holds layers: a model's list, a wrapper's (Bidirectional) one.
_LAYER_KEYS = {"layers", "layer", "forward_layer", "backward_layer"}

_CUSTOM_HINT = (
    "the service loads no custom objects (Python code would run on the server); rebuild the "
    "model from built-in Keras layers, activations and initializers"
)


def check_model_config(config: Any) -> None:
    """Raise UploadRejected (422) unless every object in `config` is allow-listed."""
    if not isinstance(config, dict) or (config.get("module"), config.get("class_name")) not in MODEL_CLASSES:
        found = config.get("class_name") if isinstance(config, dict) else type(config).__name__
        raise UploadRejected(
            422,
            f"config.json describes a {found!r}, not a Keras Functional or Sequential model; subclassed "
            "models cannot be loaded safely: rebuild it with the Functional API or keras.Sequential",
        )
    layers = 0
    for obj, layer in _objects(config):
        if obj.get("module") == LAYER_MODULE or (obj.get("module"), obj.get("class_name")) in OPERATION_CLASSES:
            layers += 1
            if layers > MAX_LAYERS:
                raise UploadRejected(422, f"the model has more than {MAX_LAYERS:,} layers; the service refuses it")
        problem = _refusal(obj, layer)
        if problem:
            raise UploadRejected(422, problem)


def _objects(config: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str | None]]:
    """Every serialised object in `config`, with the name of the layer it belongs to."""
    stack: list[tuple[Any, str | None, bool]] = [(config, None, False)]
    while stack:
        value, layer, is_layer = stack.pop()
        if isinstance(value, dict):
            if is_layer:
                layer = _name_of(value) or layer
            if "class_name" in value:
                yield value, layer
            for key, child in value.items():
                if key in _LAYER_KEYS and isinstance(child, list):
                    stack.extend((item, layer, True) for item in child)
                else:
                    stack.append((child, layer, key in _LAYER_KEYS))
        elif isinstance(value, list):
            stack.extend((child, layer, False) for child in value)


def _name_of(obj: dict[str, Any]) -> str | None:
    inner = obj.get("config")
    name = obj.get("name") or (inner.get("name") if isinstance(inner, dict) else None)
    return str(name) if name is not None else None


def _refusal(obj: dict[str, Any], layer: str | None) -> str | None:
    """Why `obj` may not be loaded, or None when it is allow-listed."""
    cls, module, registered = obj.get("class_name"), obj.get("module"), obj.get("registered_name")
    where = f" (in layer {layer!r})" if layer else ""
    if not isinstance(cls, str) or not (module is None or isinstance(module, str)):
        return f"config.json has a malformed object{where}: class_name and module must be strings"
    if cls == "__lambda__":
        return (
            f"the model contains Python code serialised as a lambda{where}; Lambda layers cannot be "
            "loaded safely: replace the Lambda with built-in layers"
        )
    if cls in DATA_MARKERS and module is None:
        return None
    if module == "builtins" and cls == "function":
        name = obj.get("config")
        if isinstance(name, str) and name.isidentifier():
            return None  # a built-in function by name (custom functions fail to resolve)
        return f"the model uses the custom function {name!r}{where}; {_CUSTOM_HINT}"
    if registered is not None and registered != cls:
        return f"the model uses the custom object {registered!r} (class {cls}){where}; {_CUSTOM_HINT}"
    if module is None or not (module == "keras" or module.startswith("keras.")):
        return f"the model uses the custom object {cls!r} from module {module!r}{where}; {_CUSTOM_HINT}"
    if module == LAYER_MODULE:
        return _layer_refusal(cls, layer)
    if module.startswith(OPERATIONS_PACKAGE):
        return _operation_refusal(obj, module, cls, layer)
    if (module, cls) in MODEL_CLASSES:
        return None
    if module in DTYPE_POLICY_MODULES and cls.endswith("DTypePolicy") and cls.isidentifier():
        return None
    if module in HELPER_MODULES and cls.isidentifier():
        return None
    return f"the model uses {module}.{cls}{where}, which is not on the service's allow-list of built-in Keras objects"


def _operation_refusal(obj: dict[str, Any], module: str, cls: str, layer: str | None) -> str | None:
    if (module, cls) not in OPERATION_CLASSES:
        known = ", ".join(sorted(name for _, name in OPERATION_CLASSES))
        return (
            f"the model uses the keras.ops operation {module}.{cls} (node {layer!r}), which structural "
            f"pruning does not support; the supported operations are {known}: rewrite the model with "
            "those or with built-in layers"
        )
    config = obj.get("config")
    if not isinstance(config, dict) or set(config) - {"name"}:
        return (
            f"operation node {layer!r} ({module}.{cls}) has a configuration beyond its name; "
            "re-save the model with Keras"
        )
    return None


def _layer_refusal(cls: str, layer: str | None) -> str | None:
    if cls in LOADABLE_LAYERS:
        return None
    if cls == "Lambda":
        return (
            f"layer {layer!r} is a Lambda layer: its Python code cannot be loaded safely; replace it "
            "with built-in layers"
        )
    if cls == "TFSMLayer":
        return (
            f"layer {layer!r} is a TFSMLayer, which loads a TensorFlow SavedModel from a path on the "
            "server; upload the model rebuilt from built-in Keras layers instead"
        )
    return (
        f"layer {layer!r} has class {cls}, which is not on the service's allow-list of built-in Keras "
        "layers; rebuild the model from built-in layers (Conv2D, DepthwiseConv2D, Dense, "
        "BatchNormalization, pooling, activations, Add, Concatenate, ...)"
    )

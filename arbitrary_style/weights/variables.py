"""Fitting arrays to a model's variables: every name and shape checked, then assigned."""

from arbitrary_style.errors import UserError


def check_fits(model, shapes, *, source):
    """Raises UserError unless {variable path: shape} names exactly the model's variables
    with their shapes; names what is missing, extra or misshapen."""
    variables = model.variables
    missing = sorted(set(variables) - set(shapes))
    extra = sorted(set(shapes) - set(variables))
    if missing or extra:
        details = [f"{len(missing)} missing (e.g. {missing[0]!r})"] if missing else []
        details += [f"{len(extra)} unexpected (e.g. {extra[0]!r})"] if extra else []
        raise UserError(f"{source} does not fit a {describe_config(model.config)} model: "
                        + ", ".join(details))
    for path, variable in variables.items():
        if tuple(shapes[path]) != tuple(variable.shape):
            raise UserError(f"{source}: {path!r} has shape {tuple(shapes[path])}, "
                            f"the model expects {tuple(variable.shape)}")


def assign_weights(model, arrays, *, source):
    """Sets every model variable from {path: array}; names what is missing, extra or misshapen."""
    check_fits(model, {path: array.shape for path, array in arrays.items()}, source=source)
    for path, variable in model.variables.items():
        variable.assign(arrays[path])


def describe_config(config):
    """'backbone=... alpha=...', as the error messages name a model."""
    return f"backbone={config.backbone} alpha={config.alpha}"

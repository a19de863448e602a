"""Look up a built-in model by name."""

from collections.abc import Callable

from ._chaos import lorenz
from ._ecology import lotka_volterra
from ._epidemics import seir, sir
from ._kinetics import robertson
from ._model import ODEModel
from ._oscillators import damped_pendulum, fitzhugh_nagumo, van_der_pol

_BUILTIN: dict[str, Callable[[], ODEModel]] = {
    "lotka_volterra": lotka_volterra,
    "lorenz": lorenz,
    "fitzhugh_nagumo": fitzhugh_nagumo,
    "van_der_pol": van_der_pol,
    "damped_pendulum": damped_pendulum,
    "sir": sir,
    "seir": seir,
    "robertson": robertson,
}
BUILTIN_MODELS: tuple[str, ...] = tuple(_BUILTIN)
"""Names of the built-in models, as a config's `model:` and `builtin_model` accept them.

**Example:**

```python
from diffsim import models

for name in models.BUILTIN_MODELS:
    model = models.builtin_model(name)
    print(f"{name:16} states {model.states}, parameters {model.parameters}")
```
"""


def builtin_model(name: str) -> ODEModel:
    """Return the built-in model called `name` (one of `BUILTIN_MODELS`).

    **Arguments:**

    - `name`: a model name, e.g. `"sir"`; configs name models the same way (`model: sir`).

    **Returns:** a new `ODEModel`.

    **Raises:** `ValueError` naming the known models when `name` is not one of them.

    **Example:**

    ```python
    from diffsim import models

    sir = models.builtin_model("sir")
    assert sir.states == ("S", "I", "R") and "sir" in models.BUILTIN_MODELS
    ```
    """
    if name not in _BUILTIN:
        raise ValueError(f"unknown model {name!r}; built-in models are: {', '.join(_BUILTIN)}")
    return _BUILTIN[name]()

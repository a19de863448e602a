"""`RunConfig`: one discriminated union over model kinds (a `model` with an `equation` is a
PDE run, any other an ODE run)."""

from typing import Annotated

from pydantic import Discriminator, Tag, TypeAdapter

from ._pde_schema import PdeRunConfig
from ._schema import OdeRunConfig


def _kind(value) -> str:
    if isinstance(value, PdeRunConfig):
        return "pde"
    if isinstance(value, OdeRunConfig):
        return "ode"
    model = value.get("model") if isinstance(value, dict) else None
    return "pde" if isinstance(model, dict) and "equation" in model else "ode"


RunConfig = Annotated[
    Annotated[OdeRunConfig, Tag("ode")] | Annotated[PdeRunConfig, Tag("pde")],
    Discriminator(_kind),
]
"""A run config: `OdeRunConfig` or `PdeRunConfig` (a `model` with an `equation` is a PDE).

**Example:**

```python
import diffsim

data = {"model": "sir", "observations": {"I": {"sigma": 5.0}}, "data": {"file": "flu.csv"}}
ode = diffsim.config.validate_config(data)
assert isinstance(ode, diffsim.config.OdeRunConfig)  # one of the two kinds of RunConfig
```
"""
RUN_CONFIG = TypeAdapter(RunConfig)

"""PDE inverse problems through the one inverse layer (see tests/test_pde_configs.py)."""

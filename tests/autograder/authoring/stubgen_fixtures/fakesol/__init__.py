"""A fake solutions package for the stub generator's tests."""
